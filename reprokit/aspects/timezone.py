"""The timezone of an environment (`timezone: Asia/Kolkata`): /etc/localtime, from tzdata."""
from __future__ import annotations

import re
import shlex
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, Layer, SpecField, mapping

ZONE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")


def _zone(value: str | None) -> str | None:
    if value is not None and not ZONE.match(value):
        raise ValueError(f"{value!r} is not a tz database name; write e.g. 'Asia/Kolkata' or 'UTC'")
    return value


class Timezone(Aspect):
    """`timezone: Europe/Berlin`."""

    name = "timezone"
    fields = {"timezone": SpecField(Annotated[str | None, AfterValidator(_zone)], None)}
    layer = Layer.TIMEZONE
    fact_script = "section timezone; date +'%Z %z'; readlink /etc/localtime 2>/dev/null"

    def platform_packages(self, spec) -> list[str]:
        return ["tzdata"] if spec.timezone else []

    def render(self, spec, options) -> str:
        """Set /etc/localtime. Cheap (~1 s); rebuilt when the zone changes."""
        if not spec.timezone:
            return ""
        zone = shlex.quote(spec.timezone)
        return (f"RUN test -e /usr/share/zoneinfo/{zone} || {{ echo 'unknown timezone {spec.timezone}' >&2; exit 1; }} \\\n"
                f" && ln -snf /usr/share/zoneinfo/{zone} /etc/localtime && echo {zone} > /etc/timezone")

    def check(self, spec, facts) -> str | None:
        if spec.timezone and spec.timezone not in str(facts.get("timezone", "")):
            return f"timezone {spec.timezone}: found {facts.get('timezone') or 'unknown'}"
        return None

    def read_facts(self, sections) -> dict[str, Any]:
        return {"timezone": " ".join(sections.get("timezone", []))}

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        zone = str(mapping(context.facts.get("timezone")).get("name") or "").lstrip(":")
        if zone.startswith("/") or (zone and not ZONE.match(zone)):
            context.lost.append(f"timezone {zone!r} is not a tz database name; not set")
            return {}
        return {"timezone": zone or None}
