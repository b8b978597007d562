"""Files an environment carries (`files: {/etc/acme/acme.ini: text}`), at absolute paths."""
from __future__ import annotations

from typing import Any

from reprokit.aspects.base import Aspect, ImportContext, Layer, Merge, SpecField, mapping
from reprokit.contract.values import absolute

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
        """One COPY of every file, after the packages: editing a file rebuilds in about a second."""
        return "COPY rootfs/ /" if spec.files else ""

    def context(self, spec, options) -> dict[str, bytes]:
        return {"rootfs/" + path.lstrip("/"): text.encode() for path, text in spec.files.items()}

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        files = mapping(context.facts.get("files"))
        context.lost.extend(f"file {path}: the collector could not read it" for path, text in files.items()
                            if text == "<unreadable>")
        return {"files": {path: text for path, text in files.items() if text != "<unreadable>"}}
