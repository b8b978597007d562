"""CLI commands for the isolate stage (registered on the main app by cli.py)."""
from __future__ import annotations

import json
from typing import List, Optional

import typer

from reprokit._console import EngineOption, ProjectOption, RegistryOption, use_options



def register(app: typer.Typer, env_app: typer.Typer) -> None:
    """Add this stage's commands to the main app (and to `reprokit env` where they belong)."""
    app.command("isolate")(isolate)
    app.command("bisect")(bisect)


def isolate(case_id: str = typer.Argument(..., metavar="ID"),
            jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="probes run at once"),
            repeat: int = typer.Option(1, "--repeat", "-r", min=1, help="runs per probe (for flaky bugs)"),
            find_all: bool = typer.Option(False, "--find-all", help="after the first cause, look for further ones"),
            as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
            write_env: Optional[str] = typer.Option(None, "--write-env", metavar="NAME",
                                                    help="write the minimal hybrid to environments/NAME.yaml"),
            fresh: bool = typer.Option(False, "--fresh", help="ignore stored probe outcomes (images are still reused)"),
            force: bool = typer.Option(False, "--force", help="let --write-env replace an existing file"),
            project: Optional[str] = ProjectOption, engine: Optional[str] = EngineOption,
            registry: Optional[str] = RegistryOption):
    """Find the smallest difference between the baseline and the case's environment that makes the bug appear."""
    from reprokit._console import err, out
    from reprokit.isolate.isolation import isolate as run_isolation
    from reprokit.contract.load import Project, load_case

    where = Project.at(project)
    case = load_case(case_id, root=where.root)
    use_options(engine=engine, registry=registry, project=project)

    def on_probe(record) -> None:
        if not as_json:
            err.print(f"  probe {record.index:>3} {record.phase:9} {record.outcome.value:10} {record.build:7} "
                      f"{record.duration_s:>6.1f}s  {len(record.applied)} group(s)", highlight=False)

    result = run_isolation(case, project=where, repeat=repeat, jobs=jobs, find_all=find_all, fresh=fresh,
                           on_probe=on_probe)
    if write_env:
        from reprokit.contract.load import check_name, load_environment, write_checked

        path = where.environments / f"{check_name(write_env, '--write-env')}.yaml"
        write_checked(path, result.environment_yaml, shown=where.show(path), force=force,
                      check=lambda: load_environment(write_env, root=where.root))
    if as_json:
        out.print_json(json.dumps(result.to_dict(), default=str))
    else:
        _print(result, write_env and where.show(where.environments / f"{write_env}.yaml"))


def _print(result, written: str | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from reprokit._console import out

    data = result.to_dict()
    out.print(f"[bold]{result.case.id}[/bold]: {len(result.atoms)} atoms in {len(result.groups)} groups between "
              f"{escape(result.case.baseline.name)} and {escape(result.case.environment.name)}")
    for group in result.groups:
        if group.reason:
            out.print(f"  grouped: {escape(group.name)} ({escape(group.reason)})")
    table = Table("#", "phase", "atoms applied", "build", "runs", "outcome", "time", "cache", title="probes")
    for r in result.report.records:
        shown = ", ".join(r.applied) if len(r.applied) <= 3 else f"{len(r.applied)} groups"
        table.add_row(str(r.index), r.phase.value, escape(shown or "(baseline)"), r.build.value,
                      f"{r.matches}/{r.runs}",
                      r.outcome.value, f"{r.duration_s:.1f}s", "hit" if r.cache_hit else "")
    out.print(table)
    phases = Table("phase", "wall", "probes", "outcomes cached", "builds", "images present", "layers reused",
                   "layers built", title="phases")
    for p in data["phases"]:
        phases.add_row(p["phase"], f"{p['wall_s']:.1f}s", *(str(p[k]) for k in (
            "probes", "outcomes_cached", "builds", "images_present", "layers_reused", "layers_built")))
    out.print(phases)
    out.print("[bold]minimal failure-inducing difference[/bold]:")
    for atom in result.minimal:
        out.print(f"  {escape(atom.describe())}")
    for i, cause in enumerate(result.further_causes, 2):
        out.print(f"[bold]further cause {i}[/bold]: " + "; ".join(escape(a.describe()) for a in cause))
    t = data["totals"]
    out.print(f"totals: {t['probes']} probes, {t['builds']} builds, {t['runs']} runs, {t['cache_hits']} cache hits, "
              f"{t['unresolved']} unresolved, {t['wall_s']}s wall; reproduction rate baseline "
              f"{data['reproduction_rate']['baseline']:.0%}, environment {data['reproduction_rate']['environment']:.0%}; "
              f"confidence {data['confidence']:.1%}")
    for note in result.notes():
        out.print(f"[yellow]note:[/yellow] {escape(note)}")
    out.print(f"minimal hybrid{' written to ' + written if written else ' (save with --write-env NAME)'}:")
    out.print(escape(result.environment_yaml), soft_wrap=True)


def bisect(case_id: str = typer.Argument(..., metavar="ID"),
           package: str = typer.Option(..., "--package", "-p", help="the python package to bisect"),
           good: Optional[str] = typer.Option(None, help="known good version (default: the baseline's pin)"),
           bad: Optional[str] = typer.Option(None, help="known bad version (default: the environment's pin)"),
           versions: Optional[List[str]] = typer.Option(None, "--versions", help="candidates (default: the index's)"),
           on: str = typer.Option("baseline", help="change the pin in: baseline | environment"),
           repeat: int = typer.Option(1, "--repeat", "-r", min=1),
           as_json: bool = typer.Option(False, "--json"), project: Optional[str] = ProjectOption,
           engine: Optional[str] = EngineOption, registry: Optional[str] = RegistryOption):
    """Find the first release of one python package that shows the bug, between the two environments' pins."""
    from reprokit.isolate.bisect import bisect as run_bisect
    from reprokit._console import err, out
    from reprokit.errors import ReprokitError
    from reprokit.contract.load import Project, load_case

    if on not in ("baseline", "environment"):
        raise ReprokitError(f"--on {on!r} is not 'baseline' or 'environment'")
    where = Project.at(project)
    case = load_case(case_id, root=where.root)
    use_options(engine=engine, registry=registry, project=project)
    result = run_bisect(case, package, good=good, bad=bad, versions=versions, on=on, repeat=repeat,  # type: ignore[arg-type]
                        on_version=None if as_json else lambda v, o: err.print(f"  {package}=={v}: {o.value}"))
    data = result.to_dict()
    if as_json:
        out.print_json(json.dumps(data))
        return
    out.print(f"first bad release: {package}=={data['first_bad']} (last good: {data['last_good']}); "
              f"{len(data['tested'])} releases tested of {len(data['candidates'])} between the pins")
    if data["skipped"]:
        out.print(f"skipped (could not be installed): {', '.join(data['skipped'])}")
    if data["ambiguous"]:
        out.print(f"[yellow]note:[/yellow] because of skipped releases the first bad one is one of: "
                  f"{', '.join(data['ambiguous'])}")
