"""The network of an environment's containers (`network: bridge` or `none`)."""
from __future__ import annotations

from typing import Any, Literal

from reprokit.aspects.base import Aspect, SpecField


class Network(Aspect):
    """`network: none` cuts the container off; applied when the container is created."""

    name = "network"
    fields = {"network": SpecField(Literal["bridge", "none"], "bridge")}
    rebuild = False

    def container(self, spec) -> dict[str, Any]:
        return {"network": spec.network}
