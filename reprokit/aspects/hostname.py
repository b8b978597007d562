"""The hostname the steps see (`hostname: acme-app01`)."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, SpecField
from reprokit.contract.values import HOSTNAME


def _hostname(value: str | None) -> str | None:
    if value is not None and not HOSTNAME.match(value):
        raise ValueError(f"{value!r} is not a hostname; write letters, digits and '-', e.g. 'acme-app01'")
    return value


class Hostname(Aspect):
    """`hostname: acme-app01`; set when the container is created (no rebuild)."""

    name = "hostname"
    fields = {"hostname": SpecField(Annotated[str | None, AfterValidator(_hostname)], None)}
    rebuild = False
    fact_script = "section hostname; cat /proc/sys/kernel/hostname"

    def container(self, spec) -> dict[str, Any]:
        return {"hostname": spec.hostname} if spec.hostname else {}

    def read_facts(self, sections) -> dict[str, Any]:
        return {"hostname": (sections.get("hostname") or [""])[0]}

    def check(self, spec, facts) -> str | None:
        if spec.hostname and facts.get("hostname") != spec.hostname:
            return f"{spec.hostname!r} declared, the container's hostname is {facts.get('hostname')!r}"
        return None

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        if context.kind == "image":  # the collector's own throwaway container, not the customer's machine
            return {}
        name = str(context.facts.get("hostname") or "")
        return {"hostname": name} if name and HOSTNAME.match(name) and "<redacted" not in name else {}
