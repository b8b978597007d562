"""Fakes for unit tests: the fake engine ships with reprokit (reprokit/engine/fake.py); project writing helper."""
from __future__ import annotations

from reprokit.engine.fake import FakeContainer, FakeEngine, FakeRegistry

__all__ = ["FakeContainer", "FakeEngine", "FakeRegistry", "write_project"]


def write_project(root, files: dict[str, str | bytes]):
    """Write ``{relative path: text}`` under ``root`` (a tmp_path) and return root, for loader tests."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root
