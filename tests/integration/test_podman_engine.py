"""Podman: a shipped case reproduces on Podman's Docker-compatible API (`podman system service`), selected by
DOCKER_HOST like any engine, with the engine's own limits passed explicitly (see reprokit/engine/podman.py).

Skipped where podman is not installed (.ci/setup.sh installs it). The test starts its own Podman service on
a socket in its tmp folder and stops it afterwards; the Debian base images come from the Docker engine."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import ROOT

BASES = ("debian:bullseye", "debian:bookworm")  # what SUP-4521's two environments are built FROM


def reprokit(*args: str, host: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reprokit", *args], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "DOCKER_HOST": host, "COLUMNS": "200"})


def podman(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def podman_host(tmp_path_factory, docker_engine):
    """DOCKER_HOST of a Podman service this test started, with the base images loaded into Podman's storage."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (as root: apt-get install -y podman catatonit)")
    for base in BASES:
        if podman("image", "exists", base).returncode != 0:
            assert docker_engine.image_id(base), f"{base} is in neither engine: reprokit images bootstrap {base}"
            save = subprocess.Popen(["docker", "save", base], stdout=subprocess.PIPE)
            loaded = podman("load", stdin=save.stdout)
            assert save.wait() == 0 and loaded.returncode == 0, f"docker save {base} | podman load: {loaded.stderr}"
    socket = tmp_path_factory.mktemp("podman") / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not socket.exists() and time.monotonic() < deadline and service.poll() is None:
            time.sleep(0.2)
        assert socket.exists(), f"podman system service did not listen on {socket}"
        yield f"unix://{socket}"
    finally:
        service.terminate()
        service.wait(timeout=30)


def reprokit_containers() -> set[str]:
    return set(podman("ps", "-a", "-q", "--filter", "label=reprokit.session").stdout.split())


def test_a_shipped_case_reproduces_on_podman_and_leaves_no_container(podman_host, tmp_path):
    project = tmp_path / "project"  # a copy: the history it records stays in the tmp folder
    shutil.copytree(ROOT / "environments", project / "environments")
    shutil.copytree(ROOT / "cases" / "SUP-4521", project / "cases" / "SUP-4521")
    before = reprokit_containers()
    done = reprokit("case", "run", "SUP-4521", "--json", "-C", str(project), host=podman_host)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    result = json.loads(done.stdout)
    assert result["verdict"] == "REPRODUCED" and result["as_expected"]
    assert 'near "RETURNING": syntax error' in str(result["runs"])
    assert reprokit_containers() <= before

    # Podman lists the images under localhost/ and docker.io/; reprokit shows (and prunes) them by its own tags.
    listed = json.loads(reprokit("images", "list", "--json", "-C", str(project), host=podman_host).stdout)
    used = {image["for"]: image for image in listed["images"] if image["kind"] == "environment"}
    assert {"baseline", "acme-bullseye"} <= set(used)
    assert all(tag.startswith("reprokit/env:") for name in ("baseline", "acme-bullseye") for tag in used[name]["tags"])


def test_containers_on_podman_get_the_engines_limits_and_the_declared_ones(podman_host, tmp_path):
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "baseline.yaml").write_text("os: debian:bookworm\n")
    (tmp_path / "environments" / "few-files.yaml").write_text("extends: baseline\nlimits: {nofile: 512}\n")
    service_pid = podman_service_pid(podman_host)
    with open(f"/proc/{service_pid}/limits") as limits:
        hard_nofile = next(line.split()[4] for line in limits if line.startswith("Max open files"))
    for name, expected in (("baseline", hard_nofile), ("few-files", "512")):
        done = reprokit("env", "run", name, "-C", str(tmp_path), "--", "sh", "-c", "ulimit -n; ulimit -Hn",
                        host=podman_host)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.split() == [expected, expected], (name, done.stdout)


def podman_service_pid(host: str) -> int:
    import socket as sockets
    import struct

    with sockets.socket(sockets.AF_UNIX) as peer:
        peer.connect(host[len("unix://"):])
        return struct.unpack("3i", peer.getsockopt(sockets.SOL_SOCKET, sockets.SO_PEERCRED, 12))[0]


def test_a_step_the_oom_killer_ends_on_podman_is_reported_as_oom_killed(podman_host, tmp_path):
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "small.yaml").write_text("os: debian:bookworm\nlimits: {memory: 64m}\n"
                                                          "system_packages: [python3]\n")
    (tmp_path / "cases" / "OOM-1").mkdir(parents=True)
    (tmp_path / "cases" / "OOM-1" / "case.yaml").write_text(
        "id: OOM-1\ntitle: a greedy step\nenvironment: small\nbaseline: small\n"
        "steps: [\"python3 -c 'x = bytearray(300 * 1024 * 1024)'\"]\nexpect: {oom_killed: true}\n")
    done = reprokit("case", "run", "OOM-1", "--json", "-C", str(tmp_path), host=podman_host)
    result = json.loads(done.stdout)
    [step] = result["runs"]["environment"]["attempts"][0]["steps"]
    assert (step["exit_code"], step["oom_killed"]) == (137, True), done.stdout[-2000:] + done.stderr
    assert result["verdict"] == "EVERYWHERE"
    ran = reprokit("env", "run", "small", "-C", str(tmp_path), "--", "python3", "-c", "x = bytearray(300 << 20)",
                   host=podman_host)
    assert ran.returncode == 137 and "killed by the OOM killer" in ran.stderr, ran.stderr
