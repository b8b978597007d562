"""Replaying one shard of the cases (reprokit/case/replay.py), with a fake engine: no Docker."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fakes import FakeEngine, write_project
from reprokit.case import replay as replay_module
from reprokit.engine import BatchOutcome
from reprokit.case.history import History
from reprokit.case.replay import case_images, junit_durations, recorded_durations, replay_cases, shard_plan
from reprokit.errors import BuildError, InvalidValue
from reprokit.contract.load import Project

CASE = """\
id: {id}
title: {id}
environment: {environment}
baseline: baseline
steps: [python3 -c 'raise SystemExit(1)']
expect: {{exit_code: 1}}
"""
# Two cases per customer image (they must share a shard), and some with an image of their own.
CASES = {"ACME-1": "acme", "ACME-2": "acme", "GLOBEX-1": "globex", "GLOBEX-2": "globex", "GLOBEX-3": "globex",
         "INITECH-1": "initech", "SOLO-1": "{os: 'debian:bullseye'}", "SOLO-2": "{os: 'debian:trixie'}",
         "SOLO-3": "{os: 'debian:bookworm', timezone: Asia/Kolkata}"}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("REPROKIT_HISTORY", raising=False)
    files = {"environments/baseline.yaml": "os: debian:bookworm\n",
             "environments/acme.yaml": "extends: baseline\nenv: {ACME: '1'}\n",
             "environments/globex.yaml": "extends: baseline\ntimezone: Europe/Berlin\n",
             "environments/initech.yaml": "os: debian:bullseye\nenv: {INITECH: '1'}\n"}
    files |= {f"cases/{case}/case.yaml": CASE.format(id=case, environment=env) for case, env in CASES.items()}
    return write_project(tmp_path / "project", files)


class BatchEngine(FakeEngine):
    """The fake engine, running a case's steps in one batch: the first step exits 1 in every image."""

    def run_batch(self, image, config, *, files, command, collect, timeout, owner=None) -> BatchOutcome:
        self.containers.append(image)
        return BatchOutcome(1, {"out/0.status": b"1 0.0 0.5", "out/0.stdout": b"", "out/0.stderr": b"boom"})


@pytest.fixture
def fake_engine(monkeypatch) -> FakeEngine:
    """Every case runs against a fake engine: builds are instant, steps run nowhere."""
    engine = BatchEngine()
    monkeypatch.setattr("reprokit.engine._engine", engine)  # what get_engine() returns, in every module
    return engine


def ran(results) -> list[str]:
    return sorted(r.case.id for r in results)


def test_every_shard_runs_a_disjoint_part_and_together_every_case(project, fake_engine):
    shards = [ran(replay_cases([], project=project, shard=(i, 3))) for i in (1, 2, 3)]
    everything = [case for shard in shards for case in shard]
    assert sorted(everything) == sorted(CASES) and all(shards)


def test_cases_with_the_same_environments_run_in_the_same_shard(project, fake_engine):
    shards = [set(ran(replay_cases([], project=project, shard=(i, 4)))) for i in (1, 2, 3, 4)]
    for customer in ("ACME", "GLOBEX"):
        holding = [shard for shard in shards if any(case.startswith(customer) for case in shard)]
        assert len(holding) == 1, shards


def test_a_shard_run_again_alone_runs_the_same_cases_with_the_same_outcome(project, fake_engine):
    """A runner that died: its shard, re-run on its own, gives that shard's results (not anyone else's)."""
    first = replay_cases([], project=project, shard=(2, 3))
    again = replay_cases([], project=project, shard=(2, 3))
    assert ran(first) == ran(again) and ran(first)
    assert [(r.case.id, r.verdict) for r in first] == [(r.case.id, r.verdict) for r in again]


def test_the_shard_plan_is_reported_before_the_cases_run(project, fake_engine):
    plans = []
    results = replay_cases([], project=project, shard=(1, 2), on_plan=plans.append)
    assert len(plans) == 1 and ran(results) == list(plans[0].cases(1))


@pytest.mark.parametrize("shard", [(0, 2), (3, 2), (1, 0)])
def test_a_shard_that_does_not_exist_is_refused_before_anything_runs(project, fake_engine, shard):
    with pytest.raises(InvalidValue, match=f"shard {shard[0]}/{shard[1]}: the"):
        replay_cases([], project=project, shard=shard)
    assert fake_engine.containers == []


def test_without_a_shard_every_case_runs(project, fake_engine):
    assert ran(replay_cases([], project=project)) == sorted(CASES)


def found(project: Path, paths=()) -> list:
    return replay_module.find_cases(list(paths), Project(project), project / "scratch")


