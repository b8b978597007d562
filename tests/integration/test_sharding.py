"""Cases split across processes for real: `reprokit replay --shard`, pytest-xdist workers, on the real engine."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import pytest

from conftest import ROOT, containers_of

PYTHON = ROOT / ".venv" / "bin" / "python"
SHARING = ("SUP-4521", "SUP-4533")  # both need acme-bullseye's image and the baseline's
ALONE = "SUP-4610"


@pytest.fixture
def history(tmp_path) -> Path:
    """Each test records into a history of its own, not the project's."""
    return tmp_path / "history.sqlite"


def run(args: list[str], history: Path, *, timeout: float = 900) -> subprocess.CompletedProcess:
    """A command of the worktree's venv, as CI runs it; its containers carry reprokit's labels and
    are removed by reprokit itself (this test removes nothing)."""
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "REPROKIT_HISTORY": str(history)})
    stdout, stderr = process.communicate(timeout=timeout)
    done = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
    done.pid = process.pid
    return done


def test_two_xdist_workers_run_two_cases_and_both_pass_and_are_recorded(docker_engine, history):
    done = run([str(PYTHON), "-m", "pytest", "cases/SUP-4521", f"cases/{ALONE}", "-n", "2", "-p", "xdist",
                "-p", "no:cacheprovider", "-q"], history)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b2 passed\b", done.stdout), done.stdout
    from reprokit.case.history import History

    recorded = {(r["case"], r["role"]) for r in History(history).records()}
    assert recorded == {(case, role) for case in ("SUP-4521", ALONE) for role in ("environment", "baseline")}


def junit_cases(path: Path) -> dict[str, str]:
    """case -> verdict, from a replay's JUnit report."""
    return {test.get("name"): test.findtext("system-out") for test in ElementTree.parse(path).getroot().iter("testcase")}


def test_replay_shards_run_disjoint_parts_that_together_are_the_whole_replay(docker_engine, history, tmp_path, api):
    cases = [f"cases/{c}" for c in (*SHARING, ALONE)]
    shards = []
    for index in (1, 2):
        report = tmp_path / f"shard-{index}.xml"
        done = run([str(ROOT / ".venv" / "bin" / "reprokit"), "replay", *cases, "--shard", f"{index}/2",
                    "--junit-xml", str(report)], history)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"shard {index}/2:" in done.stderr and "plan " in done.stderr
        assert containers_of(api, owner_pid=str(done.pid)) == []  # the replay removed what it started
        shards.append(junit_cases(report))
    assert sorted([*shards[0], *shards[1]]) == sorted([*SHARING, ALONE])
    assert all(verdict == "verdict: REPRODUCED" for shard in shards for verdict in shard.values())
    assert any(set(SHARING) <= set(shard) for shard in shards)
