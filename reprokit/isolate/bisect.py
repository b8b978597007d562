"""Bisect: the first release of one python package that shows a case's bug, between the two environments' pins."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Literal

from reprokit.isolate.ddmin import BisectReport, Outcome, bisect_versions
from reprokit.engine import Engine
from reprokit.errors import InvalidValue, IsolateError
from reprokit.isolate.isolation import Atom, hybrid
from reprokit.contract.models import Case, EnvironmentSpec, pinned_version, pip_requirement_name


@dataclass
class Bisection:
    """The first bad release of one package, found by binary search between two pins."""

    case: Case
    package: str
    report: BisectReport
    candidates: list[str]
    on: str
    duration_s: float

    def to_dict(self) -> dict:
        return {"case": self.case.id, "package": self.package, "on": self.on, "first_bad": self.report.first_bad,
                "last_good": self.report.last_good, "skipped": self.report.skipped,
                "ambiguous": self.report.candidates if len(self.report.candidates) > 1 else [],
                "candidates": self.candidates,
                "tested": [{"version": v, "outcome": o.value} for v, o in self.report.tested],
                "duration_s": self.duration_s, "reproduce": f"reprokit bisect {self.case.id} --package {self.package}"}


def bisect(case: Case, package: str, *, good: str | None = None, bad: str | None = None,
           versions: list[str] | None = None, on: Literal["baseline", "environment"] = "baseline", repeat: int = 1,
           engine: Engine | None = None, on_version: Callable[[str, Outcome], None] | None = None) -> Bisection:
    """The first release of ``package`` that shows the bug, trying the releases between the baseline's pin
    (good) and the environment's (bad) in ``on`` with only that pin changed; uninstallable releases are skipped."""
    from packaging.version import InvalidVersion, Version

    from reprokit.isolate.probe import index_versions, probe_case

    started = time.monotonic()
    name = pip_requirement_name(package)
    good = good or _pinned(case.baseline, name, case, "baseline")
    bad = bad or _pinned(case.environment, name, case, "environment")
    try:
        upward = Version(good) < Version(bad)
    except InvalidVersion as error:
        raise InvalidValue(f"{error}", hint="--good and --bad take release versions, e.g. 2.0.1") from None
    low, high = sorted((Version(good), Version(bad)))
    releases = []
    for v in versions if versions is not None else index_versions(name):
        try:
            if low < Version(v) < high:
                releases.append(v)
        except InvalidVersion:
            continue
    releases.sort(key=Version, reverse=not upward)
    spec = case.baseline if on == "baseline" else case.environment

    def test(version: str) -> Outcome:
        pinned = hybrid(spec, [Atom("python_packages", name, None, f"{name}=={version}")], name=f"{spec.name}+{name}")
        outcome = probe_case(case, pinned, repeat=repeat, engine=engine).outcome
        if on_version:
            on_version(version, outcome)
        return outcome

    for version, wanted in ((good, Outcome.PASS), (bad, Outcome.FAIL)):
        if (got := test(version)) is not wanted:
            raise IsolateError(f"case {case.id}: {name}=={version} in {spec.name!r} gives {got.value}, expected "
                               f"{wanted.value} ({got.describe()})",
                               hint="the bug may need other differences too: run 'reprokit isolate' first, or "
                                    "bisect on the environment with --on environment")
    report = bisect_versions([good, *releases, bad], test)
    return Bisection(case, name, report, releases, on, round(time.monotonic() - started, 2))


def _pinned(spec: EnvironmentSpec, name: str, case: Case, role: str) -> str:
    for requirement in spec.python_packages:
        if pip_requirement_name(requirement) == name and (version := pinned_version(requirement)):
            return version
    raise IsolateError(f"case {case.id}: the {role} {spec.name!r} does not pin {name} with '=='",
                       hint=f"pass the version with --{'good' if role == 'baseline' else 'bad'}")
