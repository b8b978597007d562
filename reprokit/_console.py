"""Terminal output shared by the CLI: one rich console each for results and for progress."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@contextmanager
def progress(title: str) -> Iterator[Callable[[str], None]]:
    """A live status line for long work (builds, bootstraps); yields a callback taking each log line."""
    with err.status(escape(title)) as status:
        def on_line(line: str) -> None:
            line = line.strip()
            if line:
                status.update(f"{escape(title)}  [dim]{escape(line[:110])}[/dim]")
        yield on_line
