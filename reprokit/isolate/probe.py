"""One isolation probe: a case's steps in a hybrid environment, run-time atoms applied when the container starts."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from reprokit.isolate.ddmin import Trial
from reprokit.engine import Engine
from reprokit.errors import ReprokitError
from reprokit.contract.load import write_json_atomically
from reprokit.contract.models import Case, EnvironmentSpec
from reprokit.run.launch import launch

CACHE_VERSION = "1"  # bump when what a probe does changes, so stored outcomes are not reused


def probe_case(case: Case, spec: EnvironmentSpec, *, repeat: int = 1, engine: Engine | None = None,
               on_line: Callable[[str], None] | None = None, facts_cache: Path | None = None) -> Trial:
    """Run ``case``'s steps ``repeat`` times in fresh containers of the hybrid ``spec``: the run stage of a case
    run, with the aspects that can be applied at start left out of the image so hybrids share images (the
    container is the same either way). A build or start failure, or a declared value not in effect, makes the
    trial unresolved."""
    from reprokit.case.reproduce import Role, observe

    plan = launch(spec, share_image=True)
    run = observe(case, plan, role=Role.PROBE, repeat=repeat, engine=engine, on_line=on_line, facts_cache=facts_cache)
    built = run.image.built if run.image else None
    return Trial(len(run.attempts), sum(a.matched for a in run.attempts), built, error=run.error)


def case_fingerprint(case: Case, repeat: int) -> str:
    """What, besides the hybrid, decides a probe's outcome: the steps, the case's files and the signature."""
    data = case.model_dump_json(include={"steps", "files", "expect"})
    return hashlib.sha256(f"{CACHE_VERSION}|{repeat}|{data}".encode()).hexdigest()


class OutcomeCache(dict):
    """Probe outcomes by content hash, kept in ``<project>/.reprokit/isolate/<case>.json`` between runs."""

    def __init__(self, path: Path | None, *, fresh: bool = False):
        super().__init__()
        self.path = path
        if path and not fresh:
            try:
                self.update({k: Trial(**v) for k, v in json.loads(path.read_text()).items()})
            except (OSError, ValueError, TypeError):
                pass

    def save(self) -> None:
        if self.path is not None:
            # An unresolved probe may have failed for a passing reason (network, disk): try it again next time.
            write_json_atomically(self.path, {k: asdict(v) for k, v in self.items() if v.error is None})


def index_versions(package: str, *, timeout: float = 180) -> list[str]:
    """The releases of ``package`` on the index the host's pip is configured with (newest first)."""
    command = [sys.executable, "-m", "pip", "index", "versions", package, "--disable-pip-version-check"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ReprokitError(f"could not list the releases of {package}: {error}",
                            reproduce=" ".join(command[2:])) from None
    found = re.search(r"^Available versions:\s*(.+)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not found:
        raise ReprokitError(f"the package index lists no releases of {package!r}: "
                            f"{(done.stderr or done.stdout).strip()[-300:]}",
                            hint="check the name, or pass the candidate versions with --versions",
                            reproduce=" ".join(command[2:]))
    return [v.strip() for v in found.group(1).split(",") if v.strip()]
