"""`--backend swarm` on a real single-node swarm that this module makes and leaves: the shipped cases give the
same verdicts as locally, each run is a job, and no job, config, network or container outlives a run, a failure,
a SIGTERM, or a SIGKILL followed by `reprokit gc`."""
from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from conftest import REPROKIT, ROOT, wait_for

from reprokit.engine import SESSION, ContainerConfig

pytestmark = pytest.mark.integration


def _docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def swarm(docker_engine):
    """A single-node swarm on the shared engine, left afterwards; skipped if the engine is in a swarm already
    (another test run may be using it: leaving it would break theirs)."""
    state = _docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if state != "inactive":
        pytest.skip(f"the engine's swarm state is {state!r}, not 'inactive': someone else's swarm; "
                    "this test makes its own and leaves it")
    had_gwbridge = _docker("network", "inspect", "docker_gwbridge").returncode == 0
    init = _docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    assert init.returncode == 0, f"docker swarm init --advertise-addr 127.0.0.1: {init.stderr}"
    try:
        from reprokit.engine.swarm import SwarmEngine

        yield SwarmEngine()
    finally:
        left = _docker("swarm", "leave", "--force")
        if not had_gwbridge:
            _docker("network", "rm", "docker_gwbridge")  # swarm init made it; leaving keeps it
        bridge = subprocess.run(["ip", "link", "show", "docker0"], capture_output=True, text=True)
        assert left.returncode == 0, f"docker swarm leave --force: {left.stderr}"
        assert bridge.returncode == 0, "docker0 is gone after leaving the swarm: every other container breaks"


def labelled(api, **labels: str) -> dict[str, list]:
    """Swarm jobs and configs, networks and containers carrying these reprokit labels (e.g. owner_pid='12')."""
    selector = {"label": [f"reprokit.{k.replace('_', '-')}={v}" for k, v in labels.items()]}
    return {"services": api.services(filters=selector), "configs": api.configs(filters=selector),
            "networks": api.networks(filters=selector), "containers": api.containers(all=True, filters=selector)}


def nothing(found: dict[str, list]) -> bool:
    return not any(found.values())


