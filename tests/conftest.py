"""Shared fixtures: the project root, and integration tests marked by folder."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

collect_ignore_glob = ["bench_*.py"]


@pytest.fixture
def project_root() -> Path:
    return ROOT


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
