"""Fakes for unit tests: the fake engine ships with reprokit (reprokit/engine/fake.py); project and tar helpers."""
from __future__ import annotations

import io
import tarfile

from reprokit.engine.fake import FakeContainer, FakeEngine, FakeRegistry

__all__ = ["FakeContainer", "FakeEngine", "FakeRegistry", "tar_of", "write_project"]


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


def tar_of(files: dict[str, bytes]) -> bytes:
    """A tar of regular files ``{path: content}``, as a container's collected folder or a case's files come."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
