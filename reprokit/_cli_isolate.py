"""CLI commands for the isolate stage (registered on the main app by cli.py)."""
from __future__ import annotations

import typer


def register(app: typer.Typer, env_app: typer.Typer) -> None:
    """Add this stage's commands to the main app (and to `reprokit env` where they belong)."""
