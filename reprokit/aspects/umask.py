"""The umask of the steps' processes (`umask: "0077"`). Docker has no umask flag, so each step sets it first."""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from reprokit.aspects.base import Aspect, ImportContext, SpecField


def _octal_text(value: Any) -> Any:
    # YAML reads an unquoted 0077 as the number 77 (1.2) or 63 (1.1 octal): refuse rather than guess.
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"{value!r} was read as a number; quote the umask, e.g. umask: \"0077\"")
    return value


def _umask(value: str | None) -> str | None:
    if value is not None and not re.match(r"^0?[0-7]{3}$", value):
        raise ValueError(f"{value!r} is not an octal umask; write e.g. \"0077\" or \"022\"")
    return None if value is None else value.zfill(4)


class Umask(Aspect):
    """`umask: "0077"`. Applied in each step's own shell (and in `env run`): no rebuild. Files reprokit copies
    in keep their own modes (0644); files the steps create get the customer's."""

    name = "umask"
    fields = {"umask": SpecField(Annotated[str | None, BeforeValidator(_octal_text), AfterValidator(_umask)], None,
                                 description="umask of the step processes, e.g. \"0077\"")}
    rebuild = False
    fact_script = "section umask; umask"

    def step_prelude(self, spec) -> str:
        return f"umask {spec.umask}" if spec.umask else ""

    def read_facts(self, sections) -> dict[str, Any]:
        return {"umask": (sections.get("umask") or [""])[0].zfill(4)}

    def check(self, spec, facts) -> str | None:
        if spec.umask and facts.get("umask") != spec.umask:
            return f"{spec.umask} declared, the steps' shell says {facts.get('umask')}"
        return None

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        value = str(context.facts.get("umask") or "")
        return {"umask": value.zfill(4)} if re.match(r"^0?[0-7]{3}$", value) and value.zfill(4) != "0022" else {}
