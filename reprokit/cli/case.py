"""CLI commands for cases: `reprokit case new|run|import`, `reprokit replay`, `reprokit history`."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from reprokit._console import EngineOption, ProjectOption, RegistryOption, err, out, progress, use_options

case_app = typer.Typer(no_args_is_help=True, help="Cases: one ticket's reproduction under cases/<ID>/.")
EXIT_CODES = """Exit codes: 0 the outcome matches the case's status (open/known-error: reproduced; fixed: not
reproduced); 1 it does not; 2 a mistake in the input; 3 an environment could not be built or started."""


def register(app: typer.Typer, env_app: typer.Typer) -> None:
    app.add_typer(case_app, name="case")
    app.command("replay", help="Replay cases (folders, case.yaml files or bundles; default: every case) "
                               "with a summary table.\n\n" + EXIT_CODES)(replay)
    app.command("history")(history)


SCAFFOLD = """\
id: {id}
title: {title}
customer: ""
environment: baseline          # a name from environments/, or an inline mapping (os, python_packages, ...)
baseline: baseline
files:
  repro.py: {{source: repro.py}}
steps:
  - python3 repro.py
expect:                        # the bug's signature: every given field must hold
  exit_code: nonzero
  # stderr_contains: "..."
status: open
"""


@case_app.command("new")
def case_new(case_id: str, title: str = typer.Option("TODO: what the customer sees", help="one line"),
             project: Optional[str] = ProjectOption):
    """Scaffold cases/<ID>/ with a case.yaml and a repro.py to fill in."""
    from reprokit.errors import SpecError
    from reprokit.contract.load import Project, check_name

    where = Project.at(project)
    folder = where.cases / check_name(case_id, "ID")
    if folder.exists():
        raise SpecError(where.show(folder), "", "already exists; nothing was written",
                        hint=f"edit {where.show(folder / 'case.yaml')} or choose another ID")
    folder.mkdir(parents=True)
    (folder / "case.yaml").write_text(SCAFFOLD.format(id=case_id, title=json.dumps(title)))
    (folder / "repro.py").write_text('"""Reproduce the customer\'s bug: exit nonzero when it shows."""\n')
    out.print(f"created {where.show(folder)}/case.yaml and repro.py")


@case_app.command("import")
def case_import(bundle: Path, project: Optional[str] = ProjectOption):
    """Add a case bundle (from `reprokit bundle`) to cases/, after checking it is safe and intact."""
    from reprokit.handoff.bundle import import_bundle
    from reprokit.contract.load import Project

    where = Project.at(project)
    folder = import_bundle(bundle, where)
    out.print(f"imported {where.show(folder)}; run it with: reprokit case run {folder.name}")


@case_app.command("run", help="Run a case in its customer environment and its baseline and give the verdict."
                              "\n\n" + EXIT_CODES)
def case_run(case_id: str,
             as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
             repeat: int = typer.Option(1, min=1, max=1000, help="run each environment N times (flaky bugs)"),
             across: Optional[str] = typer.Option(None, help="'all' or comma-separated environment names"),
             project: Optional[str] = ProjectOption, engine: Optional[str] = EngineOption,
             registry: Optional[str] = RegistryOption):
    from reprokit.contract.load import Project, load_case

    where = Project.at(project)
    case = load_case(case_id, root=where.root)
    use_options(engine=engine, registry=registry, project=project)
    if across:
        raise typer.Exit(_across(case, where, across, repeat=repeat, as_json=as_json))
    from reprokit.case.reproduce import run_case

    with progress(f"running {case.id}") as on_line:
        result = run_case(case, project=where, repeat=repeat, on_line=on_line)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    else:
        show_result(result)
    raise typer.Exit(exit_code(result))


def exit_code(result) -> int:
    from reprokit.contract.models import Verdict

    return 3 if result.verdict is Verdict.ERROR else 0 if result.as_expected else 1


def _across(case, where, names: str, *, repeat: int, as_json: bool) -> int:
    from rich.table import Table

    from reprokit.contract.load import load_environment
    from reprokit.case.reproduce import observe_many

    chosen = where.environment_names() if names == "all" else [n.strip() for n in names.split(",") if n.strip()]
    specs = {name: load_environment(name, root=where.root) for name in chosen}
    with progress(f"running {case.id} across {len(specs)} environments") as on_line:
        runs = observe_many(case, specs, project=where, repeat=repeat, on_line=on_line)
    if as_json:
        sys.stdout.write(json.dumps({"case": case.id, "across": {n: r.to_dict() for n, r in runs.items()}},
                                    indent=2, default=str) + "\n")
    else:
        table = Table("environment", "os", "reproduces", "rate", "exit", "time", title=f"{case.id}: {case.title}")
        for name, run in runs.items():
            state = "[yellow]ERROR[/yellow]" if run.error else "[red]yes[/red]" if run.matched else "[green]no[/green]"
            table.add_row(name, specs[name].os, state, "" if run.rate is None else f"{run.rate:.0%}",
                          "" if run.error else str(run.output().exit_code), f"{run.duration_s:.1f}s")
        out.print(table)
        for name, run in runs.items():
            if run.error:
                err.print(f"{name}: {run.error}", markup=False)
    return 3 if any(r.error for r in runs.values()) else 0