def test_cases_group_by_the_images_their_two_environments_need(project):
    plan = shard_plan(found(project), 1)
    groups = sorted(group.cases for group in plan.shards[0])
    assert ("ACME-1", "ACME-2") in groups and ("GLOBEX-1", "GLOBEX-2", "GLOBEX-3") in groups
    assert len(groups) == 6
    assert all(tag.startswith("reprokit/env:") for tag in case_images(found(project)[0][0]))


def test_a_case_whose_environment_cannot_render_still_gets_a_shard_of_its_own(project, monkeypatch):
    from reprokit.image import render as module

    real = module.render_for_build

    def render(spec, **options):
        if spec.timezone == "Asia/Kolkata":
            raise BuildError(spec.name, "render", ["cannot render"])
        return real(spec, **options)

    monkeypatch.setattr(module, "render_for_build", render)
    plans = [shard_plan(found(project), 3) for _ in range(2)]
    assert plans[0] == plans[1]
    listed = [case for i in (1, 2, 3) for case in plans[0].cases(i)]
    assert sorted(listed) == sorted(CASES)
    assert ("SOLO-3",) in [group.cases for shard in plans[0].shards for group in shard]


def test_a_case_named_twice_is_run_twice_and_both_get_a_shard(project, fake_engine):
    paths = [str(project / "cases" / "ACME-1"), str(project / "cases" / "ACME-1"), str(project / "cases" / "SOLO-1")]
    shards = [ran(replay_cases(paths, project=project, shard=(i, 2))) for i in (1, 2)]
    assert sorted(shards[0] + shards[1]) == ["ACME-1", "ACME-1", "SOLO-1"]


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
  <testcase classname="cases.ACME-1" name="ACME-1" time="120.5"/>
  <testcase classname="cases.ACME-2" name="ACME-2" time="3.25"><failure message="NOT_REPRODUCED"/></testcase>
  <testcase classname="cases.SOLO-1" name="SOLO-1" time="0.01"><skipped message="no engine"/></testcase>
  <testcase classname="cases.SOLO-2" name="SOLO-2" time="not a number"/>
</testsuite></testsuites>
"""


def test_junit_durations_read_each_testcase_time_and_leave_out_skipped_ones(tmp_path):
    (tmp_path / "a.xml").write_text(JUNIT)
    assert junit_durations([tmp_path / "a.xml"]) == {"ACME-1": 120.5, "ACME-2": 3.25}


def test_junit_durations_from_a_folder_read_every_report_in_it_later_files_winning(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "shard-1.xml").write_text(JUNIT)
    (tmp_path / "reports" / "shard-2.xml").write_text('<testsuite><testcase name="ACME-1" time="7"/></testsuite>')
    assert junit_durations([tmp_path / "reports"]) == {"ACME-1": 7.0, "ACME-2": 3.25}


def test_a_report_that_is_not_junit_is_a_user_mistake_naming_the_file(tmp_path):
    (tmp_path / "bad.xml").write_text("<testsuite><testcase")
    with pytest.raises(InvalidValue, match="bad.xml: cannot read it as JUnit XML"):
        junit_durations([tmp_path / "bad.xml"])
    with pytest.raises(InvalidValue, match="missing.xml"):
        junit_durations([tmp_path / "missing.xml"])


def test_durations_come_from_the_last_recorded_run_of_each_case(project):
    history = History(project / ".reprokit" / "history.sqlite")
    row = {"environment": "acme", "verdict": "REPRODUCED", "matched": True, "evidence": {}}
    history.record([{**row, "case": "ACME-1", "role": "environment", "duration_s": 50.0},
                    {**row, "case": "ACME-1", "role": "baseline", "duration_s": 40.0}])
    history.record([{**row, "case": "ACME-1", "role": "environment", "duration_s": 9.0},
                    {**row, "case": "ACME-1", "role": "baseline", "duration_s": 12.0}])
    history.record([{**row, "kind": "isolate", "case": "ACME-2", "role": "isolate", "duration_s": 500.0}])
    assert recorded_durations(Project(project), ["history"]) == {"ACME-1": 12.0}


def test_the_history_is_read_only_when_asked_for_and_later_sources_win(project, tmp_path):
    """The history changes as a shard runs: read by default, a shard re-run where it ran before would differ."""
    History(project / ".reprokit" / "history.sqlite").record([{
        "case": "ACME-1", "environment": "acme", "role": "environment", "verdict": "X", "duration_s": 1.0}])
    (tmp_path / "a.xml").write_text(JUNIT)
    assert recorded_durations(Project(project)) == {}
    assert recorded_durations(Project(project), [tmp_path / "a.xml"]) == {"ACME-1": 120.5, "ACME-2": 3.25}
    assert recorded_durations(Project(project), [tmp_path / "a.xml", "history"]) == {"ACME-1": 1.0, "ACME-2": 3.25}


def test_reading_durations_creates_no_history(project):
    assert recorded_durations(Project(project), ["history"]) == {}
    assert not (project / ".reprokit").exists()


def test_shards_run_one_after_another_in_one_project_still_cover_every_case_once(project, fake_engine):
    """Each replay records durations; the next shard's plan must not change because of them."""
    shards = [ran(replay_cases([], project=project, shard=(i, 2))) for i in (1, 2)]
    assert (project / ".reprokit" / "history.sqlite").is_file()
    assert sorted(shards[0] + shards[1]) == sorted(CASES)


