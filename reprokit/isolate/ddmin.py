"""The search behind isolate and bisect: ddmin (complement-first) and release bisection over an oracle; pure, no Docker.

ddmin is Zeller & Hildebrandt, "Simplifying and Isolating Failure-Inducing Input" (TSE 2002), with two changes
from Hodován & Kiss, "Practical Improvements to the Minimizing Delta Debugging Algorithm" (ICSOFT 2016):
complements are tried before subsets, and subsets are skipped at granularity 2 (there they equal the
complements). A probe whose hybrid could not be built is UNRESOLVED and never decides anything.
"""
from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Callable, Generic, Hashable, Iterable, Sequence, TypeVar

T = TypeVar("T", bound=Hashable)


class Outcome(str, Enum):
    """What one probe says about the bug."""

    FAIL = "FAIL"
    PASS = "PASS"
    UNRESOLVED = "UNRESOLVED"

    def describe(self) -> str:
        return {
            "FAIL": "the bug shows: this set of differences is enough to cause it",
            "PASS": "the bug does not show with this set of differences",
            "UNRESOLVED": "the hybrid could not be built or started: counts neither way",
        }[self.value]


class Phase(str, Enum):
    """Why a probe ran: which part of the search asked for it."""

    ENDPOINT = "endpoint"
    SEARCH = "search"
    CONFIRM = "confirm"
    FIND_ALL = "find-all"

    def __str__(self) -> str:
        return self.value

    def describe(self) -> str:
        return {"endpoint": "the baseline or the full customer environment, checked before searching",
                "search": "a hybrid ddmin tried while narrowing the difference down",
                "confirm": "the cause with one atom left out, checking it is 1-minimal",
                "find-all": "a further cause looked for after the first (--find-all)"}[self.value]


class BuildStatus(str, Enum):
    """What a probe's image took."""

    BUILT = "built"
    REUSED = "reused"
    FAILED = "failed"
    CACHED = "cached"
    NONE = "-"

    def __str__(self) -> str:
        return self.value

    def describe(self) -> str:
        return {"built": "an image was built for it", "reused": "an existing image was reused",
                "failed": "its image could not be built or its container started",
                "cached": "its outcome came from the cache of earlier isolations: nothing ran",
                "-": "the prober did not say"}[self.value]


@dataclass(frozen=True)
class Trial:
    """What one probe observed: ``runs`` attempts, ``matches`` of them showed the bug's signature."""

    runs: int
    matches: int
    built: bool | None = None  # True: an image was built for it; False: an existing one was reused
    error: str | None = None  # the hybrid could not be built or started

    @property
    def outcome(self) -> Outcome:
        if self.error is not None or self.runs == 0:
            return Outcome.UNRESOLVED
        return Outcome.FAIL if self.matches else Outcome.PASS


@dataclass(frozen=True)
class ProbeRecord:
    """One row of the probe table."""

    index: int
    phase: Phase
    applied: tuple[str, ...]
    outcome: Outcome
    runs: int
    matches: int
    build: BuildStatus
    duration_s: float
    cache_hit: bool
    error: str | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "outcome": self.outcome.value, "phase": self.phase.value, "build": self.build.value}


@dataclass
class SearchReport(Generic[T]):
    """Everything a search found and did."""

    causes: list[list[T]]
    unconfirmed: list[T]  # items of a cause whose removal could not be tested (1-minimality not shown)
    unresolved_candidates: list[str]  # labels of items in hybrids that could not be built: the answer could hide there
    records: list[ProbeRecord]
    baseline_rate: float
    customer_rate: float
    confidence: float
    wall_s: float
    phase_s: dict[str, float] = field(default_factory=dict)  # wall seconds per phase (Phase values), in order

    @property
    def minimal(self) -> list[T]:
        return self.causes[0] if self.causes else []

    def totals(self) -> dict:
        fresh = [r for r in self.records if not r.cache_hit]
        return {"probes": len(fresh), "builds": sum(r.build is BuildStatus.BUILT for r in fresh),
                "runs": sum(r.runs for r in fresh), "cache_hits": len(self.records) - len(fresh),
                "unresolved": sum(r.outcome is Outcome.UNRESOLVED for r in fresh),
                "search_probes": sum(r.phase is not Phase.ENDPOINT for r in fresh), "wall_s": round(self.wall_s, 2)}