def show_result(result) -> None:
    """The verdict, the runs side by side, and the three diffs, for a terminal."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.syntax import Syntax
    from rich.table import Table

    case = result.case
    colour = "green" if result.as_expected else "red"
    out.print(Panel(f"[bold]{result.verdict.value}[/bold] — {escape(result.explain())}",
                    title=f"{escape(case.id)}: {escape(case.title)}", border_style=colour))
    runs = Table("", *(f"{r.role}: {r.name}" for r in result.runs.values()))
    rows = [("bug seen", lambda r: "ERROR" if r.error else ("yes" if r.matched else "no")
             + (f" ({r.rate:.0%})" if result.repeat > 1 else "")),
            ("exit code", lambda r: "" if r.error else str(r.output().exit_code)),
            ("time", lambda r: f"{r.duration_s:.2f}s"),
            ("image", lambda r: "" if not r.image else r.image.tag.split(":")[1][:12] + (" (built)" if r.image.built else "")),
            ("os", lambda r: r.facts.get("os", "")), ("python", lambda r: r.facts.get("python", ""))]
    for name in sorted({s for r in result.runs.values() for s in r.services}):  # where each service came from
        rows.append((f"service {name}", lambda r, n=name: _service_line(r.services.get(n))))
    for label, value in rows:
        runs.add_row(label, *(escape(value(r)) for r in result.runs.values()))
    out.print(runs)
    for title, key, label in (("declared difference", "spec", "field"), ("observed difference", "facts", "fact")):
        items = result.diffs[key]
        if key == "facts":
            items = _relevant_facts(items, result.case)
        if items:
            table = Table(label, "baseline", "environment", title=f"{title} ({len(items)})", title_justify="left")
            for item in items[:25]:
                table.add_row(*(escape(str(item[k]))[:70] for k in (label, "baseline", "environment")))
            if len(items) > 25:
                table.add_row(f"… {len(items) - 25} more (see --json)", "", "")
            out.print(table)
    for stream, diff in result.diffs["output"].items():
        if diff:
            out.print(f"[bold]{stream}[/bold] (baseline -> environment, noise masked)")
            out.print(Syntax(diff.rstrip()[:4000], "diff", word_wrap=True))
    for run in result.runs.values():
        if run.error:
            err.print(f"{run.role} ({run.name}): {run.error}", markup=False)
    out.print(f"[dim]reproduce: {escape(result.reproduce)}[/dim]", soft_wrap=True)


def _service_line(service: dict | None) -> str:
    if not service:
        return "(none)"
    died = f"; DIED during the steps (exit {service.get('exit_code')})" if service.get("died") else ""
    return f"{service['provenance']}; {service['version'][:40]}; ready in {service['ready_s']:.1f}s{died}"


def _relevant_facts(items: list[dict], case) -> list[dict]:
    """Debian packages differ by the hundred between releases: keep those related to a declared package
    (sqlite3 -> libsqlite3-0) and fold the rest into one line; the JSON keeps them all."""
    import re

    declared = {re.sub(r"[\d.-]+$", "", p.split("=")[0]) for s in (case.environment, case.baseline)
                for p in s.system_packages}
    packages = [i for i in items if i["fact"].startswith("debian_packages.")]
    kept = [i for i in packages if any(d and d in i["fact"] for d in declared)]
    rest = len(packages) - len(kept)
    folded = [{"fact": f"debian_packages ({rest} more)", "baseline": "", "environment": "see --json"}] if rest else []
    return [i for i in items if i not in packages] + kept + folded


def replay(paths: List[str] = typer.Argument(None, help="case folders, case.yaml files or .tar.gz bundles"),
           jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=32,
                                    help="cases at once: 2N environment runs, the next case's starting as one ends"),
           shard: Optional[str] = typer.Option(
               None, "--shard", metavar="I/N", help="run only shard I of N (from 1): disjoint, together the full "
               "replay; cases that need the same images stay together; balanced by --durations-from, else by count"),
           durations_from: Optional[List[str]] = typer.Option(
               None, "--durations-from", metavar="JUNIT_XML|history", help="balance --shard by the times in this "
               "JUnit report, folder of reports, or 'history' (repeatable); every runner must read the same ones"),
           dry_run: bool = typer.Option(False, "--dry-run", help="list the cases (with --shard: this shard's, "
                                                                 "with their image group and estimate); run none"),
           junit_xml: Optional[Path] = typer.Option(None, "--junit-xml", help="write a JUnit XML report"),
           backend: str = typer.Option("local", "--backend", help="where each environment run happens: local (a "
                                       "container on this engine) or swarm (a replicated job on its Docker Swarm)"),
           as_json: bool = typer.Option(False, "--json"),
           project: Optional[str] = ProjectOption, engine: Optional[str] = EngineOption,
           engines: Optional[str] = typer.Option(
               None, "--engines", metavar="URL,URL", help="spread the cases over these engines (URLs or Docker "
               "contexts), --jobs at a time on each; a case's two runs stay on one engine"),
           registry: Optional[str] = RegistryOption):
    from reprokit.case.replay import replay_cases, summary_table, write_junit
    from reprokit.case.shard import parse_shard
    from reprokit.errors import InvalidValue

    chosen = parse_shard(shard) if shard is not None else None  # a bad --shard stops before any case loads
    if durations_from and not (chosen or dry_run):
        raise InvalidValue("--durations-from balances shards, and no --shard was given",
                           hint="add --shard I/N, or --dry-run to see the estimates")
    if engines and engine:
        raise InvalidValue("--engine and --engines were both given", hint="list every engine in --engines")
    if dry_run:
        raise typer.Exit(_list_shard(paths or [], chosen or (1, 1), durations_from or [], project, as_json))
    use_options(engine=engine, registry=registry, project=project)
    pool = []
    if engines:
        from reprokit.engine import engine_at
        from reprokit.engine.endpoints import split_engines

        pool = [engine_at(url) for url in split_engines(engines)]  # each must answer now: a typo stops here
    if backend != "local":
        from reprokit.engine import set_engine
        from reprokit.engine.backends import open_backend

        if pool:
            raise InvalidValue(f"--backend {backend} and --engines cannot be combined: a swarm spreads runs itself",
                               hint="drop --engines, or drop --backend to spread the cases over those engines")
        set_engine(open_backend(backend, engine))
    results = replay_cases(paths or [], project=project, jobs=jobs, shard=chosen, durations_from=durations_from or [],
                           on_plan=lambda plan: err.print(plan.describe(chosen[0]), markup=False, soft_wrap=True),
                           engines=pool)
    if as_json:
        sys.stdout.write(json.dumps([r.to_dict() for r in results], indent=2, default=str) + "\n")
    else:
        out.print(summary_table(results))
    if junit_xml:
        write_junit(results, junit_xml)
    codes = [exit_code(r) for r in results]
    raise typer.Exit(max(codes, default=0))


def _list_shard(paths: list[str], shard: tuple[int, int], durations_from: list[str], project, as_json: bool) -> int:
    from rich.table import Table

    from reprokit.case.replay import plan_replay
    from reprokit.case.shard import Balance

    index, total = shard
    plan = plan_replay(paths, total, project=project, durations_from=durations_from)
    rows = [{"case": case, "group": group.name, "estimate": group.seconds / len(group.cases)}
            for group in plan.shards[index - 1] for case in group.cases]
    if as_json:
        sys.stdout.write(json.dumps({"shard": f"{index}/{total}", "plan": plan.fingerprint,
                                     "balance": plan.balance.value, "cases": sorted(r["case"] for r in rows),
                                     "groups": rows, "shard_estimates": [plan.seconds(i) for i in range(1, total + 1)]},
                                    indent=2) + "\n")
        return 0
    table = Table("case", "image group", "estimate", title=f"shard {index}/{total}")
    for row in sorted(rows, key=lambda r: (r["group"], r["case"])):
        table.add_row(row["case"], row["group"], f"{row['estimate']:.1f}s" if plan.balance is Balance.TIME else "")
    out.print(table)
    err.print(plan.describe(index), markup=False, soft_wrap=True)
    return 0


def history(case_id: Optional[str] = typer.Argument(None), limit: int = typer.Option(50, help="newest N"),
            as_json: bool = typer.Option(False, "--json"), project: Optional[str] = ProjectOption):
    """List recorded runs and isolations (newest first), of one case or of all."""
    from rich.table import Table

    from reprokit.case.history import History, default_path
    from reprokit.contract.load import Project

    stored = History(default_path(Project.at(project).root))
    isolations = [{**r, "kind": "isolate"} for r in stored.isolations(case_id)]
    records = sorted(stored.records(case_id, limit=limit) + isolations[:limit], key=lambda r: r["started_at"],
                     reverse=True)[:limit]
    if as_json:
        sys.stdout.write(json.dumps(records, indent=2, default=str) + "\n")
        return
    table = Table("#", "when", "case", "role", "environment", "verdict", "bug seen", "time", "image")
    for r in records:
        if r["kind"] == "isolate":
            cause = ", ".join(a.get("name", "?") for a in r["evidence"].get("minimal", []))
            table.add_row(str(r["id"]), r["started_at"], r["case"], "isolate", r["environment"],
                          f"cause: {cause or '-'}", "-", f"{r['duration_s'] or 0:.1f}s", "")
            continue
        table.add_row(str(r["id"]), r["started_at"], r["case"], r["role"], r["environment"], r["verdict"],
                      {True: "yes", False: "no", None: "-"}[r["matched"]], f"{r['duration_s'] or 0:.1f}s",
                      (r["image_id"] or "")[7:19])
    out.print(table)
