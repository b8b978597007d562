"""Fixtures for tests against the real Docker engine: the project, a build-counting engine, containers by owner."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPROKIT = ROOT / ".venv" / "bin" / "reprokit"


class CountingEngine:
    """The real engine, counting build calls, so a test can tell a reused image from a built one."""

    def __init__(self, engine):
        self.inner = engine
        self.build_calls: list[str] = []

    def build(self, dockerfile, context, *, tag, labels, on_line, proxy=None):
        self.build_calls.append(tag)
        return self.inner.build(dockerfile, context, tag=tag, labels=labels, on_line=on_line, proxy=proxy)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture(scope="session")
def docker_engine():
    """The process-wide Docker engine; the whole folder is skipped (not failed) where none answers."""
    from reprokit.engine import get_engine
    from reprokit.errors import EngineError

    try:
        return get_engine()
    except EngineError as error:
        if os.environ.get("CI"):  # CI's set-up starts an engine: a missing one there is a failure, not a skip
            pytest.fail(f"no Docker engine in CI: {error}")
        pytest.skip(f"no Docker engine: {error.message}")


@pytest.fixture
def counting_engine(docker_engine) -> CountingEngine:
    return CountingEngine(docker_engine)


@pytest.fixture(scope="session")
def api(docker_engine):
    """The docker SDK's low-level client, for inspecting what reprokit created."""
    return docker_engine.api


def containers_of(api, **labels: str) -> list[dict]:
    """Containers (running or not) carrying every given reprokit label, e.g. owner_pid='123'."""
    filters = [f"reprokit.{key.replace('_', '-')}={value}" for key, value in labels.items()]
    return api.containers(all=True, filters={"label": filters})


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll until ``predicate()`` is truthy and return it; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def _unavailable(why: str):
    """Skip where this machine cannot host the fixture; in CI (whose set-up provides it) fail instead."""
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def second_engine(docker_engine):
    """A second dockerd on this machine (see machines.py), shared by the session and removed at its end, however
    it ends; its unix socket is /tmp/reprokit-test-dockerd-2/docker.sock."""
    import shutil

    from machines import DOCKERD, SecondEngine

    if os.geteuid() != 0 or not os.path.exists(DOCKERD) or not shutil.which("ip"):
        _unavailable("a second engine needs root, dockerd and ip")
    engine = SecondEngine(Path("/tmp/reprokit-test-dockerd-2"))
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """Debian's docker-registry on 127.0.0.1 (port 5000 unless taken), storing in a temporary folder; stopped
    and emptied at the end of the session."""
    from machines import REGISTRY, LocalRegistry

    if not os.path.exists(REGISTRY):
        _unavailable("no docker-registry (as root: apt-get install -y docker-registry; .ci/setup.sh does it)")
    running = LocalRegistry(tmp_path_factory.mktemp("registry"))
    try:
        running.start()
        yield running
    finally:
        running.stop()
