"""Files an environment carries (`files: {/etc/acme/acme.ini: text}`), at absolute paths."""
from __future__ import annotations

import json
from typing import Any

from reprokit.aspects.base import Aspect, ImportContext, Layer, Merge, SpecField, mapping
from reprokit.contract.values import absolute
from reprokit.engine.protocol import FileEntry

from pydantic import AfterValidator
from typing import Annotated


def _files(value: dict[str, str]) -> dict[str, str]:
    for path in value:
        absolute(path)
    return value


class Files(Aspect):
    """`files: {path: text}` ({source: file} is read by the loader). COPYed into the image; isolate's probes copy
    them in at container start instead."""

    name = "files"
    fields = {"files": SpecField(Annotated[dict[str, str], AfterValidator(_files)], {}, merge=Merge.MAP, sources=True,
                                 description="absolute path in the container -> text")}
    layer = Layer.FILES
    rebuild = False
    overlay = True

    def render(self, spec, options) -> str:
        """One COPY per folder of files, after the packages and the user: editing a file rebuilds in about a
        second. Files, not folders, are copied, so a folder that exists (the workdir, a home) keeps its owner
        and mode, and a missing one is made root's, 0755: what copying them in at container start does."""
        folders: dict[str, list[str]] = {}
        for path in sorted(spec.files):
            folders.setdefault(path.rsplit("/", 1)[0] + "/", []).append("rootfs/" + path.lstrip("/"))
        return "\n".join(f"COPY {json.dumps([*sources, folder])}" for folder, sources in folders.items())

    def context(self, spec, options) -> dict[str, bytes]:
        return {"rootfs/" + path.lstrip("/"): text.encode() for path, text in spec.files.items()}

    def applied_at_start(self, spec) -> bool:
        """Not on a read-only root: there they stay in the image."""
        return not spec.read_only

    def start_files(self, spec) -> dict[str, Any]:
        """Owned by root, mode 0644, as the image's COPY leaves them (missing folders: root, 0755, either way)."""
        return {path: FileEntry(text.encode(), owner="0:0", mode=0o644) for path, text in spec.files.items()}

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        files = mapping(context.facts.get("files"))
        context.lost.extend(f"file {path}: the collector could not read it" for path, text in files.items()
                            if text == "<unreadable>")
        return {"files": {path: text for path, text in files.items() if text != "<unreadable>"}}
