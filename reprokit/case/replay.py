"""Replay many cases (CI's regression suite): run them, or one shard of them, summarise, and write JUnit XML."""
from __future__ import annotations

import shlex
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable, Sequence
from xml.etree import ElementTree

from reprokit.case.shard import Plan, check_shard, plan
from reprokit.case.spread import ENGINE_WAIT_S, spread
from reprokit.engine import Engine, get_engine
from reprokit.errors import InvalidValue, ReprokitError
from reprokit.contract.load import Project, load_case
from reprokit.redact import redact_text
from reprokit.case.reproduce import CaseResult, run_case
from reprokit.contract.models import Case

Found = tuple[Case, Project, "str | None"]  # a case, the project that records it, the command that replays it


def find_cases(paths: list[str], project: Project, scratch: Path) -> list[Found]:
    """Cases named by folder, case.yaml, bundle (.tar.gz) or ID, each with the project whose history records
    it and, for a bundle, the command that replays it; none named means every case in the project."""
    found = []
    for index, entry in enumerate(paths or [str(p.parent) for p in sorted(project.cases.glob("*/case.yaml"))]):
        path = Path(entry)
        if entry.endswith((".tar.gz", ".tgz")):
            from reprokit.handoff.bundle import open_bundle

            folder = open_bundle(path, scratch / str(index))  # a bundle is self-contained: it loads from there
            # Its runs are recorded in the project it is replayed in; outside any project, nothing is written.
            home = project if project.environments.is_dir() else Project(folder.parent)
            found.append((load_case(folder, root=folder.parent), home, f"reprokit replay {shlex.quote(entry)}"))
        elif path.name == "case.yaml" or path.is_dir():
            folder = path if path.is_dir() else path.parent
            root = folder.resolve().parent.parent
            where = Project(root) if (root / "environments").is_dir() else project
            found.append((load_case(folder, root=where.root), where, None))
        else:
            found.append((load_case(entry, root=project.root), project, None))
    return found


def replay_cases(paths: list[str], *, project: str | Path | None = None, jobs: int = 1,
                 shard: tuple[int, int] | None = None, durations_from: Iterable[str | Path] = (),
                 on_plan: Callable[[Plan], None] | None = None, engines: Sequence[Engine] = (),
                 engine_wait: float = ENGINE_WAIT_S) -> list[CaseResult]:
    """Load every case first (a bad file stops the replay before anything runs), keep this ``shard``'s
    (``(I, N)``, see ``shard_plan``), then run them, ``jobs`` at a time on each of ``engines`` (default: the
    process's engine). A case whose engine went away is retried once (see case/spread.py)."""
    where = Project.at(project)
    if shard is not None:
        check_shard(*shard)
    with tempfile.TemporaryDirectory(prefix="reprokit-replay-") as scratch:
        cases = find_cases(paths, where, Path(scratch))
        if shard is not None:
            chosen = shard_plan(cases, shard[1], durations=recorded_durations(where, durations_from))
            if on_plan:
                on_plan(chosen)
            cases = [item for name, item in named(cases).items() if name in chosen.cases(shard[0])]
        from reprokit._console import progress

        engines = list(engines) or [get_engine()]
        where_to = f" on {len(engines)} engines" if len(engines) > 1 else ""
        # `jobs` cases' worth of environment runs at once on each engine, the next case's first run starting as
        # soon as a run ends: a case waiting for its slower run would otherwise leave a slot idle (issue 13).
        slots = {engine.endpoint: threading.BoundedSemaphore(2 * max(1, jobs)) for engine in engines}
        with progress(f"replaying {len(cases)} case(s), {jobs} at a time{where_to}") as on_line:
            return spread(cases, engines, lambda item, engine, lost: run_case(
                item[0], project=item[1], reproduce=item[2], on_line=on_line, engine=engine, retried_after=lost,
                slots=slots[engine.endpoint]), jobs=2 * max(1, jobs), wait_s=engine_wait)


def plan_replay(paths: list[str], total: int, *, project: str | Path | None = None,
                durations_from: Iterable[str | Path] = ()) -> Plan:
    """How a replay of ``paths`` splits into ``total`` shards, with nothing run (`reprokit replay --dry-run`)."""
    where = Project.at(project)
    with tempfile.TemporaryDirectory(prefix="reprokit-replay-") as scratch:
        return shard_plan(find_cases(paths, where, Path(scratch)), total,
                          durations=recorded_durations(where, durations_from))


def named(cases: list[Found]) -> dict[str, Found]:
    """Each case under a name that is the same on every runner: its ID, numbered when named twice."""
    names: dict[str, Found] = {}
    for item in cases:
        name, n = item[0].id, 1
        while name in names:
            n += 1
            name = f"{item[0].id}#{n}"
        names[name] = item
    return names


