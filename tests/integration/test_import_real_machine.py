"""Issue 15 for real: a collection taken on this very machine (root, outside any container) imports into a spec
that builds on the first try and keeps what matters; a stale pin, a package from another repository and a
package that does not exist each produce the documented report; a failed build reads as one package per line."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reprokit.collect.importer import collector_script
from reprokit.contract.load import load_environment

ROOT = Path(__file__).resolve().parents[2]
REPROKIT = [sys.executable, "-m", "reprokit"]


def reprokit(*args: str, project: Path, columns: int = 100, timeout: float = 1800) -> subprocess.CompletedProcess:
    done = subprocess.run([*REPROKIT, *args, "-C", str(project)], cwd=project, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": str(columns)})
    return done


def a_project(tmp_path: Path) -> Path:
    (tmp_path / "environments").mkdir()
    return tmp_path


# The machine the tests run on, as root, not a container reprokit started: a realistic host with a desktop's
# packages, third-party repositories and a pyenv python (its /.dockerenv says nothing about that).
host_only = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dpkg-query"),
                               reason="needs a Debian machine and root, as the collector runs on customers' servers")


@host_only
def test_a_collection_of_this_machine_builds_on_the_first_try_and_keeps_what_matters(tmp_path):
    project = a_project(tmp_path)
    (project / "c.py").write_text(collector_script())
    python = shutil.which("python3") or sys.executable  # the customer's python3: whatever PATH finds first
    collected = subprocess.run([python, "c.py"], cwd=project, capture_output=True, text=True, timeout=600)
    assert collected.returncode == 0, collected.stderr
    (project / "mine.json").write_text(collected.stdout)
    facts = json.loads(collected.stdout)["facts"]
    assert facts["native_libraries"]["library_owners"] and facts["debian_origins"]

    imported = reprokit("env", "import", "mine.json", "--name", "cust", project=project)
    assert imported.returncode == 0, imported.stderr
    env = load_environment("cust", root=project)
    installed = facts["debian_packages"]
    assert 0 < len(env.system_packages) < len(installed) / 5, env.system_packages
    assert f"{len(env.system_packages)} of {len(installed)} installed pinned" in env.description
    side = (project / "environments" / "cust.system-packages.txt").read_text()
    assert len(side.splitlines()) == len(installed) and "wrote environments/cust.system-packages.txt" in \
        imported.stdout
    outside = [p for p, served in facts["debian_origins"].items() if served and not served[0].startswith("Debian/")]
    for package in outside:
        assert f"{package}=" in side and "not reproducible from Debian's mirror" in side
    assert "not reproduced" in imported.stdout

    built = reprokit("env", "build", "cust", project=project)
    assert built.returncode == 0, built.stdout + built.stderr  # the first try, no hand edits

    with env.start() as box:
        box.put_files({"c.py": collector_script()})
        result = box.run("python3 c.py", timeout=600)
    assert result.exit_code == 0, result.stderr
    again = json.loads(result.stdout)["facts"]
    minor = ".".join(facts["python"]["version"].split(".")[:2])
    assert again["python"]["version"].startswith(minor + ".")
    assert {p: again["debian_packages"].get(p.split("=")[0]) for p in env.system_packages} == \
        {p: p.split("=", 1)[1] for p in env.system_packages}
    freeze = set(again["python"]["pip_freeze"])
    assert [p for p in env.python_packages if p not in freeze] == []
    assert {k: again["env"].get(k) for k in env.env} == dict(env.env)
    assert again["locale"].get("LANG") == env.locale and again["timezone"]["name"] == (env.timezone or "Etc/UTC")
    if env.limits.memory:
        assert again["cgroup"]["memory"] != "max"


STALE_SSL = "3.0.11-1~deb12u2"  # a bookworm security update the mirror has long replaced


def customer_collection() -> dict:
    """A bookworm customer's collection: a stale libssl3, nodejs from nodesource, a package nobody has, and
    python pins of which one was never released."""
    return {"format": "reprokit-collection", "version": 1, "collector": "python", "facts": {
        "os_release": {"ID": "debian", "VERSION_CODENAME": "bookworm", "PRETTY_NAME": "Debian GNU/Linux 12"},
        "python": {"executable": "/usr/bin/python3", "version": "3.11.2",
                   "pip_freeze": ["six==1.16.0", "idna==99.0.0"]},
        "debian_packages": {"libssl3": STALE_SSL, "nodejs": "20.11.0-1nodesource1",
                            "reprokit-no-such-package": "1.0-1", "bash": "5.2.15-2+b2"},
        "debian_origins": {"libssl3": [], "nodejs": ["Node Source/nodistro@deb.nodesource.com"],
                           "reprokit-no-such-package": ["Debian/bookworm@deb.debian.org"], "bash": []},
        "native_libraries": {"library_owners": {"/usr/lib/x86_64-linux-gnu/libssl.so.3": "libssl3"}},
        "env": {"ACME_MODE": "strict"}, "timezone": {"name": "Europe/Berlin"}, "locale": {"LANG": "C.UTF-8"}}}


def test_a_stale_pin_a_package_from_another_repository_and_a_missing_one_are_each_reported(tmp_path):
    project = a_project(tmp_path)
    (project / "mine.json").write_text(json.dumps(customer_collection()))
    imported = reprokit("env", "import", "mine.json", "--name", "cust", "--system-packages",
                        "nodejs,reprokit-no-such-package", project=project)
    assert imported.returncode == 0, imported.stderr
    out = " ".join(imported.stdout.split())  # the console wraps lines
    assert f"not exactly reproduced: system package libssl3: customer has {STALE_SSL} (no longer served by the " \
           "mirror); pinned 3.0." in out
    assert "nodejs 20.11.0-1nodesource1 (other repository deb.nodesource.com); to have them, install them in a case " \
           "step or a base image that adds their repository" in out
    assert "system package reprokit-no-such-package 1.0-1: debian:bookworm's suite has no such package" in out
    assert "python package idna==99.0.0: missing: https://pypi.org/simple has no idna 99.0.0" in out
    text = (project / "environments" / "cust.yaml").read_text()
    assert f"# customer: {STALE_SSL} (no longer served by the mirror)" in text
    env = load_environment("cust", root=project)
    assert [p.split("=")[0] for p in env.system_packages] == ["libssl3"]
    assert env.python_packages == ("six==1.16.0",)
    assert "Not exactly reproduced: system package libssl3" in env.description
    built = reprokit("env", "build", "cust", project=project)
    assert built.returncode == 0, built.stdout + built.stderr


def test_a_failed_build_lists_each_package_with_its_pin_and_fits_the_terminal(tmp_path):
    project = a_project(tmp_path)
    (project / "environments" / "bad.yaml").write_text(
        "os: debian:bookworm\nsystem_packages:\n  - libssl3=3.0.0-0~reprokit1\n  - reprokit-no-such-package\n"
        "  - sqlite3\n")
    built = reprokit("env", "build", "bad", project=project, columns=80)
    assert built.returncode != 0, built.stdout + built.stderr
    text = built.stderr
    assert max(len(line) for line in text.splitlines()) <= 80, text
    flat = " ".join(text.split())
    assert "what failed, one package per line:" in flat
    assert "libssl3 3.0.0-0~reprokit1: version not in the suite; offered: 3.0." in flat
    assert "(environments/bad.yaml:3)" in flat and "(environments/bad.yaml:4)" in flat
    assert "reprokit-no-such-package (any version): no such package in the suite; offered: nothing" in flat
    log = Path(flat.split("full log: ")[1].split()[0])
    assert log.is_file() and "reprokit-no-such-package" in log.read_text()
    assert "reproduce: reprokit env build bad" in flat


def test_pins_apt_cannot_install_together_are_settled_before_the_spec_is_written(tmp_path):
    """libpython3.11-dev pulls the mirror's newest zlib1g-dev, which wants the newest zlib1g: the customer's
    older zlib1g stays pinned only if their zlib1g-dev is pinned too, which apt's simulation finds."""
    project = a_project(tmp_path)
    document = customer_collection()
    facts = document["facts"]
    facts["debian_packages"] = {"zlib1g": "1:1.2.13.dfsg-1", "zlib1g-dev": "1:1.2.13.dfsg-1",
                                "libpython3.11-dev": "3.11.2-6+deb12u9"}
    facts["debian_origins"] = {name: ["Debian/bookworm@deb.debian.org"] for name in facts["debian_packages"]}
    facts["native_libraries"] = {"library_owners": {"/usr/lib/x86_64-linux-gnu/libz.so.1": "zlib1g"}}
    (project / "mine.json").write_text(json.dumps(document))
    imported = reprokit("env", "import", "mine.json", "--name", "cust", "--system-packages", "libpython3.11-dev",
                        project=project)
    assert imported.returncode == 0, imported.stderr
    env = load_environment("cust", root=project)
    assert set(env.system_packages) == {"libpython3.11-dev=3.11.2-6+deb12u9", "zlib1g=1:1.2.13.dfsg-1",
                                        "zlib1g-dev=1:1.2.13.dfsg-1"}
    side = (project / "environments" / "cust.system-packages.txt").read_text()
    assert "pinned\tzlib1g-dev=1:1.2.13.dfsg-1\tpinned at the customer's version so that the chosen packages " \
           "install together" in side
    built = reprokit("env", "build", "cust", project=project)
    assert built.returncode == 0, built.stdout + built.stderr


def test_a_build_apt_refuses_as_held_broken_names_the_conflicting_pin(tmp_path):
    project = a_project(tmp_path)
    (project / "environments" / "held.yaml").write_text(
        "os: debian:bookworm\nsystem_packages:\n  - zlib1g=1:1.2.13.dfsg-1\n  - libpython3.11-dev\n")
    built = reprokit("env", "build", "held", project=project, columns=100)
    assert built.returncode != 0
    flat = " ".join(built.stderr.split())
    assert "you have held broken packages" in flat, built.stderr
    assert "zlib1g 1:1.2.13.dfsg-1: zlib1g-dev needs zlib1g (= 1:1.2.13.dfsg-1+deb12u1) but 1:1.2.13.dfsg-1 is to " \
           "be installed; offered: 1:1.2.13.dfsg-1+deb12u1 (bookworm-security), 1:1.2.13.dfsg-1 (bookworm) " \
           "(environments/held.yaml:3)" in flat, built.stderr
