"""The folder the steps run in (`workdir: /work`), where a case's files are copied."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, Layer, SpecField
from reprokit.contract.values import absolute


class Workdir(Aspect):
    """`workdir: /srv/app` (default /work)."""

    name = "workdir"
    fields = {"workdir": SpecField(Annotated[str, AfterValidator(absolute)], "/work")}
    layer = Layer.WORKDIR

    def render(self, spec, options) -> str:
        """WORKDIR: metadata only, no cost."""
        return f"WORKDIR {spec.workdir}"
