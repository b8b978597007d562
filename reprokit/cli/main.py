"""The `reprokit` command line: typer commands that call the library and print with rich."""
from __future__ import annotations

import json
import shlex
import sys
from typing import List, Optional

import typer

from reprokit import __version__
from reprokit._console import (EngineOption, ProjectOption, RegistryOption, err, out, progress,
                               remember_global_options, use_options)



def _hide_flag_types() -> None:
    """typer 0.29's rich help prints a value type after every option, flags too (`--help <bool>`), though a
    flag takes no value; its plain-text help already leaves the type out for flags. Do the same in rich help.
    (typer vendors its click from 0.29 on, so there is no click-level setting for this.)"""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "hides_flag_types", False):
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) and not getattr(self, "count", False) else shown(self, ctx)

    display_type_rich.hides_flag_types = True
    TyperOption.display_type_rich = display_type_rich


_hide_flag_types()
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Reproduce customers' bugs in containers that match their environment.")
env_app = typer.Typer(no_args_is_help=True, help="Environments: declared machines under environments/.")
images_app = typer.Typer(no_args_is_help=True, help="Images reprokit made: list them, prune them, and make base "
                                                     "images without a registry.")
app.add_typer(env_app, name="env")
app.add_typer(images_app, name="images")


def _project(root):
    from reprokit.contract.load import Project

    return Project.at(root)


def _print_version(value: bool) -> None:
    if value:
        out.print(__version__)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print the version and exit."),
          engine: Optional[str] = EngineOption, registry: Optional[str] = RegistryOption):
    """Reproduce customers' bugs in containers that match their environment."""
    remember_global_options(engine=engine, registry=registry)


# -- env ------------------------------------------------------------------------------------------------------


@env_app.command("list")
def env_list(project: Optional[str] = ProjectOption):
    """List the environments and what they declare."""
    from rich.table import Table

    from reprokit.contract.load import load_environment

    where = _project(project)
    table = Table("name", "os", "python", "packages", "description")
    for name in where.environment_names():
        spec = load_environment(name, root=where.root)
        table.add_row(name, spec.os, spec.python, str(len(spec.system_packages) + len(spec.python_packages)),
                      spec.description)
    out.print(table)


@env_app.command("show")
def env_show(name: str, as_json: bool = typer.Option(False, "--json"), project: Optional[str] = ProjectOption):
    """Show an environment with `extends` applied and every default (limits included) filled in."""
    from reprokit.aspects.registry import ASPECTS
    from reprokit.image.render import render_for_build
    from reprokit.contract.load import load_environment

    spec = load_environment(name, root=_project(project).root)
    data = {**spec.model_dump(mode="json"), "image": render_for_build(spec).tag()}
    notes = [note for aspect in ASPECTS for note in aspect.notes(spec)]
    if notes:
        data["notes"] = notes  # how what is declared is applied, where that is not obvious
    if as_json:
        out.print_json(json.dumps(data))
    else:
        _print_yaml(data)


@env_app.command("render")
def env_render(name: str, project: Optional[str] = ProjectOption):
    """Print the Dockerfile an environment builds from (a dry run: nothing is built)."""
    from reprokit.image.render import render_for_build
    from reprokit.contract.load import load_environment

    sys.stdout.write(render_for_build(load_environment(name, root=_project(project).root)).dockerfile)


@env_app.command("build")
def env_build(name: str, project: Optional[str] = ProjectOption, engine: Optional[str] = EngineOption,
              registry: Optional[str] = RegistryOption):
    """Build an environment's image (nothing happens if an identical one exists, here or in the registry)."""
    from reprokit.contract.load import load_environment

    spec = load_environment(name, root=_project(project).root)
    use_options(engine=engine, registry=registry, project=project)
    image = _build(spec)
    state = f"built in {image.duration_s}s, {image.cached_steps}/{image.total_steps} steps cached" if image.built \
        else "pulled from the registry" if image.pulled else "up to date"
    out.print(f"{name}: {image.tag} ({image.id[7:19]}) {state}")


def _build(spec):
    from reprokit.image.build import build

    with progress(f"building {spec.name}") as on_line:
        return build(spec, on_line=on_line)


