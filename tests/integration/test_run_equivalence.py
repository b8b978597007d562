"""A probe of the full customer environment is the same container as `case run`: the same files with the same
owners and modes, the same env vars and user, though the probe's image leaves env vars and files out and they
are applied at start (reprokit/run/launch.py). Checked from inside real containers, for a named user, a
numeric user and root."""
from __future__ import annotations

import textwrap

import pytest

from reprokit.case.compare import facts_diff
from reprokit.case.reproduce import observe
from reprokit.case.result import Role
from reprokit.contract.load import load_case
from reprokit.run.launch import launch

pytestmark = pytest.mark.integration

# Files at three kinds of places: a new folder under /etc, the home of the user `app`, and the workdir; and a
# case file. Everything under those folders is listed with owner, group and mode, as the step's user sees it.
ENVIRONMENT = """\
os: debian:bookworm
env: {ACME_MODE: strict, ACME_PORT: "8080"}
files:
  /etc/acme/acme.ini: "[server]\\ntimeout = 30\\n"
  /home/app/.config/acme/user.ini: "colour = no\\n"
  /work/settings.ini: "debug = false\\n"
"""
LISTING = ("id; env | grep ^ACME_ | sort; "
           "find /etc/acme /home /work -printf '%p %u:%g %U:%G %m %s %y\\n' 2>&1 | sort; "
           "touch /work/written-by-step 2>&1 && stat -c '%n %U:%G %a' /work/written-by-step")
USERS = {"named": "user: app\n", "numeric": "user: \"1000:1000\"\n", "root": ""}


def write_case(root, user: str) -> None:
    folder = root / "cases" / "EQ-1"
    folder.mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "environments" / "baseline.yaml").write_text("os: debian:bookworm\n")
    (root / "environments" / "customer.yaml").write_text(ENVIRONMENT + user)
    (folder / "repro.sh").write_text("echo from the case\n")
    (folder / "case.yaml").write_text(
        "id: EQ-1\ntitle: what the steps see\nenvironment: customer\nfiles: {repro.sh: {source: repro.sh}}\n"
        "expect: {exit_code: 0}\nsteps:\n  - |\n" + textwrap.indent(LISTING, "    ") + "\n")


@pytest.mark.parametrize("user", list(USERS))
def test_a_probe_of_the_customer_environment_sees_the_container_case_run_sees(user, tmp_path, docker_engine):
    write_case(tmp_path, USERS[user])
    case = load_case("EQ-1", root=tmp_path)

    case_run = observe(case, launch(case.environment), role=Role.ENVIRONMENT, engine=docker_engine)
    probe = observe(case, launch(case.environment, share_image=True), role=Role.PROBE, engine=docker_engine)

    assert case_run.error is None and probe.error is None, (case_run.error, probe.error)
    # Not the same path in disguise: the probe's image has neither the env vars nor the files.
    assert probe.image.tag != case_run.image.tag
    seen, probed = case_run.output().stdout, probe.output().stdout
    assert "/etc/acme/acme.ini root:root 0:0 644" in seen and "/work/repro.sh" in seen, seen
    assert "ACME_MODE=strict" in seen, seen
    assert probed == seen, f"case run:\n{seen}\nprobe:\n{probed}"
    assert facts_diff(case_run.facts, probe.facts) == []
