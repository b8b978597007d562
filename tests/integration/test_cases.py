"""Cases for real: verdicts, JSON, history, replay, the pytest plugin, on the real engine."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPROKIT = [sys.executable, "-m", "reprokit"]

# Written only against the contract in DESIGN.md: inline environments, inline files, nothing else.
CONTRACT_CASE = """\
id: {id}
title: "INSERT ... RETURNING fails: near 'returning': syntax error"
customer: ACME
environment: {{os: "debian:bullseye", system_packages: [sqlite3]}}
baseline: {{os: "debian:bookworm", system_packages: [sqlite3]}}
files:
  repro.py: |
    import sqlite3
    print("sqlite", sqlite3.sqlite_version)
    db = sqlite3.connect(":memory:")
    db.execute("create table t (id integer primary key, v text)")
    print(db.execute("insert into t (v) values ('x') returning id").fetchall())
steps:
  - python3 repro.py
  - {{run: echo second step ran, timeout: 30}}
expect:
  exit_code: 1
  stderr_contains: 'near "returning": syntax error'
status: {status}
"""


def reprokit(*args, cwd=ROOT, env=None):
    return subprocess.run([*REPROKIT, *args], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def project(tmp_path):
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "baseline.yaml").write_text("os: debian:bookworm\n")
    for case_id, status in (("SUP-1", "open"), ("SUP-2", "fixed")):
        (tmp_path / "cases" / case_id).mkdir(parents=True)
        (tmp_path / "cases" / case_id / "case.yaml").write_text(CONTRACT_CASE.format(id=case_id, status=status))
    return tmp_path


def test_a_contract_only_case_reproduces_with_json_and_is_recorded(project):
    done = reprokit("case", "run", "SUP-1", "--json", "-C", str(project))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["case"] == "SUP-1" and result["verdict"] == "REPRODUCED"
    environment, baseline = result["runs"]["environment"], result["runs"]["baseline"]
    assert environment["facts"]["python"].startswith("3.9.") and baseline["facts"]["python"].startswith("3.11.")
    assert environment["facts"]["debian_packages"]["libsqlite3-0"].startswith("3.34.1")
    assert baseline["facts"]["debian_packages"]["libsqlite3-0"].startswith("3.40.1")
    # the first step fails, so the second never runs there; in the baseline both run
    assert [len(a["steps"]) for a in environment["attempts"]] == [1]
    assert baseline["attempts"][0]["steps"][1]["stdout"] == "second step ran\n"
    assert {"field": "os", "baseline": "debian:bookworm", "environment": "debian:bullseye"} in result["diffs"]["spec"]
    assert "+sqlite 3.34.1" in result["diffs"]["output"]["stdout"]
    assert "SUP-1" in result["reproduce"]

    records = json.loads(reprokit("history", "SUP-1", "--json", "-C", str(project)).stdout)
    assert {(r["role"], r["verdict"], r["matched"]) for r in records} == {
        ("environment", "REPRODUCED", True), ("baseline", "REPRODUCED", False)}
    assert records[0]["image_id"].startswith("sha256:")


def test_a_fixed_case_that_still_reproduces_fails_with_exit_code_1(project):
    done = reprokit("case", "run", "SUP-2", "-C", str(project))
    assert done.returncode == 1
    assert "REPRODUCED" in done.stdout and "regression" in done.stdout
    assert f"reprokit case run SUP-2 -C {project}" in done.stdout


def test_a_case_across_environments_says_which_reproduce(project):
    (project / "environments" / "old.yaml").write_text("os: debian:bullseye\nsystem_packages: [sqlite3]\n")
    (project / "environments" / "new.yaml").write_text("os: debian:trixie\nsystem_packages: [sqlite3]\n")
    done = reprokit("case", "run", "SUP-1", "--across", "old,new", "--json", "-C", str(project))
    assert done.returncode == 0, done.stderr
    across = json.loads(done.stdout)["across"]
    assert (across["old"]["matched"], across["new"]["matched"]) == (True, False)


def test_replay_writes_a_summary_and_junit_and_exits_1_when_one_case_is_not_as_expected(project, tmp_path):
    junit = tmp_path / "replay.xml"
    done = reprokit("replay", "--jobs", "2", "--junit-xml", str(junit), "-C", str(project))
    assert done.returncode == 1, done.stderr
    assert "SUP-1" in done.stdout and "SUP-2" in done.stdout and "1 as expected, 1 not" in done.stdout
    suite = ElementTree.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["SUP-2"]


def test_pytest_collects_each_case_and_reports_it_in_junit(project, tmp_path):
    junit = tmp_path / "cases.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "cases", "-p", "no:cacheprovider", f"--junitxml={junit}"],
                          cwd=project, capture_output=True, text=True, timeout=900)
    assert done.returncode == 1, done.stdout
    assert "SUP-2: REPRODUCED" in done.stdout and "reprokit case run SUP-2" in done.stdout
    cases = {c.get("name"): c.find("failure") is None for c in ElementTree.parse(junit).getroot().iter("testcase")}
    assert cases == {"SUP-1": True, "SUP-2": False}


def test_the_environment_fixture_and_marker_run_a_test_in_each_environment(project):
    (project / "environments" / "old.yaml").write_text("os: debian:bullseye\n")
    (project / "test_envs.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.reprokit_environments("baseline", "old")
        def test_python(reprokit_box):
            expected = {"baseline": "3.11", "old": "3.9"}[reprokit_box.spec.name]
            assert reprokit_box.run("python3 -V").stdout.startswith("Python " + expected)

        def test_factory(reprokit_env):
            assert reprokit_env("old").run("cat /etc/debian_version").stdout.startswith("11.")
    """))
    done = subprocess.run([sys.executable, "-m", "pytest", "test_envs.py", "-p", "no:cacheprovider", "-q"],
                          cwd=project, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout
    assert "3 passed" in done.stdout


def test_a_case_that_cannot_build_gives_error_and_exit_code_3(project):
    folder = project / "cases" / "SUP-3"
    folder.mkdir()
    (folder / "case.yaml").write_text(textwrap.dedent("""
        id: SUP-3
        title: cannot build
        environment: {os: "debian:bookworm", system_packages: [no-such-package-reprokit]}
        steps: ["true"]
        expect: {exit_code: 0}
    """))
    done = reprokit("case", "run", "SUP-3", "--json", "-C", str(project))
    assert done.returncode == 3
    result = json.loads(done.stdout)
    assert result["verdict"] == "ERROR"
    assert "no-such-package-reprokit" in result["runs"]["environment"]["error"]
