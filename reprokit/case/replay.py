"""Replay many cases (CI's regression suite): run them, summarise, and write JUnit XML."""
from __future__ import annotations

import shlex
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree

from reprokit.spec.load import Project, load_case
from reprokit.redact import redact_text
from reprokit.case.reproduce import CaseResult, run_case
from reprokit.spec.models import Case


def find_cases(paths: list[str], project: Project, scratch: Path) -> list[tuple[Case, Project, str | None]]:
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


def replay_cases(paths: list[str], *, project: str | Path | None = None, jobs: int = 1) -> list[CaseResult]:
    """Load every case first (a bad file stops the replay before anything runs), then run them."""
    where = Project.at(project)
    with tempfile.TemporaryDirectory(prefix="reprokit-replay-") as scratch:
        cases = find_cases(paths, where, Path(scratch))
        from reprokit._console import progress

        with progress(f"replaying {len(cases)} case(s), {jobs} at a time") as on_line:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                return list(pool.map(lambda item: run_case(item[0], project=item[1], reproduce=item[2],
                                                           on_line=on_line), cases))


def summary_table(results: list[CaseResult]):
    """One line per case: every column but the title keeps its full width; the title gets what is left and
    ends in an ellipsis where it does not fit (wrapped, it took five or six lines a case at 80 columns)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    rows = [(r.case.id, r.case.status.value, r.verdict.value, "yes" if r.as_expected else "NO",
             f"{r.duration_s:.1f}s", r.case.title) for r in results]
    headers = ("case", "status", "verdict", "expected", "time")
    # No vertical rules: at 80 columns each one is a character the title needs.
    table = Table(title="replay", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i, header in enumerate(headers):
        table.add_column(header, no_wrap=True, min_width=max([len(header), *(len(row[i]) for row in rows)]))
    table.add_column("title", min_width=10)  # may narrow to fit; its text does not wrap
    for row in rows:
        colour = "green" if row[3] == "yes" else "red"
        table.add_row(*row[:3], f"[{colour}]{row[3]}[/{colour}]", row[4],
                      Text(row[5], no_wrap=True, overflow="ellipsis"))
    passed = sum(r.as_expected for r in results)
    table.caption = f"{passed} as expected, {len(results) - passed} not"
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
