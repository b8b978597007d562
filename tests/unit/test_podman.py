"""engine/podman.py: what differs on Podman's Docker-compatible API, and how the Docker backend applies it."""
from __future__ import annotations

import os
import socket

from reprokit.engine import podman
from reprokit.engine.docker import _host_settings
from reprokit.engine.protocol import ContainerConfig

PODMAN_VERSION = {"Components": [{"Name": "Podman Engine", "Version": "4.3.1"}], "Version": "4.3.1"}
DOCKER_VERSION = {"Components": [{"Name": "Engine", "Version": "20.10.24"}, {"Name": "containerd"}],
                  "Version": "20.10.24"}
LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max processes             32768                32768                processes
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
"""


def test_podman_is_told_from_docker_by_its_version_components():
    assert podman.is_podman(PODMAN_VERSION)
    assert not podman.is_podman(DOCKER_VERSION)
    assert not podman.is_podman({})


def test_limits_are_read_from_proc_limits_and_unlimited_is_left_out():
    assert podman.parse_limits(LIMITS) == {"nofile": 20000, "nproc": 32768}
    assert podman.parse_limits(LIMITS.replace("32768                processes", "unlimited            processes")) \
        == {"nofile": 20000}


def test_every_container_on_podman_gets_the_engines_limits_and_a_declared_nofile_wins():
    engine = {"nofile": 20000, "nproc": 32768}
    assert podman.default_ulimits(nofile=None, engine_limits=engine) == {"nofile": (20000, 20000),
                                                                        "nproc": (32768, 32768)}
    assert podman.default_ulimits(nofile=1024, engine_limits=engine)["nofile"] == (1024, 1024)


def test_docker_gets_only_the_declared_limit_and_podman_gets_both():
    declared = ContainerConfig(nofile=1024)
    on_docker = _host_settings(declared)
    assert [(u["Name"], u["Soft"], u["Hard"]) for u in on_docker["ulimits"]] == [("nofile", 1024, 1024)]
    assert "ulimits" not in _host_settings(ContainerConfig())
    on_podman = _host_settings(ContainerConfig(), engine_limits={"nofile": 20000, "nproc": 32768})
    assert sorted((u["Name"], u["Soft"], u["Hard"]) for u in on_podman["ulimits"]) == [
        ("nofile", 20000, 20000), ("nproc", 32768, 32768)]


def test_the_engines_limits_come_from_the_process_listening_on_the_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "engine.sock")
    listening = {}

    def read_text(self):
        listening["path"] = str(self)
        return LIMITS

    monkeypatch.setattr(podman.Path, "read_text", read_text)
    with socket.socket(socket.AF_UNIX) as server:  # this process listens; no accept needed to connect
        server.bind(path)
        server.listen(1)
        found = podman.engine_limits(f"unix://{path}")
    assert listening["path"] == f"/proc/{os.getpid()}/limits"
    assert found == {"nofile": 20000, "nproc": 32768}


def test_an_engine_that_does_not_answer_leaves_this_processs_own_limits(tmp_path):
    found = podman.engine_limits(f"unix://{tmp_path}/nobody.sock")
    assert set(found) == {"nofile", "nproc"} and all(value > 0 for value in found.values())


def test_podman_tags_are_shown_as_docker_shows_them():
    assert podman.short_tag("localhost/reprokit/env:ab12") == "reprokit/env:ab12"
    assert podman.short_tag("docker.io/reprokit/env:ab12") == "reprokit/env:ab12"
    assert podman.short_tag("docker.io/library/debian:bookworm") == "debian:bookworm"
    assert podman.short_tag("docker.io/arm64v8/debian:bookworm") == "arm64v8/debian:bookworm"
    assert podman.short_tag("localhost:5000/reprokit/env:ab12") == "localhost:5000/reprokit/env:ab12"


def test_oom_kills_are_counted_from_cgroup_v2_or_v1_counters():
    assert podman.oom_kills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n") == 1  # memory.events
    assert podman.oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n") == 2  # v1 memory.oom_control
    assert podman.oom_kills("") == 0


def test_a_step_sigkilled_with_an_oom_kill_in_its_cgroup_is_reported_as_oom_killed(tmp_path):
    from fakes import write_project
    from reprokit.run.steps import read_steps
    from reprokit.contract.load import load_case
    from reprokit.engine.protocol import BatchOutcome

    root = write_project(tmp_path, {"environments/baseline.yaml": "os: debian:bookworm\n",
                                    "cases/T-1/case.yaml": "id: T-1\ntitle: t\nenvironment: baseline\n"
                                                           "steps: ['true', python3 big.py]\nexpect: {oom_killed: true}\n"})
    case = load_case("T-1", root=root)
    files = {"out/0.status": b"0 1.0 1.1", "out/1.status": b"137 2.0 2.5", "out/1.stderr": b"Killed\n"}
    [first, killed] = read_steps(case, BatchOutcome(137, {**files, "out/1.oom": b"oom_kill 1\n"}))
    assert (first.oom_killed, killed.oom_killed) == (False, True)
    [_, timed] = read_steps(case, BatchOutcome(137, {**files, "out/1.oom": b"oom_kill 0\n"}))
    assert not timed.oom_killed  # SIGKILLed by its timeout or by itself: no OOM kill counted