class Search(Generic[T]):
    """Probes hybrids through ``prober`` with a cache keyed by content, and records every probe."""

    def __init__(self, prober: Callable[[frozenset[T]], Trial], *, jobs: int = 1,
                 key: Callable[[frozenset[T]], str] | None = None, label: Callable[[T], str] = str,
                 cache: dict[str, Trial] | None = None, on_probe: Callable[[ProbeRecord], None] | None = None,
                 kind: Callable[[T], Hashable] | None = None, on_phase: Callable[[Phase], None] | None = None):
        self.prober, self.jobs, self.label, self.on_probe, self.kind = prober, max(1, jobs), label, on_probe, kind
        self.on_phase = on_phase
        self.phase_s: dict[str, float] = {}
        self._phase: tuple[Phase, float] | None = None
        self.key = key or (lambda config: hashlib.sha256("\0".join(sorted(map(label, config))).encode()).hexdigest())
        self.cache = cache if cache is not None else {}
        self.records: list[ProbeRecord] = []
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Event] = {}

    def enter(self, phase: Phase | None) -> None:
        """Start timing ``phase`` (None: stop); the time since the last call goes to the phase it started."""
        now = time.monotonic()
        if self._phase is not None:
            name, since = self._phase[0].value, self._phase[1]
            self.phase_s[name] = round(self.phase_s.get(name, 0.0) + now - since, 2)
        self._phase = (phase, now) if phase is not None else None
        if phase is not None and self.on_phase:
            self.on_phase(phase)

    def probe_all(self, configs: Sequence[frozenset[T]], phase: Phase) -> list[Outcome]:
        """Probe every config, ``jobs`` at a time; outcomes in the configs' order."""
        if self.jobs == 1 or len(configs) < 2:
            return [self.probe(c, phase) for c in configs]
        with ThreadPoolExecutor(min(self.jobs, len(configs))) as pool:
            return list(pool.map(lambda c: self.probe(c, phase), configs))

    def probe(self, config: frozenset[T], phase: Phase) -> Outcome:
        key = self.key(config)
        with self._lock:
            waiting = self._pending.get(key)
            owner = waiting is None and key not in self.cache
            if owner:
                self._pending[key] = threading.Event()
        if waiting is not None:  # the same hybrid is being probed by another thread: wait, then reuse it
            waiting.wait()
        if not owner:
            return self._record(config, phase, self.cache[key], 0.0, cache_hit=True)
        started = time.monotonic()
        try:
            trial = self.prober(config)
        except Exception as error:  # noqa: BLE001 - a broken probe is UNRESOLVED, never a verdict
            trial = Trial(0, 0, error=f"{type(error).__name__}: {error}")
        with self._lock:
            self.cache[key] = trial
            self._pending.pop(key).set()
        return self._record(config, phase, trial, time.monotonic() - started, cache_hit=False)

    def _record(self, config: frozenset[T], phase: Phase, trial: Trial, duration: float, *, cache_hit: bool) -> Outcome:
        build = BuildStatus.CACHED if cache_hit else BuildStatus.FAILED if trial.error else \
            {True: BuildStatus.BUILT, False: BuildStatus.REUSED, None: BuildStatus.NONE}[trial.built]
        with self._lock:
            record = ProbeRecord(len(self.records) + 1, Phase(phase), tuple(sorted(map(self.label, config))),
                                 trial.outcome, trial.runs, trial.matches, build, round(duration, 2), cache_hit,
                                 trial.error)
            self.records.append(record)
        if self.on_probe:
            self.on_probe(record)
        return trial.outcome

    def first_failing(self, configs: Sequence[frozenset[T]], phase: Phase) -> int | None:
        """The index of the first config that FAILs; with jobs > 1, ``jobs`` configs are probed at a time."""
        if self.jobs == 1:
            return next((i for i, c in enumerate(configs) if self.probe(c, phase) is Outcome.FAIL), None)
        with ThreadPoolExecutor(self.jobs) as pool:
            for start in range(0, len(configs), self.jobs):
                batch = configs[start:start + self.jobs]
                outcomes = list(pool.map(lambda c: self.probe(c, phase), batch))
                hit = next((i for i, o in enumerate(outcomes) if o is Outcome.FAIL), None)
                if hit is not None:
                    return start + hit
        return None

    def ddmin(self, items: Sequence[T], phase: Phase = Phase.SEARCH) -> list[T]:
        """A 1-minimal failing subset of ``items`` (which must FAIL as a whole)."""
        current, n = list(items), 2
        first = self._by_kind(current)
        while len(current) >= 2:
            parts, first = first or split(current, n), None
            complements = [[x for x in current if x not in part] for part in parts]
            hit = self.first_failing([frozenset(c) for c in complements], phase)
            if hit is not None:
                current, n = complements[hit], max(n - 1, 2)
                continue
            if n > 2:  # at n == 2 the subsets are the complements, already probed
                hit = self.first_failing([frozenset(p) for p in parts], phase)
                if hit is not None:
                    current, n = parts[hit], 2
                    continue
            if n >= len(current):
                break
            n = min(2 * n, len(current))
        return current

    def _by_kind(self, items: list[T]) -> list[list[T]] | None:
        """The first split by kind (e.g. needs-a-build vs applied-at-run-time) instead of by position, so that
        one half of the first round reuses the customer's image and the other the baseline's."""
        if self.kind is None:
            return None
        kinds: dict[Hashable, list[T]] = {}
        for item in items:
            kinds.setdefault(self.kind(item), []).append(item)
        return list(kinds.values()) if len(kinds) == 2 else None

    def confirm(self, cause: list[T]) -> list[T]:
        """Check the cause FAILs and removing any one item PASSes; the items whose removal was UNRESOLVED."""
        self.enter(Phase.CONFIRM)
        found = self.probe_all([frozenset(cause)] + [frozenset(cause) - {item} for item in cause], Phase.CONFIRM)
        outcomes = dict(zip(cause, found[1:]))
        if any(o is Outcome.FAIL for o in outcomes.values()):  # cannot happen after ddmin; kept as a guard
            raise AssertionError(f"not 1-minimal: {outcomes}")
        return [item for item, outcome in outcomes.items() if outcome is Outcome.UNRESOLVED]


