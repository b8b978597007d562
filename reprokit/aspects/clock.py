"""The clock the steps see (`clock: "+400d"` or `"2028-01-01 00:00:00"`), faked with libfaketime.

libfaketime (Debian's `faketime`) is preloaded into each step's own shell, so python, openssl, date and every
dynamically linked program the step starts see the faked time; the build, reprokit's runner and `timeout` do
not. It cannot reach statically linked programs (busybox-static, most Go binaries): they see the real clock."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, SpecField

OFFSET = re.compile(r"^([+-])(\d+)([smhdy])$")
ABSOLUTE = re.compile(r"^\d{4}-\d\d-\d\d( \d\d:\d\d(:\d\d)?)?$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
TOLERANCE_S = 3600  # facts are read once per image and configuration; an hour covers the runs in between
# `env import --collected-at`: a customer clock further off than this becomes `clock`. A ticket's time is
# often written minutes to hours after the collector ran, so only a drift beyond a day is taken as the clock's.
THRESHOLD_S = 86_400


def _clock(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    if OFFSET.match(value):
        return value
    if ABSOLUTE.match(value):
        try:
            start(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a real date and time ({error})") from None
        return value
    raise ValueError(f"{value!r} is not a clock; write an offset like \"+400d\", \"-2h\", \"+90m\" (s, m, h, d, y) "
                     "or an absolute start like \"2028-01-01 00:00:00\" (UTC)")


def offset_seconds(value: str) -> int | None:
    """'+400d' -> 34560000; None for an absolute clock."""
    match = OFFSET.match(value)
    if not match:
        return None
    sign, number, unit = match.groups()
    return (1 if sign == "+" else -1) * int(number) * UNIT_S[unit]


def start(value: str) -> datetime:
    """An absolute clock's start, in UTC."""
    text = value if len(value) > 10 else value + " 00:00:00"
    return datetime.strptime(text if text.count(":") == 2 else text + ":00", "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=timezone.utc)


def faketime_shell(value: str) -> str:
    """Shell for libfaketime's FAKETIME: an offset as is; an absolute start as the offset from now, worked out
    when the step starts ('@DATE' would restart the clock at DATE in every process the step runs)."""
    if OFFSET.match(value):
        return f"'{value}'"
    seconds = f"$(( {int(start(value).timestamp())} - $(date -u +%s) ))"
    return f"\"$(o={seconds}; [ \"$o\" -lt 0 ] && echo \"$o\" || echo \"+$o\")\""


class Clock(Aspect):
    """`clock:`. The faketime package goes into the platform layer (rebuild when a clock is first declared);
    the offset itself is applied per step."""

    name = "clock"
    fields = {"clock": SpecField(Annotated[str | None, AfterValidator(_clock)], None,
                                 description="the clock the steps see: an offset like '+400d' or an absolute "
                                             "start like '2028-01-01 00:00:00' (UTC); libfaketime")}
    fact_script = ("section clock; date -u +%s; env -u LD_PRELOAD -u FAKETIME date -u +%s")

    def platform_packages(self, spec) -> list[str]:
        return ["faketime"] if spec.clock else []

    def step_prelude(self, spec) -> str:
        if not spec.clock:
            return ""
        # Only the step's own shell and what it starts: the runner and `timeout` keep the real clock.
        # (FAKETIME_DONT_FAKE_MONOTONIC=1 would make python 3.11's time.sleep fail with EINVAL.)
        return ("export LD_PRELOAD=\"$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)\" "
                f"FAKETIME={faketime_shell(spec.clock)}")

    def notes(self, spec) -> list[str]:
        if not spec.clock:
            return []
        return [f"clock {spec.clock}: libfaketime is preloaded into every step's shell, so python, openssl, date "
                "and other dynamically linked programs see it; statically linked programs (busybox-static, most "
                "Go binaries) and the build see the real clock"]

    def read_facts(self, sections) -> dict[str, Any]:
        lines = sections.get("clock") or []
        if len(lines) < 2 or not all(line.strip().isdigit() for line in lines[:2]):
            return {}
        faked, real = int(lines[0]), int(lines[1])
        if abs(faked - real) < 5:  # two `date` calls a moment apart: the same clock
            return {"clock": "host"}
        shown = datetime.fromtimestamp(faked, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        return {"clock": f"faked: {shown}", "clock_offset_h": f"{round((faked - real) / 3600):+d}"}

    def check(self, spec, facts) -> str | None:
        if not spec.clock or "clock" not in facts:
            return None
        seen = facts["clock"]
        if seen == "host":
            return f"{spec.clock} declared, but the steps see the host's clock (is libfaketime installed?)"
        offset = offset_seconds(spec.clock)
        if offset is not None:
            hours = int(facts.get("clock_offset_h", "0"))
            if abs(hours * 3600 - offset) > TOLERANCE_S:
                return f"{spec.clock} declared, the steps' clock is off by {hours:+d} h"
            return None
        declared = start(spec.clock)
        observed = datetime.strptime(seen.removeprefix("faked: "), "%Y-%m-%d %H:%M UTC").replace(tzinfo=timezone.utc)
        if abs((observed - declared).total_seconds()) > TOLERANCE_S:
            return f"{spec.clock} declared, the steps' clock says {observed:%Y-%m-%d %H:%M} UTC"
        return None

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        """The customer's clock against when the collection was really taken (``options['collected_at']``, e.g.
        the ticket's time): further off than THRESHOLD_S becomes an offset."""
        machine_time = context.facts.get("time_epoch")
        truth = context.options.get("collected_at")
        if not isinstance(machine_time, (int, float)) or truth is None:
            return {}
        drift = int(machine_time - truth.timestamp())
        if abs(drift) <= THRESHOLD_S:
            return {}
        hours = round(drift / 3600)
        offset = f"{hours // 24:+d}d" if hours % 24 == 0 else f"{hours:+d}h"
        context.notes.append(f"clock: the customer's machine was {drift:+d} s off when collected (more than "
                             f"{THRESHOLD_S} s from --collected-at); clock: \"{offset}\"")
        return {"clock": offset}
