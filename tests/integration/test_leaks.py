"""Nothing leaks: containers go away after a run, an exception, SIGINT, SIGTERM, and SIGKILL followed by gc."""
from __future__ import annotations

import signal
import subprocess

import pytest
from conftest import REPROKIT, ROOT, containers_of, wait_for

from reprokit.engine import SESSION
from reprokit.contract.load import load_environment


@pytest.fixture(scope="module")
def baseline():
    return load_environment("baseline", root=ROOT)


def sleeper():
    """`reprokit env run baseline -- sleep 60` in its own process, returned once its container exists."""
    process = subprocess.Popen([str(REPROKIT), "env", "run", "baseline", "--", "sleep", "60"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process


def running_container_of(api, process):
    def found():
        if process.poll() is not None:
            pytest.fail(f"reprokit exited early ({process.returncode}): {process.stderr.read()[-1000:]}")
        return [c for c in containers_of(api, owner_pid=str(process.pid)) if c["State"] == "running"]
    return wait_for(found, timeout=300, what=f"the container of pid {process.pid}")[0]


def test_a_normal_run_leaves_no_container(baseline, docker_engine, api):
    with baseline.start(engine=docker_engine) as box:
        assert box.run("true", timeout=30).exit_code == 0
        assert box.id in [c["Id"] for c in containers_of(api, session=SESSION)]
    assert box.id not in [c["Id"] for c in containers_of(api, session=SESSION)]


def test_an_exception_inside_the_with_removes_the_container(baseline, docker_engine, api):
    with pytest.raises(ZeroDivisionError):
        with baseline.start(engine=docker_engine) as box:
            box.run("true", timeout=30)
            1 / 0
    assert box.id not in [c["Id"] for c in containers_of(api, session=SESSION)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_env_run_removes_its_container(api, signum):
    process = sleeper()
    try:
        container = running_container_of(api, process)
        process.send_signal(signum)
        process.wait(timeout=60)
        assert process.returncode != 0
        assert "Traceback" not in process.stderr.read()
        assert containers_of(api, owner_pid=str(process.pid)) == [], f"container {container['Id'][:12]} leaked"
    finally:
        if process.poll() is None:
            process.kill()


def test_sigkill_leaves_a_container_that_gc_removes_but_never_a_live_ones(baseline, docker_engine, api):
    process = sleeper()
    try:
        container = running_container_of(api, process)
        process.kill()
        process.wait(timeout=30)
        assert [c["Id"] for c in containers_of(api, owner_pid=str(process.pid))] == [container["Id"]]
        with baseline.start(engine=docker_engine) as mine:  # alive: gc must leave it alone
            gc = subprocess.run([str(REPROKIT), "gc"], capture_output=True, text=True, timeout=120, cwd=ROOT)
            assert gc.returncode == 0, gc.stderr
            assert containers_of(api, owner_pid=str(process.pid)) == []
            assert mine.id in [c["Id"] for c in containers_of(api, session=SESSION)]
            assert mine.run("echo still here", timeout=30).stdout == "still here\n"
    finally:
        if process.poll() is None:
            process.kill()


def test_gc_dry_run_removes_nothing(api):
    process = sleeper()
    try:
        running_container_of(api, process)
        process.kill()
        process.wait(timeout=30)
        dry = subprocess.run([str(REPROKIT), "gc", "--dry-run"], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert dry.returncode == 0 and f"pid {process.pid}" in dry.stdout
        assert len(containers_of(api, owner_pid=str(process.pid))) == 1
    finally:
        subprocess.run([str(REPROKIT), "gc"], capture_output=True, timeout=120, cwd=ROOT)
    assert containers_of(api, owner_pid=str(process.pid)) == []


def test_a_step_that_never_ends_is_killed_at_its_timeout(baseline, docker_engine, api):
    with baseline.start(engine=docker_engine) as box:
        result = box.run("sleep 600", timeout=2)
        assert result.timed_out and result.exit_code in (124, 137)
        assert 2 <= result.duration_s < 15
        assert box.run("pgrep -x sleep || echo none", timeout=30).stdout.strip() == "none"
    assert box.id not in [c["Id"] for c in containers_of(api, session=SESSION)]


def test_a_step_ignoring_sigterm_is_killed_too(baseline, docker_engine):
    with baseline.start(engine=docker_engine) as box:
        result = box.run("trap '' TERM; while :; do sleep 1; done", timeout=2)
        assert result.timed_out and result.exit_code == 137 and result.duration_s < 20

