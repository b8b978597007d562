"""What every CLI module shares: one rich console each for results and for progress, and the options every
command takes the same way (project, engine, registry)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import typer
from rich.console import Console
from rich.markup import escape

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
# Every command that reads a project takes it the same way.
ProjectOption = typer.Option(None, "--project", "-C", help="Project folder (default: nearest with environments/).")
# Every command that talks to an engine, and every one that builds, takes these; also before the command
# (`reprokit --engine URL replay`), for all of them at once.
EngineOption = typer.Option(None, "--engine", metavar="URL|CONTEXT",
                            help="The Docker engine: a URL (unix://, tcp://, ssh://) or a Docker context name "
                                 "(default: DOCKER_HOST, else the current Docker context, else the local socket).")
RegistryOption = typer.Option(None, "--registry", metavar="HOST[:PORT]/PATH",
                              help="Share images through this registry: pull an image before building it, push "
                                   "what was built ('' for none; default: REPROKIT_REGISTRY, else `registry` in "
                                   "reprokit.toml, or under tool.reprokit in pyproject.toml).")
_before_command: dict[str, str | None] = {"engine": None, "registry": None}


def remember_global_options(*, engine: str | None, registry: str | None) -> None:
    """The root's --engine and --registry, the defaults of every command's own."""
    _before_command.update(engine=engine, registry=registry)


def use_options(*, engine: str | None = None, registry: str | None = None, project: str | None = None,
                builds: bool = True) -> None:
    """Point the process at the chosen engine and (for a command that ``builds``) registry: the command's own
    option, else the one given before the command, else the environment and the project's files."""
    from reprokit.engine import use_engine

    chosen = engine or _before_command["engine"]
    if chosen:
        use_engine(chosen)
    if builds:
        from reprokit.engine.registry import configured, use_registry
        from reprokit.contract.load import Project

        option = registry if registry is not None else _before_command["registry"]
        address, source = configured(option, project_root=Project.at(project).root)
        use_registry(address, source=source)
        if address:
            err.print(f"[dim]sharing images through {escape(address)} ({escape(source)})[/dim]", soft_wrap=True)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """reprokit's own warnings as one line on stderr, like its errors; others as Python prints them."""
    from reprokit.errors import ReprokitWarning

    if issubclass(category, ReprokitWarning):
        err.print(f"[yellow]warning:[/yellow] {escape(str(message))}", soft_wrap=True)
    else:
        _python_warning(message, category, filename, lineno, file, line)


def _python_warning(*args) -> None:
    import warnings

    print(warnings.formatwarning(*args[:4], line=args[5]), end="", file=args[4] or __import__("sys").stderr)


@contextmanager
def progress(title: str) -> Iterator[Callable[[str], None]]:
    """A live status line for long work (builds, bootstraps); yields a callback taking each log line."""
    with err.status(escape(title)) as status:
        def on_line(line: str) -> None:
            line = line.strip()
            if line:
                status.update(f"{escape(title)}  [dim]{escape(line[:110])}[/dim]")
        yield on_line
