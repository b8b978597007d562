"""CLI commands for the handoff stage: `reprokit report|bundle|triage|kb` (registered on the main app by cli.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from reprokit._console import ProjectOption, err, out



def register(app: typer.Typer, env_app: typer.Typer) -> None:
    """Add this stage's commands to the main app (and to `reprokit env` where they belong)."""
    app.command("report")(report)
    app.command("bundle")(bundle)
    app.command("triage")(triage)
    app.command("kb")(kb)
    env_app.command("export")(env_export)


def env_export(name: str = typer.Argument(..., help="an environment, or CASE-ID/environment|baseline for a case's"),
               devcontainer: Optional[Path] = typer.Option(None, "--devcontainer", help="write DIR/.devcontainer/ "
                                                           "(devcontainer.json, Dockerfile, compose.yaml for services)"),
               compose: Optional[Path] = typer.Option(None, "--compose", help="write a Compose file running the "
                                                      "environment's image and its services"),
               project: Optional[str] = ProjectOption):
    """Export an environment where engineers work: a .devcontainer/ for VS Code or any devcontainer tool, and/or
    a Compose file, from the same Dockerfile and settings as reprokit's runs."""
    from reprokit._console import progress
    from reprokit.contract.load import Project, load_case, load_environment
    from reprokit.errors import ReprokitError
    from reprokit.handoff.export import export, step_prelude_text

    if devcontainer is None and compose is None:
        raise ReprokitError("env export: nothing to write", hint=f"reprokit env export {name} --devcontainer . "
                                                                 f"(or --compose compose.yaml)")
    where = Project.at(project)
    case_id, _, role = name.partition("/")
    if role and role not in ("environment", "baseline"):
        raise ReprokitError(f"env export {name}: {role!r} is not a side of a case",
                            hint=f"use {case_id}/environment or {case_id}/baseline")
    spec = getattr(load_case(case_id, root=where.root), role) if role else load_environment(name, root=where.root)
    if devcontainer is not None and devcontainer.name != ".devcontainer":
        devcontainer = devcontainer / ".devcontainer"
    with progress(f"exporting {name}") as on_line:
        written = export(spec, devcontainer=devcontainer, compose=compose, on_line=on_line)
    for path in written:
        out.print(f"wrote {path}", soft_wrap=True)
    if step_prelude_text(spec):
        err.print(f"note: umask/clock apply to each step's shell only: source {devcontainer or 'step-prelude.sh'}"
                  "/step-prelude.sh in a terminal of the container to get them", soft_wrap=True)


def report(case_id: str,
           fmt: str = typer.Option("md", "--format", "-f", help="md (GitHub, Jira) | html (one file) | json"),
           output: Optional[Path] = typer.Option(None, "--output", "-o", help="write here instead of stdout"),
           result: Optional[Path] = typer.Option(None, "--result", help="a `reprokit case run ID --json` file to "
                                                 "report on (default: the newest run in history)"),
           run: bool = typer.Option(False, "--run", help="run the case now and report on that run"),
           project: Optional[str] = ProjectOption):
    """Write a case's report for a bug tracker: verdict, environments side by side, steps, diffs, history."""
    from reprokit.errors import ReprokitError
    from reprokit.case.history import History, default_path
    from reprokit.contract.load import Project, load_case
    from reprokit.case.result import CaseResult
    from reprokit.handoff.report import FORMATS, gather, render_report

    if fmt not in FORMATS:
        raise ReprokitError(f"--format {fmt!r} is not a report format", hint=f"choose one of: {', '.join(FORMATS)}")
    where = Project.at(project)
    case = load_case(case_id, root=where.root)
    chosen = None
    if run:
        chosen = _run(case, where)
    elif result:
        chosen = CaseResult.from_dict(case, _read_json(result))
    history = History(default_path(where.root))
    _write(render_report(gather(case, result=chosen, records=history.records(case.id),
                                isolations=history.isolations(case.id)), fmt), output)


def bundle(case_id: str,
           output: Optional[Path] = typer.Option(None, "--output", "-o", help="default: ./<ID>.tar.gz"),
           project: Optional[str] = ProjectOption):
    """Write a self-contained case bundle (case, resolved environments, files, manifest) to attach to a ticket."""
    from reprokit.handoff.bundle import write_bundle
    from reprokit.case.history import History, default_path
    from reprokit.contract.load import Project, load_case
    from reprokit.case.result import CaseResult

    where = Project.at(project)
    case = load_case(case_id, root=where.root)
    last = CaseResult.from_record(case, History(default_path(where.root)).records(case.id))
    path = write_bundle(case, output or Path(f"{case.id}.tar.gz"), result=last)
    out.print(f"wrote {path} ({path.stat().st_size} bytes); replay it with: reprokit replay {path}", soft_wrap=True)


def triage(logfile: str = typer.Argument("-", help="the customer's log; '-' reads standard input"),
           as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
           limit: int = typer.Option(5, help="show the best N matches"),
           project: Optional[str] = ProjectOption):
    """Match a customer's log against every case's signatures; ranked matches with their resolution.

    Exit codes: 0 at least one case matches, 1 none does, 2 a mistake in the input."""
    from rich.markup import escape

    from reprokit.contract.load import Project
    from reprokit.handoff.triage import read_log, triage_project

    found = triage_project(read_log(logfile), Project.at(project))
    for case_id, problem in found.unreadable.items():
        err.print(f"[yellow]skipped {escape(case_id)}:[/yellow] {escape(problem)}")
    if as_json:
        sys.stdout.write(json.dumps(found.to_dict(), indent=2) + "\n")
    elif not found.matches:
        out.print("no known case matches this log; escalate it (reprokit case new ID)")
    for rank, match in enumerate(found.matches[:limit] if not as_json else [], 1):
        out.print(f"[bold]{rank}. {escape(match.case.id)}[/bold] ({match.case.status.value}, "
                  f"{len(match.hits)}/{len(match.hits) + len(match.missed)} signatures): {escape(match.case.title)}", soft_wrap=True)
        for hit in match.hits:
            for number, text in hit.lines:
                out.print(f"   line {number}: [dim]{escape(text.strip())}[/dim]", soft_wrap=True)
        for line in match.resolution.splitlines():
            out.print(f"   {escape(line)}", soft_wrap=True)
    raise typer.Exit(0 if found.matches else 1)


def kb(output: Optional[Path] = typer.Option(None, "--output", "-o", help="write here instead of stdout"),
       project: Optional[str] = ProjectOption):
    """Render every known-error case as a Markdown manual for first-line support."""
    from rich.markup import escape

    from reprokit.contract.load import Project
    from reprokit.handoff.triage import knowledge_base, load_cases

    cases, unreadable = load_cases(Project.at(project))
    for case_id, problem in unreadable.items():
        err.print(f"[yellow]skipped {escape(case_id)}:[/yellow] {escape(problem)}")
    _write(knowledge_base(cases), output)


def _run(case, where):
    from reprokit._console import progress
    from reprokit.case.reproduce import run_case

    with progress(f"running {case.id}") as on_line:
        return run_case(case, project=where, on_line=on_line)


def _read_json(path: Path) -> dict:
    from reprokit.errors import ReprokitError

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ReprokitError(f"{path}: not a readable JSON result ({error})",
                            hint="write one with: reprokit case run ID --json > result.json") from None
    if not isinstance(data, dict) or "verdict" not in data or "runs" not in data:
        raise ReprokitError(f"{path}: not the output of `reprokit case run ID --json` (no verdict/runs)")
    return data


def _write(text: str, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    err.print(f"wrote {output}")