@env_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def env_run(name: str, command: List[str] = typer.Argument(..., help="the command, after --"),
            timeout: float = typer.Option(300, help="seconds before the command is killed"),
            project: Optional[str] = ProjectOption, engine: Optional[str] = EngineOption,
            registry: Optional[str] = RegistryOption):
    """Run one command in a fresh container of an environment; exits with the command's exit code."""
    from reprokit.contract.load import load_environment

    spec = load_environment(name, root=_project(project).root)
    use_options(engine=engine, registry=registry, project=project)
    with spec.start(image=_build(spec)) as box:
        result = box.run(shlex.join(command) if len(command) > 1 else command[0], timeout=timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.timed_out:
        err.print(f"[red]timed out after {timeout:g}s[/red]")
    if result.oom_killed:
        err.print(f"[red]killed by the OOM killer (memory limit {spec.limits.memory})[/red]")
    raise typer.Exit(result.exit_code)


@env_app.command("shell")
def env_shell(name: str, project: Optional[str] = ProjectOption, engine: Optional[str] = EngineOption,
              registry: Optional[str] = RegistryOption):
    """Open an interactive shell in a fresh container of an environment (removed on exit)."""
    from reprokit.engine import get_engine
    from reprokit.contract.load import load_environment

    spec = load_environment(name, root=_project(project).root)
    use_options(engine=engine, registry=registry, project=project)
    with spec.start(image=_build(spec)) as box:
        from reprokit.engine.docker import interactive_shell

        code = interactive_shell(box.id, workdir=spec.workdir, endpoint=get_engine().endpoint)
    raise typer.Exit(code)


# -- images, gc, schema, doctor -----------------------------------------------------------------------------------


@images_app.command("bootstrap")
def images_bootstrap(references: List[str] = typer.Argument(None, help="default: debian:bullseye bookworm trixie"),
                     arch: Optional[str] = typer.Option(None, "--arch", help="amd64 or arm64 (default: this host's); "
                                                        "another architecture is tagged arm64v8/debian:<suite> (or "
                                                        "amd64/...) and runs under qemu-user emulation, which is "
                                                        "prepared first (as root)"),
                     force: bool = typer.Option(False, help="rebuild even if the image is present"),
                     engine: Optional[str] = EngineOption, registry: Optional[str] = RegistryOption,
                     project: Optional[str] = ProjectOption):
    """Make debian:<suite> base images with debootstrap from the host's Debian mirror (when not pullable); with a
    registry, pull them from it, and push those made or present here that it lacks."""
    from reprokit.aspects.arch import host_arch
    from reprokit.image.base import SUITES, base_tag, bootstrap

    use_options(engine=engine, registry=registry, project=project)

    for reference in references or [f"debian:{s}" for s in SUITES]:
        target = base_tag(reference, arch)
        label = reference if target == reference else f"{reference} for {arch} as {target}"
        with progress(f"bootstrapping {label}") as on_line:
            done = bootstrap(reference, arch=arch, on_line=on_line, force=force)
        out.print(f"{target}: {done.value} ({done.describe()})"
                  + (f", runs under emulation on this {host_arch()} host" if target != reference else ""))


@app.command()
def gc(dry_run: bool = typer.Option(False, "--dry-run", help="list what would be removed"),
       engine: Optional[str] = EngineOption):
    """Remove reprokit containers, networks and volumes (and Swarm jobs and configs) whose owner process is gone
    (never a live one's)."""
    from reprokit.engine import get_engine
    from reprokit.engine.backends import for_gc

    use_options(engine=engine, builds=False)

    engine = for_gc(get_engine())
    found = engine.leftovers()
    for kind, resource_id, labels in found:
        if not dry_run:
            engine.remove(kind, resource_id)
        out.print(f"{'would remove' if dry_run else 'removed'} {kind} {resource_id[:12]} "
                  f"(session {labels.get('reprokit.session')}, pid {labels.get('reprokit.owner-pid')})")
    out.print(f"{len(found)} leftover resource(s)")
    left = [f for f in engine.leftovers() if f in found] if found and not dry_run else []
    if left:  # e.g. a Swarm overlay a task still held when its removal gave up (engine/swarm.py)
        out.print(f"still there after removal: {', '.join(f'{k} {i[:12]}' for k, i, _ in left)}; "
                  "run 'reprokit gc' again later")


@app.command()
def schema(kind: str = typer.Argument("all", help="environment | case | all")):
    """Print the JSON Schema of environment and case files, for editors to validate them."""
    from reprokit.contract.schema import file_schemas

    schemas = file_schemas()
    if kind not in (*schemas, "all"):
        from reprokit.errors import ReprokitError

        raise ReprokitError(f"unknown schema {kind!r}", hint=f"choose one of: {', '.join(schemas)}, all")
    sys.stdout.write(json.dumps(schemas if kind == "all" else schemas[kind], indent=2) + "\n")


@app.command()
def doctor(project: Optional[str] = ProjectOption, engine: Optional[str] = EngineOption):
    """Check every prerequisite (engine, debootstrap, base images, emulation of other architectures, CA bundle,
    Debian mirror, faketime, registries, image-use records, Podman)
    and say how to fix each problem. Exits 1 when a check the project needs fails; a note is no failure."""
    from reprokit.doctor import checks

    use_options(engine=engine, builds=False)

    problems = 0
    for check in checks(_project(project)):
        problems += not check.ok and check.required
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]" if check.required else "[yellow]note[/yellow]"
        out.print(f"{mark} {check.name}: {check.detail}" + ("" if check.ok else f"\n      fix: {check.fix}"),
                  soft_wrap=True)
    raise typer.Exit(1 if problems else 0)


def _register_stages() -> None:
    """Each stage module adds its own commands; they import their heavy dependencies lazily."""
    import importlib

    for stage in ("case", "collect", "isolate", "handoff"):
        importlib.import_module(f"reprokit.cli.{stage}").register(app, env_app)
    importlib.import_module("reprokit.cli.images").register(images_app)


_register_stages()


def _print_yaml(data) -> None:
    from reprokit.contract.load import dump_yaml

    sys.stdout.write(dump_yaml(data))


def main() -> None:
    """Entry point: user mistakes print a message and exit 2, never a traceback."""
    import warnings

    from reprokit._console import show_warning
    from reprokit.errors import ReprokitError

    warnings.showwarning = show_warning
    try:
        app()
    except ReprokitError as error:
        from rich.markup import escape

        err.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
