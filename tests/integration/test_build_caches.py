"""Builds through the apt cache (reprokit/image/caches.py), on the real engine with a private apt-cacher-ng: the cache
fills, the image is the one a direct build makes and keeps no proxy setting, and a cache that is down costs a
warning, not the build."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from machines import AptCacher
from reprokit.contract.models import EnvironmentSpec
from reprokit.errors import ReprokitWarning
from reprokit.image import caches
from reprokit.image.build import build
from reprokit.image.render import render_for_build


@pytest.fixture(scope="module")
def apt_cacher(tmp_path_factory):
    if not Path(AptCacher.BINARY).exists():
        if os.environ.get("CI"):
            pytest.fail("apt-cacher-ng is missing in CI: .ci/setup.sh installs it")
        pytest.skip("apt-cacher-ng is not installed (as root: bash .ci/setup.sh)")
    cacher = AptCacher(tmp_path_factory.mktemp("apt-cacher"))
    cacher.start()
    yield cacher
    cacher.stop()


@pytest.fixture(scope="module")
def made(docker_engine):
    """A base nobody has built on (debian:bookworm plus a unique label: a new image id, so apt really fetches
    instead of Docker reusing an earlier build's layers); the images made on it are removed at the end."""
    base = f"reprokit-test/caches:{uuid.uuid4().hex[:10]}"
    subprocess.run(["docker", "build", "-q", "-t", base, "-"], input=f"FROM debian:bookworm\nLABEL test={base}\n",
                   text=True, capture_output=True, check=True)
    images = [base]
    yield images
    for tag in reversed(images):
        subprocess.run(["docker", "rmi", tag], capture_output=True)


def on_base(made: list[str], *packages: str) -> EnvironmentSpec:
    spec = EnvironmentSpec(name="caches-test", os="debian:bookworm", system_packages=list(packages))
    return spec.model_copy(update={"os": made[0]})


@pytest.fixture
def cache_at(monkeypatch):
    monkeypatch.delenv("REPROKIT_BUILD_CACHE", raising=False)
    monkeypatch.setattr(caches, "_down_said", threading.Event())
    return lambda address: monkeypatch.setenv("REPROKIT_APT_CACHE", address)


def test_a_build_through_the_cache_fills_it_and_makes_the_direct_builds_image(docker_engine, api, apt_cacher, made,
                                                                                cache_at):
    cache_at(apt_cacher.address)
    spec = on_base(made, "sqlite3")
    image = build(spec, engine=docker_engine)
    made.append(image.tag)
    assert image.built and [p for p in apt_cacher.packages() if p.startswith("sqlite3_")], apt_cacher.packages()
    traces = json.dumps([api.inspect_image(image.tag), api.history(image.tag)]).lower()
    assert "proxy" not in traces and str(apt_cacher.port) not in traces
    rendering = render_for_build(spec)
    labels = api.inspect_image(image.tag)["Config"]["Labels"]
    assert labels["reprokit.spec-hash"] == rendering.content_hash()
    labels = {k: labels[k] for k in ("reprokit.environment", "reprokit.spec-hash", "reprokit.version", "reprokit.kind")}
    # Built directly, the same Dockerfile reuses every layer: the cache keys, hence the image, are the same.
    direct = f"reprokit-test/caches-direct:{uuid.uuid4().hex[:10]}"
    made.append(direct)
    outcome = docker_engine.build(rendering.dockerfile, rendering.context, tag=direct, labels=labels,
                                  on_line=lambda line: None)
    assert outcome.image_id == image.id and outcome.cached_steps == outcome.total_steps - 1  # all but FROM


def test_a_build_with_the_cache_down_downloads_directly_after_a_warning(docker_engine, made, cache_at):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        cache_at(f"127.0.0.1:{probe.getsockname()[1]}")
    with pytest.warns(ReprokitWarning, match=r"apt cache at 127\.0\.0\.1:\d+ does not answer"):
        image = build(on_base(made, "sqlite3", "libmagic-mgc"), engine=docker_engine)
    made.append(image.tag)
    assert image.built
    installed = subprocess.run(["docker", "run", "--rm", image.tag, "dpkg-query", "-W", "libmagic-mgc"],
                               capture_output=True, text=True)
    assert installed.returncode == 0 and installed.stdout.startswith("libmagic-mgc"), installed.stderr
