"""The run stage's parts (reprokit/run/launch.py, steps.py): what a launch bakes or applies, one attempt's batch."""
from __future__ import annotations

import pytest

from fakes import FakeEngine
from reprokit.contract.models import Case, EnvironmentSpec
from reprokit.engine import BatchOutcome, FileEntry, RunResult
from reprokit.errors import RunError
from reprokit.run.launch import image_spec, launch
from reprokit.run.steps import RUN_DIR, read_steps, run_attempt


def spec(**fields) -> EnvironmentSpec:
    return EnvironmentSpec(name="acme", os="debian:bookworm", **fields)


def case(*steps: str, timeout: float = 60) -> Case:
    return Case(id="C-1", title="t", environment=spec(), baseline=spec(),
                steps=[{"run": s, "timeout": timeout} for s in steps], expect={"exit_code": 1},
                files={"repro.py": "print(1)"})


def test_a_case_run_launch_bakes_everything():
    plan = launch(spec(env={"A": "1"}, files={"/etc/a.ini": "x"}))
    assert plan.image_spec == plan.spec and plan.config.env == {} and plan.files == {} and plan.kind is None


def test_a_shared_image_launch_applies_env_and_files_at_start():
    plan = launch(spec(env={"A": "1"}, files={"/etc/a.ini": "x"}), share_image=True)
    assert plan.image_spec.env == {} and plan.image_spec.files == {}
    assert plan.config.env == {"A": "1"} and plan.files == {"/etc/a.ini": FileEntry(b"x", owner="0:0", mode=0o644)}
    assert plan.kind.value == "hybrid"


def test_hybrids_differing_only_in_what_is_applied_at_start_share_one_image():
    one, two = spec(env={"A": "1"}), spec(env={"A": "2"}, files={"/etc/b": "y"})
    assert image_spec(one) == image_spec(two) and one != two


def test_the_launch_key_changes_with_anything_the_container_gets():
    plan = launch(spec(env={"A": "1"}), share_image=True)
    assert plan.key("sha256:a") == launch(spec(env={"A": "1"}), share_image=True, labels={"x": "y"}).key("sha256:a")
    assert plan.key("sha256:a") != launch(spec(env={"A": "2"}), share_image=True).key("sha256:a")
    assert plan.key("sha256:a") != plan.key("sha256:b")
    assert plan.key("sha256:a") != launch(spec(env={"A": "1"}, files={"/f": "x"}), share_image=True).key("sha256:a")


def test_one_attempt_sends_steps_files_and_facts_in_one_batch():
    engine = FakeEngine()
    engine.answers["false"] = RunResult("false", 1, "", "no\n", 0.1)
    output = run_attempt(engine, "img", launch(spec(umask="0077")), case("true", "false", "echo never"),
                         read_facts=True)
    assert [s.exit_code for s in output.steps] == [0, 1] and output.steps[1].stderr == "no\n"
    (batch,) = engine.batches
    run_dir = RUN_DIR[1:]
    assert batch["files"][f"{run_dir}/steps/1.sh"].decode().startswith("umask 0077")
    assert f"{run_dir}/facts.sh" in batch["files"] and "work/repro.py" in batch["files"]
    assert output.facts is not None and batch["command"][-1] == "/work"


def test_on_a_read_only_root_the_runner_and_the_workdir_get_volumes():
    engine = FakeEngine()
    run_attempt(engine, "img", launch(spec(read_only=True)), case("true"))
    assert set(engine.batches[0]["config"].writable) >= {"/work", RUN_DIR}


def test_a_services_network_replaces_the_launch_network():
    engine = FakeEngine()
    run_attempt(engine, "img", launch(spec()), case("true"), network="reprokit-net-1")
    assert engine.batches[0]["config"].network == "reprokit-net-1"


def test_a_runner_that_ends_before_the_first_step_is_an_error_with_a_hint():
    class Broken(FakeEngine):
        def run_batch(self, image, config, **kwargs):
            return BatchOutcome(2, {})
    with pytest.raises(RunError, match="no step ran: the container's runner exited 2"):
        run_attempt(Broken(), "img", launch(spec()), case("true"))


@pytest.mark.parametrize("status, timed_out", [(b"124 10.0 70.0", True), (b"124 10.0 11.0", False)])
def test_a_step_ended_by_its_timeout_is_told_from_one_exiting_124_by_itself(status, timed_out):
    outcome = BatchOutcome(124, {"out/0.status": status, "out/0.stdout": b"", "out/0.stderr": b""})
    (step,) = read_steps(case("sleep 100", timeout=60), outcome)
    assert step.timed_out is timed_out and step.exit_code == 124


def test_a_killed_container_counts_its_running_step_as_killed_at_its_timeout():
    outcome = BatchOutcome(137, {"out/0.status": b"0 1.0 2.0", "out/1.stdout": b"partial"}, killed=True)
    steps = read_steps(case("true", "sleep 999", timeout=30), outcome)
    assert [s.exit_code for s in steps] == [0, 137] and steps[1].timed_out and steps[1].stdout == "partial"


def test_an_oom_kill_marks_the_failing_step():
    outcome = BatchOutcome(137, {"out/0.status": b"137 1.0 2.0"}, oom_killed=True)
    (step,) = read_steps(case("python3 eat.py"), outcome)
    assert step.oom_killed and step.exit_code == 137


def test_a_date_without_nanoseconds_gives_no_duration_rather_than_a_wrong_one():
    outcome = BatchOutcome(0, {"out/0.status": b"0 1.%N 2.%N"})
    assert read_steps(case("true"), outcome)[0].duration_s == 0.0
