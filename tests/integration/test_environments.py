"""Environments built for real: what a container of one looks like from the inside, and how builds are reused."""
from __future__ import annotations

import re
import subprocess
import textwrap

import pytest
from conftest import REPROKIT, ROOT

from reprokit.image.build import build
from reprokit.errors import BuildError, SpecError
from reprokit.contract.load import load_environment
from reprokit.run.box import start

# One small environment that exercises every run-time field; it builds once (~1 min) and is cached after.
PROBE = """\
os: debian:bookworm
env: {REPROKIT_PROBE: "hello $HOME \\"quoted\\""}
files:
  /etc/probe/probe.ini: |
    [probe]
    value = 42
user: "1000:1000"
workdir: /srv/probe
timezone: Asia/Kolkata
locale: de_DE.UTF-8
limits: {memory: 256m, pids: 64}
network: none
"""


@pytest.fixture(scope="module")
def probe_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / "environments").mkdir()
    (root / "environments" / "probe.yaml").write_text(PROBE)
    (root / "environments" / "baseline.yaml").write_text((ROOT / "environments" / "baseline.yaml").read_text())
    (root / "environments" / "broken.yaml").write_text("os: debian:bookworm\nsystem_packages: [reprokit-no-such-package]\n")
    (root / "environments" / "wrong.yaml").write_text("extends: baseline\nos: debian:bullseye\npython: '3.11'\n")
    return root


@pytest.fixture(scope="module")
def probe(probe_root, docker_engine):
    spec = load_environment("probe", root=probe_root)
    with start(spec, engine=docker_engine) as box:
        yield box


def test_env_vars_reach_commands_unexpanded(probe):
    result = probe.run("printf '%s' \"$REPROKIT_PROBE\"", timeout=30)
    assert result.stdout == 'hello $HOME "quoted"'


def test_declared_files_are_in_the_image(probe):
    assert probe.run("cat /etc/probe/probe.ini", timeout=30).stdout == "[probe]\nvalue = 42\n"


def test_commands_run_as_the_declared_user_in_the_workdir(probe):
    result = probe.run("id -u; id -g; pwd; touch owned && stat -c %u owned", timeout=30)
    assert result.stdout.split() == ["1000", "1000", "/srv/probe", "1000"]


def test_timezone_is_the_declared_one(probe):
    assert probe.run("date +%Z%z; cat /etc/timezone", timeout=30).stdout.split() == ["IST+0530", "Asia/Kolkata"]


def test_locale_is_generated_and_active(probe):
    result = probe.run("python3 -c \"import locale; print(locale.setlocale(locale.LC_ALL, ''))\"", timeout=30)
    assert result.exit_code == 0 and result.stdout.strip() == "de_DE.UTF-8", result.stderr


def test_facts_read_from_inside_match_the_spec(probe):
    facts = probe.facts()
    assert facts["memory_limit"] == str(256 * 1024 * 1024)
    assert facts["pids_limit"] == "64"
    assert facts["locale"] == "de_DE.UTF-8" and facts["env"]["REPROKIT_PROBE"] == 'hello $HOME "quoted"'
    assert facts["python"].startswith("3.11.") and "uid=1000" in facts["user"]


def test_memory_limit_kills_a_greedy_command_and_is_detected_as_oom(probe):
    result = probe.run("python3 -c 'b = bytearray(600 * 1024 * 1024); print(len(b))'", timeout=60)
    assert result.exit_code == 137 and result.oom_killed and not result.timed_out
    assert probe.run("echo alive", timeout=30).stdout == "alive\n"


def test_a_command_within_the_memory_limit_is_not_called_oom(probe):
    result = probe.run("python3 -c 'b = bytearray(50 * 1024 * 1024)'; exit 3", timeout=60)
    assert (result.exit_code, result.oom_killed) == (3, False)


def test_pids_limit_stops_a_fork_storm(probe):
    assert probe.run("for i in $(seq 20); do sleep 2 & done; wait", timeout=60).exit_code == 0
    result = probe.run("for i in $(seq 100); do sleep 2 & done 2>&1; wait", timeout=60)
    output = result.stdout + result.stderr
    assert result.exit_code != 0 and ("Cannot fork" in output or "Resource temporarily unavailable" in output)


def test_network_none_has_only_loopback(probe):
    result = probe.run("ls /sys/class/net; python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), 3)\"",
                       timeout=30)
    assert result.stdout.split() == ["lo"] and result.exit_code != 0 and "unreachable" in result.stderr


