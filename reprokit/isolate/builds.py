"""Isolate's builds: up to --jobs at once, shared first steps built once, and what each phase of the search cost.

A hybrid's Dockerfile differs from the baseline's only after the first layer an atom changes, so hybrids built
at once would each build the same first steps (apt installs, mostly). `SharedBuilds` lets a build whose first
steps are those of a build in progress wait until that build has passed them (the builder's "Step N/M" lines
say how far it is); Docker's layer cache then gives them to the waiting build. Builds that share nothing run
side by side."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

from reprokit.engine import BuildOutcome, Engine, get_engine
from reprokit.isolate.ddmin import BuildStatus, ProbeRecord

STEP_LINE = re.compile(r"^(?:Step|STEP) (\d+)/\d+")  # Docker's classic builder; Podman's buildah


def step_keys(dockerfile: str, context: dict[str, bytes]) -> list[str]:
    """One key per Dockerfile instruction, each standing for every step up to it (so two builds share the
    first N steps exactly when their first N keys are equal). A COPY or ADD counts the files it copies."""
    keys, chain = [], hashlib.sha256()
    for instruction in instructions(dockerfile):
        chain.update(instruction.encode() + b"\0")
        if instruction.split(None, 1)[0].upper() in ("COPY", "ADD"):
            for name in sorted(copied(instruction, context)):
                chain.update(name.encode() + b"\0" + hashlib.sha256(context[name]).digest())
        keys.append(chain.hexdigest())
    return keys


def instructions(dockerfile: str) -> list[str]:
    """The instructions of a Dockerfile (continuation lines joined; comments and blank lines left out)."""
    found, pending = [], ""
    for line in dockerfile.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\") if line.endswith("\\") else line
        if not line.endswith("\\"):
            found.append(pending)
            pending = ""
    return found + ([pending] if pending else [])


def copied(instruction: str, context: dict[str, bytes]) -> set[str]:
    """The context files a COPY/ADD instruction takes (its sources, as files or as folders)."""
    rest = instruction.split(None, 1)[1] if " " in instruction else ""
    try:
        words = json.loads(rest) if rest.lstrip().startswith("[") else shlex.split(rest)
    except ValueError:
        return set(context)  # cannot tell: count them all, at worst a build waits for nothing
    sources = [w.strip("/") for w in words[:-1] if not w.startswith("--")]
    return {name for name in context for s in sources if name == s or name.startswith(s + "/") or s in ("", ".")}


def shared_steps(a: list[str], b: list[str]) -> int:
    """How many first steps two builds' step keys share."""
    return len(os.path.commonprefix([a, b]))


@dataclass(frozen=True)
class BuildRecord:
    """One build that reached the engine: how long it waited (for shared steps in progress, then for a free
    slot), how long it took, and what Docker's cache gave it."""

    tag: str
    phase: str
    waited_s: float
    duration_s: float
    cached_steps: int  # layers Docker's cache gave it
    total_steps: int
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Progress:
    steps: list[str]
    done: int = 0  # steps finished so far


class SharedBuilds:
    """An engine whose builds run ``jobs`` at a time and wait for shared first steps in progress elsewhere; every
    other engine method is the wrapped engine's (None: the process-wide one, connected on first use, so an
    isolation whose outcomes are all cached needs no engine). ``phase`` names the part of the search builds are
    recorded under."""

    def __init__(self, engine: Engine | None, *, jobs: int = 1):
        self._inner = engine
        self.phase = ""
        self.records: list[BuildRecord] = []
        self._slots = threading.Semaphore(max(1, jobs))
        self._changed = threading.Condition()
        self._running: list[_Progress] = []

    @property
    def inner(self) -> Engine:
        if self._inner is None:
            self._inner = get_engine()
        return self._inner

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def build(self, dockerfile: str, context: dict[str, bytes], *, tag: str, labels: dict[str, str],
              on_line: Callable[[str], None], **options) -> BuildOutcome:
        steps, phase, asked = step_keys(dockerfile, context), self.phase, time.monotonic()
        # Only builds not yet registered wait, and registered ones wait only for a slot: no cycle, no deadlock.
        with self._changed:
            self._changed.wait_for(lambda: not any(p.done < shared_steps(p.steps, steps) for p in self._running))
            progress = _Progress(steps)
            self._running.append(progress)

        def follow(line: str) -> None:
            if found := STEP_LINE.match(line):
                with self._changed:
                    progress.done = max(progress.done, int(found.group(1)) - 1)
                    self._changed.notify_all()
            on_line(line)

        outcome, error, started = None, None, None
        try:
            with self._slots:
                started = time.monotonic()
                outcome = self.inner.build(dockerfile, context, tag=tag, labels=labels, on_line=follow, **options)
        except Exception as failure:
            error = f"{type(failure).__name__}: {failure}"
            raise
        finally:
            ended = time.monotonic()
            began = started or ended
            with self._changed:
                self._running.remove(progress)
                self._changed.notify_all()
                self.records.append(BuildRecord(tag, phase, round(began - asked, 2), round(ended - began, 2),
                                                outcome.cached_steps if outcome else 0,
                                                outcome.total_steps if outcome else len(steps), error))
        return outcome


def phase_report(phase_s: dict[str, float], probes: list[ProbeRecord], builds: list[BuildRecord]) -> list[dict]:
    """One row per phase of an isolation, in order: its wall time, probes run, outcomes taken from earlier
    isolations, builds that reached the engine, images already present, and layers Docker's cache reused.
    A phase without probes (the resolver's dry runs) has only its time."""
    rows = []
    for phase, seconds in phase_s.items():
        mine = [r for r in probes if r.phase.value == phase]
        made = [b for b in builds if b.phase == phase]
        rows.append({"phase": phase, "wall_s": round(seconds, 2), "probes": sum(not r.cache_hit for r in mine),
                     "outcomes_cached": sum(r.cache_hit for r in mine), "builds": len(made),
                     "images_present": sum(r.build is BuildStatus.REUSED for r in mine),
                     "layers_reused": sum(b.cached_steps for b in made),
                     "layers_built": sum(b.total_steps - b.cached_steps for b in made if b.error is None),
                     "waited_s": round(sum(b.waited_s for b in made), 2)})
    return rows