def split(items: list[T], n: int) -> list[list[T]]:
    """``items`` in ``n`` contiguous parts whose sizes differ by at most one."""
    size, extra = divmod(len(items), n)
    parts, start = [], 0
    for i in range(n):
        end = start + size + (i < extra)
        parts.append(items[start:end])
        start = end
    return [p for p in parts if p]


def search(items: Sequence[T], prober: Callable[[frozenset[T]], Trial], *, jobs: int = 1, find_all: bool = False,
           check_endpoints: Callable[[ProbeRecord, ProbeRecord], None] | None = None,
           **options) -> SearchReport[T]:
    """Verify the endpoints (both at once with ``jobs`` > 1), minimize, confirm 1-minimality, and with
    ``find_all`` look for further causes."""
    started = time.monotonic()
    engine: Search[T] = Search(prober, jobs=jobs, **options)
    everything = list(items)
    engine.enter(Phase.ENDPOINT)
    engine.probe_all([frozenset(), frozenset(everything)], Phase.ENDPOINT)
    baseline, customer = sorted(engine.records[:2], key=lambda r: len(r.applied))
    (check_endpoints or default_endpoint_check)(baseline, customer)
    causes, unconfirmed = [], []
    remaining = everything
    while remaining:
        engine.enter(Phase.SEARCH if not causes else Phase.FIND_ALL)
        if causes and engine.probe(frozenset(remaining), Phase.FIND_ALL) is not Outcome.FAIL:
            break
        cause = engine.ddmin(remaining, Phase.SEARCH if not causes else Phase.FIND_ALL)
        unconfirmed += engine.confirm(cause)
        causes.append(cause)
        if not find_all:
            break
        remaining = [x for x in remaining if x not in cause]
    engine.enter(None)
    return SearchReport(causes, unconfirmed, _unresolved_candidates(engine, causes), engine.records,
                        rate(baseline), rate(customer), confidence(engine.records, rate(customer)),
                        time.monotonic() - started, engine.phase_s)