def replay(*args: str, backend: str) -> list[dict]:
    done = subprocess.run([str(REPROKIT), "replay", "--json", "--backend", backend, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    # 0: all as expected, 1: some not, 3: some ERROR (compared as verdicts below); anything else is a crash.
    assert done.returncode in (0, 1, 3), f"reprokit replay --backend {backend} {' '.join(args)}: {done.stderr[-3000:]}"
    return json.loads(done.stdout)


@contextmanager
def jobs_created(api) -> Iterator[list[str]]:
    """Names of the Swarm services created while the block runs, from the live event stream (the engine keeps
    only its last 256 events for a later `since` query, and a replay makes more)."""
    names: list[str] = []
    stream = api.events(decode=True, filters={"type": "service", "event": "create"})

    def listen() -> None:
        try:
            names.extend(event["Actor"]["Attributes"].get("name", "") for event in stream)
        except Exception:  # the stream closed under it
            pass

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        yield names
    finally:
        time.sleep(1)  # the last events reach the stream
        stream.close()
        listener.join(timeout=5)


def test_the_shipped_cases_give_the_same_verdicts_on_swarm_as_locally(swarm, api):
    locally = replay(backend="local")
    errors = {r["case"]: r["explanation"][-1500:] for r in locally if r["verdict"] == "ERROR"}
    assert not errors, f"the local replay itself gave ERROR (nothing to compare): {errors}"
    local = {r["case"]: r["verdict"] for r in locally}
    with jobs_created(api) as jobs:
        on_swarm = replay(backend="swarm")
    assert {r["case"]: r["verdict"] for r in on_swarm} == local, \
        {r["case"]: r["explanation"][-1500:] for r in on_swarm if r["verdict"] != local[r["case"]]}
    # Two runs per case at least (customer and baseline), each a job; facts read in jobs too (a cache of its own).
    assert len([name for name in jobs if name.startswith("reprokit-")]) >= 2 * len(local), jobs
    assert all(run["facts"].get("os") for r in on_swarm for run in r["runs"].values())
    assert nothing(labelled(api, session=SESSION))


def test_a_job_sees_what_the_environment_declares(swarm, tmp_path):
    """Limits, hostname, read-only root and tmpfs reach the job's container (facts are read back in a job)."""
    found = replay(str(case(tmp_path, "DECLARED-1", steps=["ulimit -n; hostname; touch /x || echo read-only"],
                            environment="""\
                                os: debian:bookworm
                                limits: {memory: 256m, nofile: 2048, pids: 128, shm: 32m}
                                hostname: acme-app01
                                read_only: true
                                tmpfs: {/scratch: 8m}
                                """)), backend="swarm")[0]
    run = found["runs"]["environment"]
    assert run["error"] is None, run["error"]
    assert run["attempts"][0]["steps"][0]["stdout"].splitlines() == ["2048", "acme-app01", "read-only"]
    assert run["facts"]["root_filesystem"] == "ro"
    assert run["facts"]["tmpfs"]["/scratch"] == "8192k"


def test_a_failed_job_raises_with_the_reason_and_leaves_nothing(swarm, api):
    from reprokit.errors import RunError

    with pytest.raises(RunError, match="did not run the job") as raised:
        swarm.run_batch("reprokit/no-such-image:never", ContainerConfig(), files={"tmp/x": b"x"}, command=["true"],
                        collect="/tmp", timeout=60)
    assert "image" in raised.value.hint
    assert nothing(labelled(api, session=SESSION))


def case(root: Path, case_id: str, *, steps: list[str], environment: str = "os: debian:bookworm\n",
         services: str = "") -> Path:
    """A case with inline environments (nothing from the project's environments/ folder)."""
    (root / "environments").mkdir(exist_ok=True)  # a project of its own: the runs are recorded there
    folder = root / "cases" / case_id
    folder.mkdir(parents=True)
    inline = textwrap.indent(textwrap.dedent(environment) + textwrap.dedent(services), "  ")
    (folder / "case.yaml").write_text(f"id: {case_id}\ntitle: swarm test\nenvironment:\n{inline}baseline:\n{inline}"
                                      f"steps: {json.dumps(steps)}\nexpect: {{exit_code: 0}}\n")
    return folder


SERVICE = "services:\n  cache: {image: \"redis:7.0\"}\n"


def sleeping_replay(root: Path) -> subprocess.Popen:
    """`reprokit replay --backend swarm` of a case with a service and a long step, returned once its job runs."""
    folder = case(root, "SLEEPER-1", steps=["sleep 120"], services=SERVICE)
    return subprocess.Popen([str(REPROKIT), "replay", "--backend", "swarm", str(folder)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_job(api, process: subprocess.Popen) -> None:
    def running() -> bool:
        if process.poll() is not None:
            pytest.fail(f"reprokit exited early ({process.returncode}): {process.stderr.read()[-2000:]}")
        services = labelled(api, owner_pid=str(process.pid))["services"]
        return any(task["Status"]["State"] == "running" for service in services
                   for task in api.tasks(filters={"service": service["ID"]}))
    wait_for(running, timeout=600, what=f"a running job of pid {process.pid}")


def test_sigterm_during_a_run_removes_its_jobs_configs_networks_and_services(swarm, api, tmp_path):
    process = sleeping_replay(tmp_path)
    try:
        wait_for_job(api, process)
        before = labelled(api, owner_pid=str(process.pid))
        assert before["configs"] and before["networks"] and before["containers"], before  # files, overlay, service
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
        assert "Traceback" not in process.stderr.read()
        wait_for(lambda: nothing(labelled(api, owner_pid=str(process.pid))), timeout=30,
                 what=f"no resource of pid {process.pid}: {labelled(api, owner_pid=str(process.pid))}")
    finally:
        if process.poll() is None:
            process.kill()


def test_gc_removes_what_a_killed_swarm_run_left_but_nothing_of_a_live_process(swarm, api, tmp_path):
    process = sleeping_replay(tmp_path)
    try:
        wait_for_job(api, process)
        process.kill()
        process.wait(timeout=30)
        left = labelled(api, owner_pid=str(process.pid))
        assert left["services"] and left["configs"] and left["networks"], left
        with swarm.network({"reprokit.test": "live"}) as mine:  # this process is alive: gc must keep it
            gc = subprocess.run([str(REPROKIT), "gc"], capture_output=True, text=True, timeout=300, cwd=ROOT)
            assert gc.returncode == 0, gc.stderr
            assert "removed service" in gc.stdout and "removed config" in gc.stdout, gc.stdout
            assert nothing(labelled(api, owner_pid=str(process.pid))), labelled(api, owner_pid=str(process.pid))
            assert [n["Name"] for n in api.networks(names=[mine])] == [mine]
    finally:
        if process.poll() is None:
            process.kill()
