"""Unit tests never write outside their tmp folders (image-use records go to one of their own) and share no images."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def image_use_records(tmp_path_factory, monkeypatch):
    """build() records each image's last use (reprokit/image/usage.py); here, in a folder of the test's own."""
    folder = tmp_path_factory.mktemp("image-use")
    monkeypatch.setenv("REPROKIT_IMAGE_USE", str(folder))
    return folder


@pytest.fixture(autouse=True)
def no_registry(monkeypatch):
    """No test shares images through a registry unless it sets one: REPROKIT_REGISTRY of the shell is ignored."""
    from reprokit.engine import registry

    monkeypatch.delenv("REPROKIT_REGISTRY", raising=False)
    monkeypatch.setattr(registry, "_current", None)
    monkeypatch.setattr(registry, "_chosen", True)


@pytest.fixture(autouse=True)
def build_logs_and_indexes(tmp_path_factory, monkeypatch):
    """A failed build keeps its log (reprokit/image/build_errors.py) and import caches package indexes
    (reprokit/collect/mirror.py); here, in folders of the test's own."""
    monkeypatch.setenv("REPROKIT_BUILD_LOGS", str(tmp_path_factory.mktemp("build-logs")))
    monkeypatch.setenv("REPROKIT_PACKAGE_INDEX", str(tmp_path_factory.mktemp("package-index")))


@pytest.fixture(autouse=True)
def no_build_cache(monkeypatch):
    """Builds go direct unless a test says otherwise, whether or not this machine runs an apt cache."""
    monkeypatch.setenv("REPROKIT_BUILD_CACHE", "off")
    monkeypatch.delenv("REPROKIT_APT_CACHE", raising=False)
