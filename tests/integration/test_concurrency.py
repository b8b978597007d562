"""Two replays at once, and a case that hangs: no collisions, no lost records, nothing left behind."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import containers_of

ROOT = Path(__file__).resolve().parents[2]


def make_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "environments", project / "environments")
    for case_id in ("CONTRACT-1", "SUP-4521"):
        shutil.copytree(ROOT / "cases" / case_id, project / "cases" / case_id)
    hang = project / "cases" / "HANG-1"
    hang.mkdir()
    (hang / "case.yaml").write_text(textwrap.dedent("""
        id: HANG-1
        title: the export never finishes
        environment: {extends: baseline, env: {EXPORT_MODE: full}}
        steps:
          - {run: 'echo started; if [ "$EXPORT_MODE" = full ]; then sleep 600; fi', timeout: 2}
        expect: {timed_out: true, stdout_contains: started}
        status: known-error
    """))
    return project


def replay(project: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "reprokit", "replay", "--json", "-C", str(project)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_replays_at_once_collide_on_nothing_and_lose_no_record(tmp_path, api):
    project = make_project(tmp_path)
    first, second = replay(project), replay(project)
    outputs = [p.communicate(timeout=900) for p in (first, second)]
    for process, (stdout, stderr) in zip((first, second), outputs):
        assert process.returncode == 0, stderr[-2000:]
        results = {r["case"]: r for r in json.loads(stdout)}
        assert {case: r["verdict"] for case, r in results.items()} == {
            "CONTRACT-1": "REPRODUCED", "SUP-4521": "REPRODUCED", "HANG-1": "REPRODUCED"}
        assert not containers_of(api, owner_pid=str(process.pid))
    with sqlite3.connect(project / ".reprokit" / "history.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT case_id, role, COUNT(*) FROM runs GROUP BY case_id, role").fetchall()
    assert sorted(rows) == sorted((case, role, 2) for case in ("CONTRACT-1", "SUP-4521", "HANG-1")
                                  for role in ("environment", "baseline"))


def test_a_hanging_step_is_killed_at_its_timeout_and_the_next_case_runs(tmp_path, api):
    project = make_project(tmp_path)
    process = subprocess.run([sys.executable, "-m", "reprokit", "replay", "cases/HANG-1", "cases/SUP-4521", "--json",
                              "-C", str(project)], cwd=project, capture_output=True, text=True, timeout=600)
    results = {r["case"]: r for r in json.loads(process.stdout)}
    step = results["HANG-1"]["runs"]["environment"]["attempts"][0]["steps"][0]
    assert step["timed_out"] and step["stdout"] == "started\n" and 2 <= step["duration_s"] < 10
    assert results["SUP-4521"]["verdict"] == "REPRODUCED"
