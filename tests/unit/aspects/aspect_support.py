"""Helpers the per-aspect tests share: specs, a project on disk, loader errors, atoms, facts, import, a shell."""
from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from reprokit.aspects.base import Aspect, ImportContext
from reprokit.errors import SpecError
from reprokit.aspects.atoms import Atom, atoms
from reprokit.contract.load import load_environment
from reprokit.contract.models import EnvironmentSpec

HERE = Path(__file__).parent
# A real self-signed CA (openssl req -x509 -newkey rsa:2048 -days 3650 -subj /CN=test-root), valid until 2036.
PEM = (HERE / "corp-root.pem").read_text()


def spec(**fields) -> EnvironmentSpec:
    """A minimal valid environment with ``fields`` on top."""
    return EnvironmentSpec(**{"name": "t", "os": "debian:bookworm", **fields})


def project(root: Path, **environments: str | bytes) -> Path:
    """Write ``environments/<name>.yaml`` (text is dedented) or any other file (``name`` with a dot, as bytes or
    text) under ``root``; return root."""
    folder = root / "environments"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in environments.items():
        path = folder / (name if "." in name else f"{name}.yaml")
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return root


def load(root: Path, name: str = "child", **environments: str | bytes) -> EnvironmentSpec:
    return load_environment(name, root=project(root, **environments))


def load_error(root: Path, text: str, **others: str | bytes) -> str:
    """The SpecError message of loading ``environments/bad.yaml`` = ``text``."""
    project(root, bad=text, **others)
    with pytest.raises(SpecError) as caught:
        load_environment("bad", root=root)
    return str(caught.value)


def atom_named(baseline: EnvironmentSpec, customer: EnvironmentSpec, name: str) -> Atom:
    found = {a.name: a for a in atoms(baseline, customer)}
    assert name in found, f"{name} not among the atoms {list(found)}"
    return found[name]


def imported(aspect: Aspect, facts: dict, *, kind: str = "collection", **options) -> tuple[dict, list[str]]:
    """What ``aspect`` imports from ``facts``, and what it says it lost."""
    context = ImportContext(facts, kind, options)
    return aspect.from_collection(context), context.lost


def sh(script: str, *, cwd: Path | None = None) -> str:
    """Run ``script`` with the host's /bin/sh; its stdout (a failure fails the test with stderr shown)."""
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout
