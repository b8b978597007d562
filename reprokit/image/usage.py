"""When each image was last used, and as what: one small JSON file per image tag, written by build().

An image's labels are fixed when it is built, so last use is kept beside the engine instead: build() records
every time it returns an image, built or reused (one small atomic write each for it and, when built, its base), and
`reprokit images list|prune` read the records back. Images belong to the engine, not to a project: every
project (and every checkout of one) on the engine reuses them, so the records are kept per user, in
``$REPROKIT_IMAGE_USE`` or the user's cache folder, where every project's builds land in the same place.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import quote

VARIABLE = "REPROKIT_IMAGE_USE"


def usage_folder() -> Path:
    """$REPROKIT_IMAGE_USE, else $XDG_CACHE_HOME/reprokit/image-use, else ~/.cache/reprokit/image-use."""
    if os.environ.get(VARIABLE):
        return Path(os.environ[VARIABLE])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "reprokit" / "image-use"


def _file(folder: Path, tag: str) -> Path:
    return folder / (quote(tag, safe="") + ".json")


def record_use(tag: str, image_id: str, *, kind: str, folder: Path | None = None, now: float | None = None) -> None:
    """Note that ``tag`` (image ``image_id``) was used just now as a ``kind`` image (environment, case, hybrid,
    base). Never fails a build: a folder that cannot be written only loses the record."""
    record_uses({tag: (image_id, kind)}, folder=folder, now=now)


def record_uses(uses: dict[str, tuple[str, str]], *, folder: Path | None = None, now: float | None = None) -> None:
    """``record_use`` of each ``tag: (image id, kind)``: an image and the base it was built on, say."""
    from reprokit.contract.load import write_json_atomically

    for tag, (image_id, kind) in uses.items():
        path = _file(folder or usage_folder(), tag)
        record = _read(path) or {}
        used = record.get("used") if record.get("id") == image_id and isinstance(record.get("used"), dict) else {}
        try:
            write_json_atomically(path, {"tag": tag, "id": image_id, "used": {**used, kind: now or time.time()}})
        except OSError:
            pass


def last_uses(folder: Path | None = None) -> dict[str, dict]:
    """Every record by tag: ``{"tag", "id", "used": {kind: seconds since the epoch}}``."""
    folder = folder or usage_folder()
    records = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        record = _read(path)
        if record and isinstance(record.get("tag"), str) and isinstance(record.get("used"), dict):
            records[record["tag"]] = record
    return records


def forget(tags, *, folder: Path | None = None) -> None:
    """Drop the records of removed images."""
    for tag in tags:
        try:
            _file(folder or usage_folder(), tag).unlink()
        except OSError:
            pass


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
