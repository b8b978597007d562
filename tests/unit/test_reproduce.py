"""Running a case (reprokit/case/reproduce.py) with the fake engine: verdicts, facts, records, probes; no Docker."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import FakeEngine, write_project
from reprokit.case.history import History
from reprokit.case.reproduce import observe, observe_many, run_case
from reprokit.case.result import CaseResult, Role
from reprokit.contract.load import Project, load_case
from reprokit.contract.models import Verdict
from reprokit.engine import BuildFailure, FileEntry, RunResult
from reprokit.errors import RunError
from reprokit.isolate.probe import probe_case
from reprokit.run.launch import launch

STEP = "python3 repro.py"
CASE = f"""\
id: SUP-1
title: export fails
environment: acme
files: {{repro.py: "print('hi')"}}
steps: ["{STEP}"]
expect: {{exit_code: 1, stderr_contains: boom}}
"""
ACME = "extends: baseline\nuser: app\nenv: {ACME_MODE: strict}\nfiles: {/etc/acme/acme.ini: 'timeout = 30'}\n"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    monkeypatch.delenv("REPROKIT_HISTORY", raising=False)
    root = write_project(tmp_path / "project", {"environments/baseline.yaml": "os: debian:bookworm\n",
                                                "environments/acme.yaml": ACME, "cases/SUP-1/case.yaml": CASE})
    return Project(root)


@pytest.fixture
def case(project):
    return load_case("SUP-1", root=project.root)


def failing_in(engine: FakeEngine, *marks: str, exit_code: int = 1):
    """Make the step fail (exit 1, 'boom' on stderr) in images whose Dockerfile contains any of ``marks``, and in
    containers whose env has them as a variable name."""
    dockerfiles = lambda: {b["tag"]: b["dockerfile"] for b in engine.builds}  # noqa: E731

    def on_step(image, config, step):
        text = dockerfiles().get(image, "") + " ".join(config.env)
        if any(mark in text for mark in marks):
            return RunResult(step, exit_code, "", "boom\n", 0.2)
        return RunResult(step, 0, "fine\n", "", 0.1)
    engine.on_step = on_step
    return engine


def test_a_step_failing_only_in_the_customer_environment_is_reproduced_and_recorded(project, case):
    engine = failing_in(FakeEngine(), "ACME_MODE")
    result = run_case(case, project=project, engine=engine)
    assert result.verdict is Verdict.REPRODUCED and result.as_expected
    assert result.runs[Role.ENVIRONMENT].rate == 1.0 and result.runs[Role.BASELINE].rate == 0.0
    assert {"stdout", "stderr"} <= set(result.diffs["output"]) and result.diffs["spec"]
    rows = History(project.root / ".reprokit" / "history.sqlite").records("SUP-1")
    assert sorted(r["role"] for r in rows) == ["baseline", "environment"]
    assert CaseResult.from_record(case, rows).to_dict() == json.loads(json.dumps(result.to_dict(), default=str))


@pytest.mark.parametrize("marks, expected", [((), Verdict.NOT_REPRODUCED), (("FROM",), Verdict.EVERYWHERE)])
def test_the_verdict_follows_where_the_signature_holds(project, case, marks, expected):
    result = run_case(case, project=project, engine=failing_in(FakeEngine(), *marks), record=False)
    assert result.verdict is expected


def test_failing_only_in_the_baseline_is_baseline_only(project, case):
    engine = FakeEngine()
    engine.on_step = lambda image, config, step: RunResult(step, 1 if not config.env and "USER app" not in next(
        b["dockerfile"] for b in engine.builds if b["tag"] == image) else 0, "", "boom", 0.1)
    assert run_case(case, project=project, engine=engine, record=False).verdict is Verdict.BASELINE_ONLY


def test_a_signature_that_holds_in_some_attempts_is_flaky(project, case):
    engine, calls = FakeEngine(), []

    def sometimes(image, config, step):
        calls.append(image)
        customer = "ACME_MODE" in next(b["dockerfile"] for b in engine.builds if b["tag"] == image)
        return RunResult(step, 1 if customer and len(calls) % 2 else 0, "", "boom", 0.1)
    engine.on_step = sometimes
    result = run_case(case, project=project, engine=engine, repeat=4, record=False)
    assert result.verdict is Verdict.FLAKY and 0 < result.runs[Role.ENVIRONMENT].rate < 1
    assert len(engine.batches) == 8  # a fresh container per attempt


def test_a_build_failure_is_an_error_naming_the_step_and_is_not_expected(project, case):
    engine = FakeEngine(fail_build=BuildFailure("Step 2/5 : RUN apt-get", ["E: no such package"], "exit 100"))
    result = run_case(case, project=project, engine=engine, record=False)
    assert result.verdict is Verdict.ERROR and not result.as_expected
    assert "Step 2/5" in result.runs[Role.ENVIRONMENT].error and result.runs[Role.ENVIRONMENT].rate is None
    assert "environment (acme)" in result.explain()
    assert result.runs[Role.ENVIRONMENT].facts == {}  # not None: the terminal view reads it


def test_facts_are_read_in_the_steps_container_and_once_per_launch(project, case):
    engine = failing_in(FakeEngine(), "ACME_MODE")
    engine.facts_output = "\n@@reprokit-fact umask\n0022\n"
    run_case(case, project=project, engine=engine, repeat=2, record=False)
    assert engine.containers == []  # no second container for the facts
    sent = [any(name.endswith("facts.sh") for name in b["files"]) for b in engine.batches]
    assert sorted(sent) == [False, False, True, True]  # the first attempt of each environment
    engine.batches.clear()
    again = run_case(case, project=project, engine=engine, record=False)
    assert not any(name.endswith("facts.sh") for b in engine.batches for name in b["files"])  # cached
    assert again.runs[Role.ENVIRONMENT].facts["umask"] == "0022"


def test_a_declared_value_the_facts_contradict_makes_the_run_error(project, case):
    engine = FakeEngine()
    engine.facts_output = "\n@@reprokit-fact umask\n0022\n"
    spec = case.environment.model_copy(update={"umask": "0077"})
    run = observe(case, launch(spec), role=Role.ENVIRONMENT, engine=engine)
    assert run.error and "declared but not in effect: umask" in run.error and run.rate is None


def test_a_missing_workdir_is_an_error_saying_so(project, case):
    class NoWorkdir(FakeEngine):
        def run_batch(self, image, config, **kwargs):
            super().run_batch(image, config, **kwargs)
            from reprokit.engine import BatchOutcome
            return BatchOutcome(97, {})
    run = observe(case, launch(case.environment), role=Role.ENVIRONMENT, engine=NoWorkdir())
    assert "the workdir /work does not exist" in run.error


def test_a_container_that_cannot_start_is_an_error_not_a_crash(project, case):
    engine = FakeEngine()
    engine.fail_start = RunError("could not start a container of x: no space left")
    run = observe(case, launch(case.environment), role=Role.ENVIRONMENT, engine=engine)
    assert "no space left" in run.error and run.attempts == []


def test_case_run_bakes_env_and_files_and_a_probe_applies_them_at_start_the_same_way(project, case):
    engine = FakeEngine()
    run = observe(case, launch(case.environment), role=Role.ENVIRONMENT, engine=engine)
    trial = probe_case(case, case.environment, engine=engine)
    baked, probed = engine.batches
    assert run.error is None and trial.error is None and trial.runs == 1
    assert "ENV ACME_MODE" in engine.builds[0]["dockerfile"] and "ACME_MODE" not in engine.builds[1]["dockerfile"]
    assert baked["config"].env == {} and probed["config"].env == {"ACME_MODE": "strict"}
    assert "etc/acme/acme.ini" not in baked["files"]
    assert probed["files"]["etc/acme/acme.ini"] == FileEntry(b"timeout = 30", owner="0:0", mode=0o644)
    # Everything else the steps' container gets is the same: the case's files, steps, owner, settings.
    same = lambda batch: ({k: v for k, v in batch["files"].items() if k != "etc/acme/acme.ini"},  # noqa: E731
                          batch["owner"], batch["command"], {**batch["config"].__dict__, "env": {}, "labels": {}})
    assert same(baked) == same(probed)
    assert baked["config"].labels["reprokit.role"] == "environment"
    assert probed["config"].labels["reprokit.role"] == "isolate-probe"
    assert engine.builds[1]["labels"]["reprokit.kind"] == "hybrid"


def test_on_a_read_only_root_a_probe_keeps_the_files_in_the_image(project, case):
    engine = FakeEngine()
    spec = case.environment.model_copy(update={"read_only": True})
    probe_case(case, spec, engine=engine)
    assert "rootfs/etc/acme/acme.ini" in engine.builds[0]["context"]
    assert "etc/acme/acme.ini" not in engine.batches[0]["files"]
    assert engine.batches[0]["config"].env == {"ACME_MODE": "strict"}


def test_a_probe_is_a_trial_counting_matches(project, case):
    engine = failing_in(FakeEngine(), "ACME_MODE")
    trial = probe_case(case, case.environment, engine=engine, repeat=3)
    assert (trial.runs, trial.matches, trial.built) == (3, 3, True)
    assert probe_case(case, case.baseline, engine=engine).matches == 0


def test_across_runs_every_named_environment_as_a_customer_environment(project, case):
    engine = failing_in(FakeEngine(), "ACME_MODE")
    runs = observe_many(case, {"acme": case.environment, "baseline": case.baseline}, project=project, engine=engine)
    assert {name: run.role for name, run in runs.items()} == {"acme": Role.ENVIRONMENT, "baseline": Role.ENVIRONMENT}
    assert runs["acme"].matched and not runs["baseline"].matched


def test_an_interrupt_removes_every_container_at_once(project, case):
    engine = FakeEngine()
    engine.on_step = lambda image, config, step: (_ for _ in ()).throw(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run_case(case, project=project, engine=engine, record=False)
    assert ("abort", "*") in engine.removed


def test_the_reproduce_command_names_the_project_or_the_folder(project, case, tmp_path: Path):
    from reprokit.case.reproduce import reproduce_command

    assert reproduce_command(case, project) == f"reprokit case run SUP-1 -C {project.root}"
    elsewhere = Project(tmp_path / "other")
    assert reproduce_command(case, elsewhere) == f"reprokit case run {case.folder}"
