"""What every CLI module shares: one rich console each for results and for progress, and the project option."""
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


@contextmanager
def progress(title: str) -> Iterator[Callable[[str], None]]:
    """A live status line for long work (builds, bootstraps); yields a callback taking each log line."""
    with err.status(escape(title)) as status:
        def on_line(line: str) -> None:
            line = line.strip()
            if line:
                status.update(f"{escape(title)}  [dim]{escape(line[:110])}[/dim]")
        yield on_line