def test_recorded_durations_balance_the_shards_by_time(project):
    durations = {case: 1.0 for case in CASES} | {"INITECH-1": 100.0}
    plan = shard_plan(found(project), 2, durations=durations)
    heavy = next(i for i in (1, 2) if "INITECH-1" in plan.cases(i))
    assert plan.cases(heavy) == ("INITECH-1",)


def dry_run(project: Path, shard: str, *extra: str, seed: str = "0") -> dict:
    result = subprocess.run([sys.executable, "-m", "reprokit", "replay", "--shard", shard, "--dry-run", "--json",
                             "-C", str(project), *extra], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONHASHSEED": seed})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_cli_lists_the_same_shard_in_every_process_and_the_shards_cover_every_case(project):
    shards = [dry_run(project, f"{i}/3", seed=str(i)) for i in (1, 2, 3)]
    assert sorted(case for shard in shards for case in shard["cases"]) == sorted(CASES)
    assert len({shard["plan"] for shard in shards}) == 1
    again = dry_run(project, "2/3", seed="4242")
    assert again["cases"] == shards[1]["cases"] and again["plan"] == shards[1]["plan"]


def test_the_cli_balances_on_a_junit_report_when_given_one(project, tmp_path):
    times = "".join(f'<testcase name="{case}" time="{300 if case == "INITECH-1" else 2}"/>' for case in CASES)
    (tmp_path / "times.xml").write_text(f"<testsuite>{times}</testsuite>")
    listed = [dry_run(project, f"{i}/2", "--durations-from", str(tmp_path / "times.xml")) for i in (1, 2)]
    assert listed[0]["balance"] == "time" and ["INITECH-1"] in [shard["cases"] for shard in listed]


def test_a_replay_with_the_shipped_fake_engine_records_results_that_read_back_whole(project, monkeypatch):
    from reprokit.case.result import CaseResult
    from reprokit.contract.load import load_case
    from reprokit.engine import RunResult, set_engine

    engine = FakeEngine()  # no run_batch of the test's own: the shipped fake runs the steps
    acme = lambda image: "ENV ACME" in next(b["dockerfile"] for b in engine.builds if b["tag"] == image)  # noqa: E731
    engine.on_step = lambda image, config, step: RunResult(step, 1 if acme(image) else 0, "", "", 0.1)
    set_engine(engine)
    try:
        results = {r.case.id: r for r in replay_cases(["ACME-1", "INITECH-1"], project=project)}
    finally:
        set_engine(None)
    assert {case: r.verdict.value for case, r in results.items()} == {"ACME-1": "REPRODUCED",
                                                                      "INITECH-1": "NOT_REPRODUCED"}
    rows = History(project / ".reprokit" / "history.sqlite").records()
    for case_id, result in results.items():
        stored = CaseResult.from_record(load_case(case_id, root=project), rows)
        assert stored.to_dict() == result.to_dict()


class SlowEngine(BatchEngine):
    """Batches that take a while (the customer environment's longer than the baseline's), counted as they overlap."""

    def __init__(self):
        super().__init__()
        self.running, self.most, self._lock = 0, 0, threading.Lock()
        self.started: list[tuple[str, float]] = []

    def run_batch(self, image, config, **kwargs) -> BatchOutcome:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.append((config.labels["reprokit.case"], time.monotonic()))
        time.sleep(0.05 if config.labels["reprokit.role"] == "baseline" else 0.4)
        with self._lock:
            self.running -= 1
        return super().run_batch(image, config, **kwargs)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_replay_keeps_two_runs_per_job_going_and_starts_the_next_case_when_a_run_ends(project, monkeypatch, jobs):
    engine = SlowEngine()
    monkeypatch.setattr("reprokit.engine._engine", engine)
    results = replay_cases([], project=project, jobs=jobs)
    assert ran(results) == sorted(CASES)
    assert engine.most == 2 * jobs
    # A case's baseline ends long before its environment: the next case starts then, not after both.
    first_case, first = engine.started[0]
    assert min(t for case, t in engine.started if case != first_case) < first + 0.3