def test_second_build_of_an_unchanged_spec_makes_no_build_call(probe_root, counting_engine):
    spec = load_environment("probe", root=probe_root)
    first = build(spec, engine=counting_engine)
    again = build(load_environment("probe", root=probe_root), engine=counting_engine)
    assert counting_engine.build_calls == [] and not first.built and not again.built and again.id == first.id


def test_changing_one_python_package_reuses_the_earlier_layers(probe_root, counting_engine, api):
    # markupsafe 2.1.1 is pinned nowhere else, so this image is this test's own: removed before and after.
    variant = probe_root / "environments" / "pinned.yaml"
    variant.write_text("extends: baseline\npython_packages: ['markupsafe==2.1.1']\n")
    spec = load_environment("pinned", root=probe_root)
    baseline = build(load_environment("baseline", root=probe_root), engine=counting_engine)
    _remove_own_image(api, spec)
    lines: list[str] = []
    try:
        image = build(spec, engine=counting_engine, on_line=lines.append)
        assert counting_engine.build_calls == [image.tag] and image.built and image.tag != baseline.tag
        steps = [i for i, line in enumerate(lines) if line.startswith("Step ")]
        pip_step = next(n for n, i in enumerate(steps) if "pip install" in lines[i])
        cached = [n for n, i in enumerate(steps) if "Using cache" in " ".join(lines[i:i + 3])]
        # every layer before the install came from cache, the venv's own layer included
        assert cached == list(range(1, pip_step)), "\n".join(lines)
        assert any("python3 -m venv" in lines[steps[n]] for n in cached)
        assert image.cached_steps == len(cached) and image.total_steps == len(steps)
    finally:
        _remove_own_image(api, spec)


def _remove_own_image(api, spec) -> None:
    from reprokit.image.render import render_for_build

    tag = render_for_build(spec).tag()
    try:
        labels = api.inspect_image(tag)["Config"]["Labels"] or {}
    except Exception:
        return
    if labels.get("reprokit.environment") == spec.name:
        api.remove_image(tag)


def test_a_failing_build_names_the_step_the_log_and_a_hint(probe_root, counting_engine):
    with pytest.raises(BuildError) as caught:
        build(load_environment("broken", root=probe_root), engine=counting_engine)
    error = caught.value
    assert "apt-get install" in error.step and "reprokit-no-such-package" in error.step
    assert any("Unable to locate package reprokit-no-such-package" in line for line in error.log_tail)
    assert error.hint.startswith("check that the package and version exist")
    assert error.reproduce == "reprokit env build broken"


def test_a_bad_spec_fails_before_any_build(probe_root, counting_engine):
    with pytest.raises(SpecError) as caught:
        build(load_environment("wrong", root=probe_root), engine=counting_engine)
    assert "python: '3.11' does not match debian:bullseye, which provides Python 3.9" in str(caught.value)
    assert counting_engine.build_calls == []


@pytest.mark.parametrize("name, version", [("acme-bullseye", "3.9"), ("baseline", "3.11")])
def test_cli_env_run_prints_the_environments_python(name, version):
    result = subprocess.run([str(REPROKIT), "env", "run", name, "--", "python3", "-V"], capture_output=True,
                            text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.fullmatch(rf"Python {re.escape(version)}\.\d+\n", result.stdout), result.stdout


@pytest.mark.parametrize("name, version", [("acme-bullseye", "3.9"), ("baseline", "3.11")])
def test_python_api_runs_in_the_environments_python(name, version, docker_engine):
    spec = load_environment(name, root=ROOT)
    with spec.start(engine=docker_engine) as box:
        result = box.run("python3 -V; python3 -c 'import markupsafe; print(markupsafe.__version__)'", timeout=60)
    assert re.fullmatch(rf"Python {re.escape(version)}\.\d+", result.stdout.splitlines()[0]), result.stdout
    pin = next(p for p in spec.python_packages if p.startswith("markupsafe=="))
    assert result.stdout.splitlines()[1] == pin.split("==")[1]


def test_cli_env_run_passes_the_exit_code_and_stderr_through():
    result = subprocess.run([str(REPROKIT), "env", "run", "baseline", "--", "sh", "-c", "echo oops >&2; exit 7"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 7 and "oops" in result.stderr


def test_cli_env_run_of_a_bad_spec_exits_2_without_a_traceback(probe_root):
    result = subprocess.run([str(REPROKIT), "env", "run", "wrong", "-C", str(probe_root), "--", "true"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "does not match debian:bullseye" in result.stderr, textwrap.shorten(result.stderr, 500)
