"""Split a replay into shards for CI matrices: deterministic, disjoint, complete, balanced, images kept together.

Every runner of a matrix computes the whole plan from the same inputs and keeps its own part, so there is
no coordinator: the shards are disjoint and their union is the full replay only because every runner gets
the same answer. Hence nothing here may depend on the machine or the process: groups are named by their
cases, never by image tags (those hash the host's CA bundle) or by ``hash()`` (seeded per process), and
every order is a sort on names.

1. Group: cases whose two environments need the same set of images go together, so a runner builds or pulls
   each image once. (Grouping by *shared* images instead would put nearly every case in one group: most
   cases share the baseline.)
2. Weigh: a group weighs the sum of its cases' recorded durations; a case with none weighs the median of
   the known ones; with no durations at all every case weighs 1 (balanced by count).
3. Assign: longest processing time first (Graham, 1969): the heaviest group goes to the lightest shard,
   ties broken by group name and shard number. A group is never split, even one heavier than the mean.
"""
from __future__ import annotations

import hashlib
import json
import re
import statistics
from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Mapping

from reprokit.errors import InvalidValue

SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``; shards are numbered from 1 to N."""
    match = SHARD.fullmatch(text or "")
    if not match:
        raise InvalidValue(f"--shard {text!r} is not I/N", hint="give this runner's shard and the number of "
                           "shards, numbered from 1: --shard 1/4 ... --shard 4/4")
    return check_shard(int(match[1]), int(match[2]), given=f"--shard {text!r}")


def check_shard(index: int, total: int, *, given: str | None = None) -> tuple[int, int]:
    """``(index, total)`` when shard ``index`` of ``total`` exists, else an error saying which do."""
    given = given or f"shard {index}/{total}"
    if total < 1:
        raise InvalidValue(f"{given}: the number of shards must be at least 1", hint="e.g. --shard 1/2")
    if not 1 <= index <= total:
        raise InvalidValue(f"{given}: the shard must be between 1 and {total}",
                           hint=f"shards are numbered from 1: --shard 1/{total} ... --shard {total}/{total}")
    return index, total


class Balance(Enum):
    """What the shards were balanced on."""

    TIME = "time"
    COUNT = "count"

    def describe(self) -> str:
        return {Balance.TIME: "balanced by recorded time",
                Balance.COUNT: "balanced by case count (no durations: --durations-from REPORT.xml|history)"}[self]


@dataclass(frozen=True)
class Group:
    """Cases that need the same images; its name is its first case's, so it is the same on every machine."""

    cases: tuple[str, ...]
    seconds: float

    @property
    def name(self) -> str:
        return self.cases[0]


@dataclass(frozen=True)
class Plan:
    """Every shard's groups. ``shards[0]`` is shard 1."""

    shards: tuple[tuple[Group, ...], ...]
    balance: Balance

    def cases(self, index: int) -> tuple[str, ...]:
        """The cases of shard ``index`` (1-based), sorted."""
        return tuple(sorted(case for group in self.shards[index - 1] for case in group.cases))

    def seconds(self, index: int) -> float:
        """Estimated time of shard ``index`` (1-based): case count when balanced by count."""
        return sum(group.seconds for group in self.shards[index - 1])

    @property
    def fingerprint(self) -> str:
        """Equal on two runners exactly when they computed the same plan: compare it across a matrix."""
        data = [[list(group.cases) for group in shard] for shard in self.shards]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:12]

    def describe(self, index: int) -> str:
        """One line for the log: what this shard runs, its estimate against the mean, and the plan's fingerprint."""
        total = sum(len(group.cases) for shard in self.shards for group in shard)
        groups = sum(len(shard) for shard in self.shards)
        mean = sum(self.seconds(i) for i in range(1, len(self.shards) + 1)) / len(self.shards)
        load = f", estimated {self.seconds(index):.1f}s (mean {mean:.1f}s)" if self.balance is Balance.TIME \
            else f" (mean {mean:.1f})"
        return (f"shard {index}/{len(self.shards)}: {len(self.cases(index))} of {total} case(s) in "
                f"{len(self.shards[index - 1])} of {groups} image group(s){load}; {self.balance.describe()}; "
                f"plan {self.fingerprint}")


def group_cases(images: Mapping[str, Iterable[str]], seconds: Mapping[str, float]) -> list[Group]:
    """One group per distinct set of images, sorted by name; ``seconds`` weighs each case."""
    by_images: dict[frozenset[str], list[str]] = {}
    for case in sorted(images):
        by_images.setdefault(frozenset(images[case]), []).append(case)
    groups = [Group(tuple(cases), sum(seconds[c] for c in cases)) for cases in by_images.values()]
    return sorted(groups, key=lambda group: group.name)


def weights(cases: Iterable[str], durations: Mapping[str, float] | None) -> tuple[dict[str, float], Balance]:
    """Each case's weight: its recorded duration, else the median of those known; 1 each when none is known."""
    cases = list(cases)
    known = {case: float(durations[case]) for case in cases if durations and durations.get(case) is not None}
    if not known:
        return {case: 1.0 for case in cases}, Balance.COUNT
    typical = statistics.median(known.values())
    return {case: known.get(case, typical) for case in cases}, Balance.TIME


def plan(images: Mapping[str, Iterable[str]], total: int, *,
         durations: Mapping[str, float] | None = None) -> Plan:
    """Assign every case (name -> the image tags it needs) to one of ``total`` shards.

    ``durations`` (name -> seconds) balances by time; cases missing from it weigh the median."""
    if total < 1:
        raise InvalidValue(f"cannot split into {total} shards", hint="use at least 1")
    seconds, balance = weights(images, durations)
    shards: list[list[Group]] = [[] for _ in range(total)]
    loads = [0.0] * total
    for group in sorted(group_cases(images, seconds), key=lambda g: (-g.seconds, g.name)):
        lightest = min(range(total), key=lambda i: (loads[i], i))
        shards[lightest].append(group)
        loads[lightest] += group.seconds
    return Plan(tuple(tuple(shard) for shard in shards), balance)