def default_endpoint_check(baseline: ProbeRecord, customer: ProbeRecord, *, subject: str = "",
                           names: tuple[str, str] = ("baseline", "customer environment"),
                           reproduce: str | None = None) -> None:
    """The baseline must PASS and the customer environment FAIL, else the search cannot start."""
    from reprokit.errors import IsolateError

    for record, role, wanted in ((baseline, names[0], Outcome.PASS), (customer, names[1], Outcome.FAIL)):
        if record.outcome is not wanted:
            raise IsolateError(f"{subject}the {role} gives {record.outcome.value} ({record.matches}/{record.runs} "
                               f"runs show the bug{'; ' + record.error if record.error else ''}); isolation needs "
                               "the baseline to PASS and the customer environment to FAIL",
                               hint="check the case's expect signature, or use --repeat for a flaky bug",
                               reproduce=reproduce)


def rate(record: ProbeRecord) -> float:
    return round(record.matches / record.runs, 3) if record.runs else 0.0


def confidence(records: Iterable[ProbeRecord], customer_rate: float) -> float:
    """The chance that no PASS decision was a flaky miss, if every failing hybrid shows the bug at the customer's
    measured rate: the product over distinct PASS probes of 1 - (1 - rate) ** runs."""
    if customer_rate <= 0:
        return 0.0
    result, seen = 1.0, set()
    for record in records:
        if record.outcome is Outcome.PASS and record.phase is not Phase.ENDPOINT and record.applied not in seen:
            seen.add(record.applied)
            result *= 1 - (1 - customer_rate) ** record.runs
    return round(result, 4)


def _unresolved_candidates(engine: Search[T], causes: list[list[T]]) -> list[str]:
    """Labels of items in unresolved hybrids that are in no cause: a smaller or other answer could hide there."""
    found = {engine.label(x) for cause in causes for x in cause}
    names = {name for r in engine.records if r.outcome is Outcome.UNRESOLVED and r.phase is not Phase.ENDPOINT
             for name in r.applied}
    return sorted(names - found)


@dataclass
class BisectReport:
    """The first bad release, the last good one, and the releases that could not be tested."""

    first_bad: str
    last_good: str
    skipped: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)  # more than one: skipped releases hide the answer
    tested: list[tuple[str, Outcome]] = field(default_factory=list)


def bisect_versions(versions: Sequence[str], test: Callable[[str], Outcome]) -> BisectReport:
    """Binary search for the first FAILing release; ``versions[0]`` is known good, ``versions[-1]`` known bad.
    An UNRESOLVED release is skipped, as `git bisect` does for exit code 125, and the nearest other is tried."""
    good, bad, skipped, tested = 0, len(versions) - 1, set(), []
    while True:
        between = [i for i in range(good + 1, bad) if i not in skipped]
        if not between:
            break
        middle = (good + bad) / 2
        i = min(between, key=lambda j: (abs(j - middle), j))
        outcome = test(versions[i])
        tested.append((versions[i], outcome))
        if outcome is Outcome.FAIL:
            bad = i
        elif outcome is Outcome.PASS:
            good = i
        else:
            skipped.add(i)
    return BisectReport(versions[bad], versions[good], [versions[i] for i in sorted(skipped)],
                        [versions[i] for i in range(good + 1, bad + 1)], tested)