def case_images(case: Case) -> frozenset[str]:
    """The image tags a case's two environments need, computed without building anything. A case whose
    environments cannot be rendered gets a group of its own (its replay will report the error)."""
    from reprokit.image.render import render_for_build

    try:
        return frozenset(render_for_build(spec).tag() for spec in (case.environment, case.baseline))
    except (ReprokitError, OSError):
        return frozenset({f"unrenderable:{case.id}"})


def shard_plan(cases: list[Found], total: int, *, durations: dict[str, float] | None = None) -> Plan:
    """Split found cases into ``total`` shards, cases that need the same images together (see case/shard.py)."""
    return plan({name: case_images(item[0]) for name, item in named(cases).items()}, total,
                durations={name: durations[item[0].id] for name, item in named(cases).items()
                           if durations and item[0].id in durations})


HISTORY = "history"  # --durations-from history: the project's history instead of a JUnit report


def recorded_durations(project: Project, sources: Iterable[str | Path] = ()) -> dict[str, float]:
    """Each case's last duration from ``sources``: JUnit XML files or folders of them, or ``"history"`` for the
    project's history; later sources win. None given: no durations (shards are balanced by count).

    Every runner of a matrix must read the same durations, or the shards overlap and miss cases. A file
    committed with the cases is the same everywhere; the history is not opted into silently because it
    changes as cases run: a shard re-run on the machine that ran it before would be cut differently."""
    durations: dict[str, float] = {}
    for source in sources:
        if str(source) == HISTORY:
            from reprokit.case.history import History, default_path

            path = default_path(project.root)
            durations |= History(path).last_durations() if path.is_file() else {}
        else:
            durations |= junit_durations([Path(source)])
    return durations


def junit_durations(paths: Iterable[Path]) -> dict[str, float]:
    """``testcase name -> time`` from JUnit XML files, or folders of them (reprokit's reports, or pytest's for
    ``pytest cases/``); skipped tests are left out (their time says nothing about a run)."""
    durations: dict[str, float] = {}
    files = [f for p in map(Path, paths) for f in (sorted(p.glob("*.xml")) if p.is_dir() else [p])]
    for path in files:
        try:
            root = ElementTree.parse(path).getroot()
        except (OSError, ElementTree.ParseError) as error:
            raise InvalidValue(f"--durations-from {path}: cannot read it as JUnit XML: {error}",
                               hint="give a report written by `reprokit replay --junit-xml` or `pytest --junitxml`")
        for test in root.iter("testcase"):
            if test.find("skipped") is None and test.get("name") and test.get("time"):
                try:
                    durations[test.get("name")] = float(test.get("time"))
                except ValueError:
                    continue  # a hand-edited time; the case then weighs the median
    return durations


def summary_table(results: list[CaseResult]):
    """One line per case: every column but the title keeps its full width; the title gets what is left and
    ends in an ellipsis where it does not fit (wrapped, it took five or six lines a case at 80 columns)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    engines = sorted({r.engine for r in results})
    rows = [(r.case.id, r.case.status.value, r.verdict.value + (" (retried)" if r.retried_after else ""),
             "yes" if r.as_expected else "NO", f"{r.duration_s:.1f}s",
             *([f"#{engines.index(r.engine) + 1}"] if len(engines) > 1 else []), r.case.title) for r in results]
    headers = ("case", "status", "verdict", "expected", "time", *(["engine"] if len(engines) > 1 else []))
    # No vertical rules: at 80 columns each one is a character the title needs.
    table = Table(title="replay", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i, header in enumerate(headers):
        table.add_column(header, no_wrap=True, min_width=max([len(header), *(len(row[i]) for row in rows)]))
    table.add_column("title", min_width=10)  # may narrow to fit; its text does not wrap
    for row in rows:
        colour = "green" if row[3] == "yes" else "red"
        table.add_row(*row[:3], f"[{colour}]{row[3]}[/{colour}]", *row[4:-1],
                      Text(row[-1], no_wrap=True, overflow="ellipsis"))
    passed = sum(r.as_expected for r in results)
    table.caption = f"{passed} as expected, {len(results) - passed} not" + (
        "; engines: " + ", ".join(f"#{n} {url}" for n, url in enumerate(engines, 1)) if len(engines) > 1 else "")
    return table


def write_junit(results: list[CaseResult], path: Path) -> None:
    suite = ElementTree.Element("testsuite", name="reprokit", tests=str(len(results)),
                                failures=str(sum(not r.as_expected for r in results)),
                                time=f"{sum(r.duration_s for r in results):.3f}")
    for r in results:
        case = ElementTree.SubElement(suite, "testcase", classname="reprokit.cases", name=r.case.id,
                                      time=f"{r.duration_s:.3f}")
        if not r.as_expected:
            failure = ElementTree.SubElement(case, "failure", message=f"{r.verdict.value}: {r.explain()}")
            failure.text = redact_text(f"reproduce: {r.reproduce}\n" + "\n".join(r.diffs["output"].values()),
                                       where=f"junit {r.case.id}")[0]
        ElementTree.SubElement(case, "system-out").text = f"verdict: {r.verdict.value}"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
