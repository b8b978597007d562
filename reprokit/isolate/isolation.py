"""Isolate: split two environments' difference into atoms, group the inseparable ones, and build hybrids."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Literal

from reprokit.aspects.python import python_version
from reprokit.aspects.registry import aspect_of
from reprokit.aspects.atoms import Atom, atoms, hybrid
from reprokit.isolate.builds import BuildRecord, SharedBuilds, phase_report
from reprokit.isolate.ddmin import ProbeRecord, SearchReport, default_endpoint_check, search
from reprokit.engine import Engine
from reprokit.errors import IsolateError
from reprokit.contract.load import Project, write_json_atomically
from reprokit.aspects.base import Merge
from reprokit.contract.models import Case, EnvironmentSpec

__all__ = ["Atom", "Group", "Isolation", "atoms", "hybrid", "isolate"]
Resolution = Literal["ok", "conflict", "unknown"]


@dataclass(frozen=True)
class Group:
    """Atoms that can only change together, and why; the search applies or leaves out a whole group."""

    atoms: tuple[Atom, ...]
    reason: str = ""

    @property
    def name(self) -> str:
        return " + ".join(a.name for a in self.atoms)

    @property
    def rebuild(self) -> bool:
        return any(a.rebuild for a in self.atoms)

    def __str__(self) -> str:
        return self.name


# -- grouping -------------------------------------------------------------------------------------------------


def grouping(found: list[Atom], baseline: EnvironmentSpec, *,
             resolver: Callable[[str, tuple[str, ...]], Resolution] | None = None) -> list[Group]:
    """Group atoms that cannot change independently; image-changing groups first, run-time ones last (so halves
    of the search tend to share images)."""
    rest = list(found)
    groups: list[Group] = []
    os_atom = next((a for a in rest if a.field == "os"), None)
    if os_atom is not None:
        bound = [a for a in rest if a.field == "python" or (a.field == "system_packages" and a.customer and
                                                               "=" in a.customer)]
        before, after = python_version(baseline), python_version(hybrid(baseline, [os_atom, *bound]))
        reasons = [f"the python version ({before} -> {after}) is bound to the OS image"] if before != after else []
        if any(a.field == "system_packages" for a in bound):
            reasons.append("pinned Debian package versions come from the OS suite")
        groups.append(Group((os_atom, *bound), "; ".join(reasons)))
        rest = [a for a in rest if a is not os_atom and a not in bound]
    python_atoms = [a for a in rest if a.field == "python_packages"]
    if resolver is not None and len(python_atoms) > 1:
        for coupled in coupled_pins(python_atoms, baseline, resolver):
            groups.append(Group(tuple(coupled), "these pins only install together (pip resolver dry run)"))
            rest = [a for a in rest if a not in coupled]
    groups += [Group((a,)) for a in rest]
    return sorted(groups, key=lambda g: not g.rebuild)


def coupled_pins(python_atoms: list[Atom], baseline: EnvironmentSpec,
                 resolver: Callable[[str, tuple[str, ...]], Resolution]) -> list[list[Atom]]:
    """Sets of python package atoms that must move together: an atom whose pins conflict with the baseline's
    on their own is joined with the first other atom that makes them resolve (or with all, if none does)."""
    version = python_version(baseline)
    if version is None:
        return []
    pins = lambda chosen: hybrid(baseline, chosen).python_packages  # noqa: E731
    parent = {a: a for a in python_atoms}

    def root(a: Atom) -> Atom:
        while parent[a] is not a:
            a = parent[a]
        return a

    with ThreadPoolExecutor(4) as pool:  # each dry run is a pip process waiting on the index: ask them at once
        alone = dict(zip(python_atoms, pool.map(lambda a: resolver(version, pins([a])), python_atoms)))
    for atom in python_atoms:
        if alone[atom] != "conflict":
            continue
        partner = next((b for b in python_atoms if b is not atom and resolver(version, pins([atom, b])) == "ok"), None)
        for other in [partner] if partner else [b for b in python_atoms if b is not atom]:
            parent[root(other)] = root(atom)
    sets: dict[Atom, list[Atom]] = {}
    for atom in python_atoms:
        sets.setdefault(root(atom), []).append(atom)
    return [s for s in sets.values() if len(s) > 1]


class PipResolver:
    """Asks the host's pip whether a set of pins installs (a dry run, nothing is built); answers are cached on
    disk by python version and pins. Only a resolver conflict couples pins: a pin with no wheel for that python
    ('No matching distribution' under --only-binary) may still build from source, so it says "unknown"."""

    def __init__(self, cache: Path | None = None, *, timeout: float = 180):
        self.cache_path, self.timeout = cache, timeout
        self.calls = 0
        self._lock = threading.Lock()
        self._passing: set[str] = set()  # answers of this run only (a timeout, a network failure)
        try:
            self.answers: dict[str, str] = json.loads(cache.read_text()) if cache else {}
        except (OSError, ValueError):
            self.answers = {}

    def __call__(self, version: str, requirements: tuple[str, ...]) -> Resolution:
        key = hashlib.sha256(json.dumps([version, sorted(requirements)]).encode()).hexdigest()
        if key not in self.answers:
            answer, lasting = self._ask(version, requirements)
            with self._lock:
                self.calls += 1
                self.answers[key] = answer
                if not lasting:
                    self._passing.add(key)
                elif self.cache_path:
                    write_json_atomically(self.cache_path, {k: v for k, v in self.answers.items()
                                                            if k not in self._passing})
        return self.answers[key]  # type: ignore[return-value]

    def _ask(self, version: str, requirements: tuple[str, ...]) -> tuple[Resolution, bool]:
        """The answer, and whether it lasts: a timeout or a network failure is asked again next run."""
        with tempfile.TemporaryDirectory(prefix="reprokit-dry-run-") as target:
            # --target: pip < 24 refuses --python-version without it, even for a dry run; nothing is written.
            command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-",
                       "--ignore-installed", "--target", target, "--python-version", version,
                       "--only-binary=:all:", "--disable-pip-version-check", *requirements]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout)
            except (OSError, subprocess.TimeoutExpired):
                return "unknown", False
        if done.returncode == 0:
            return "ok", True
        if re.search(r"ResolutionImpossible|conflicting dependencies", done.stderr):
            return "conflict", True
        return "unknown", not re.search(r"Could not fetch|connection|timed out|Temporary failure", done.stderr, re.I)


# -- the minimal hybrid as an environment file ----------------------------------------------------------------


def environment_yaml(baseline: EnvironmentSpec, applied: list[Atom], *, root: Path | None = None,
                     description: str = "") -> str:
    """An environment file for the baseline plus ``applied``: ``extends`` the baseline when it is a named
    environment of the project (so the file shows only the differences), else the whole spec."""
    from reprokit.contract.load import dump_yaml

    named = root is not None and "/" not in baseline.name and (root / "environments" / f"{baseline.name}.yaml").is_file()
    doc: dict = {"description": description or f"{baseline.name} plus " + ", ".join(a.name for a in applied)}
    if named:
        doc["extends"] = baseline.name
        removals = []
        for atom in applied:
            merge = aspect_of(atom.field).fields[atom.field].merge
            shown = hybrid(baseline, [atom]).model_dump(mode="json")[atom.field]
            if atom.customer is None and not (merge is Merge.MAP and atom.key in shown):
                removals.append(atom.name if merge is not Merge.SCALAR else atom.field)
            elif merge is Merge.PACKAGES:
                doc.setdefault(atom.field, []).append(atom.customer)
            elif merge is Merge.MAP:
                doc.setdefault(atom.field, {})[atom.key] = shown[atom.key]
            else:
                doc[atom.field] = shown
        if removals:
            doc["remove"] = removals
    else:
        data = hybrid(baseline, applied).model_dump(mode="json", exclude={"name", "description"}, exclude_defaults=True)
        doc.update({k: list(v) if isinstance(v, tuple) else v for k, v in data.items()})
    return dump_yaml(doc)


# -- isolating a case -----------------------------------------------------------------------------------------


@dataclass
class Isolation:
    """What ``isolate`` found: the minimal set of atoms, every probe, the totals and the minimal hybrid."""

    case: Case
    atoms: list[Atom]
    groups: list[Group]
    report: SearchReport
    repeat: int
    jobs: int
    root: Path
    resolver_calls: int = 0
    builds: list[BuildRecord] = field(default_factory=list)  # the builds that reached the engine
    resolve_s: float = 0.0  # the resolver's dry runs, before the search

    @property
    def phases(self) -> list[dict]:
        """Per phase (resolve, endpoint, search, confirm, ...): wall time, probes, builds and cache hits."""
        return phase_report({"resolve": self.resolve_s, **self.report.phase_s}, self.report.records, self.builds)

    @property
    def minimal(self) -> list[Atom]:
        return [a for group in self.report.minimal for a in group.atoms]

    @property
    def further_causes(self) -> list[list[Atom]]:
        return [[a for group in cause for a in group.atoms] for cause in self.report.causes[1:]]

    @property
    def hybrid(self) -> EnvironmentSpec:
        return hybrid(self.case.baseline, self.minimal, name=f"{self.case.id}-minimal")

    @property
    def environment_yaml(self) -> str:
        """The minimal hybrid as an environment file: the baseline plus the differences that cause the bug."""
        return environment_yaml(self.case.baseline, self.minimal, root=self.root, description=(
            f"{self.case.id}: {self.case.baseline.name} plus the differences that cause the bug"))

    def notes(self) -> list[str]:
        notes = []
        if self.report.unconfirmed:
            notes.append("1-minimality not shown: removing " + ", ".join(g.name for g in self.report.unconfirmed)
                         + " gave a hybrid that could not be built")
        if self.report.unresolved_candidates:
            notes.append("some hybrids could not be built, so the answer could also lie among: "
                         + ", ".join(self.report.unresolved_candidates))
        if self.report.customer_rate < 1:
            notes.append(f"the bug is flaky (customer rate {self.report.customer_rate:.0%}): a PASS may be a miss; "
                         f"confidence {self.report.confidence:.1%}; raise --repeat to raise it")
        return notes

    def to_dict(self) -> dict:
        return {
            "case": self.case.id, "baseline": self.case.baseline.name, "environment": self.case.environment.name,
            "minimal": [a.to_dict() for a in self.minimal],
            "further_causes": [[a.to_dict() for a in cause] for cause in self.further_causes],
            "atoms": [a.to_dict() for a in self.atoms],
            "groups": [{"name": g.name, "atoms": [a.name for a in g.atoms], "reason": g.reason} for g in self.groups],
            "probes": [r.to_dict() for r in self.report.records],
            "totals": {**self.report.totals(), "resolver_calls": self.resolver_calls},
            "phases": self.phases, "engine_builds": [b.to_dict() for b in self.builds],
            "repeat": self.repeat, "jobs": self.jobs,
            "reproduction_rate": {"baseline": self.report.baseline_rate, "environment": self.report.customer_rate},
            "confidence": self.report.confidence, "notes": self.notes(),
            "unresolved_candidates": self.report.unresolved_candidates,
            "environment_yaml": self.environment_yaml,
            "reproduce": f"reprokit isolate {self.case.id}",
        }


def isolate(case: Case, *, project: Project, repeat: int = 1, jobs: int = 1, find_all: bool = False,
            fresh: bool = False, engine: Engine | None = None, record: bool = True,
            on_probe: Callable[[ProbeRecord], None] | None = None) -> Isolation:
    """Find the smallest set of differences between the case's baseline and its environment that makes the bug
    appear: atoms, groups, endpoints verified, ddmin, 1-minimality confirmed; then recorded in the history."""
    from reprokit.isolate.probe import OutcomeCache, case_fingerprint, probe_case

    found = atoms(case.baseline, case.environment)
    if not found:
        raise IsolateError(f"case {case.id}: the environment {case.environment.name!r} declares nothing different "
                           f"from the baseline {case.baseline.name!r}", hint="isolate needs a declared difference")
    resolver = PipResolver(project.root / ".reprokit" / "resolve-cache.json")
    started = time.monotonic()
    groups = grouping(found, case.baseline, resolver=resolver)
    resolve_s = time.monotonic() - started
    builds = SharedBuilds(engine, jobs=jobs)  # --jobs builds at once, shared first steps once
    fingerprint = case_fingerprint(case, repeat)
    cache = OutcomeCache(project.root / ".reprokit" / "isolate" / f"{case.id}.json", fresh=fresh)
    try:
        facts = project.root / ".reprokit" / "facts"
        report = search(groups, lambda config: probe_case(case, hybrid(case.baseline, config), repeat=repeat,
                                                          engine=builds, facts_cache=facts),
                        jobs=jobs, find_all=find_all, label=lambda g: g.name, kind=lambda g: g.rebuild, cache=cache,
                        on_probe=on_probe, on_phase=lambda phase: setattr(builds, "phase", phase.value),
                        key=lambda config: hashlib.sha256(
                            f"{fingerprint}|{hybrid(case.baseline, config).content_hash()}".encode()).hexdigest(),
                        check_endpoints=partial(default_endpoint_check, subject=f"case {case.id}: ",
                                                names=(f"baseline {case.baseline.name!r}",
                                                       f"customer environment {case.environment.name!r}"),
                                                reproduce=f"reprokit case run {case.id}"))
    finally:
        cache.save()
    result = Isolation(case, found, groups, report, repeat, jobs, project.root, resolver.calls, builds.records,
                       round(resolve_s, 2))
    if record:
        from reprokit.case.history import History, default_path

        History(default_path(project.root)).record_isolation(
            case.id, case.environment.name, spec_hash=result.hybrid.content_hash(),
            duration_s=round(report.wall_s, 3), evidence=result.to_dict())
    return result
