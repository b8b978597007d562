"""Check what reprokit needs on this machine; each problem comes with its fix."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator, NamedTuple

from reprokit.aspects.arch import arch_reference, host_arch
from reprokit.errors import ReprokitError
from reprokit.image import emulation
from reprokit.image.base import SUITES
from reprokit.image.build import find_ca_bundle


class Check(NamedTuple):
    """One line of `reprokit doctor`. A check that is not ``required`` (nothing in the project needs it yet)
    is informational: it says what is missing and how to fix it, but is no failure."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def checks(project=None) -> Iterator[Check]:
    yield Check("docker client", shutil.which("docker") is not None, shutil.which("docker") or "not on PATH",
                "as root: apt-get install -y docker.io")
    try:
        from reprokit.engine import get_engine

        engine = get_engine()
        yield Check("docker engine", True, f"version {engine.version()}")
    except ReprokitError as error:
        yield Check("docker engine", False, error.message, "as root: bash .ci/setup.sh (installs and starts dockerd)")
        engine = None
    yield Check("debootstrap", shutil.which("debootstrap") is not None, shutil.which("debootstrap") or "not installed",
                "as root: apt-get install -y debootstrap")
    for suite in SUITES:
        present = engine is not None and engine.image_id(f"debian:{suite}") is not None
        yield Check(f"base image debian:{suite}", present, "present" if present else "missing",
                    f"reprokit images bootstrap debian:{suite}")
    yield from foreign_checks(engine, declared_foreign(project))
    bundle = find_ca_bundle()
    yield Check("CA bundle for builds", bundle is not None, str(bundle) if bundle else "none found",
                "set REPROKIT_CA_BUNDLE to the PEM bundle your network's TLS proxy is trusted by")


def foreign_checks(engine, declared: dict[tuple[str, str], list[str]], *,
                   binfmt: Path = emulation.BINFMT) -> Iterator[Check]:
    """Emulation of each foreign architecture (arm64 on an amd64 host always, the others where declared), and
    the base image of every foreign (os, arch) the project declares. Emulation nobody declares is informational."""
    arches = sorted({arch for _, arch in declared} | ({"arm64"} - {host_arch()}))
    for arch in arches:
        users = sorted({who for (_, a), whos in declared.items() if a == arch for who in whos})
        state = emulation.check(arch, binfmt=binfmt)
        needed = f"; needed by {_some(users)}" if users else "; no environment declares it"
        yield Check(f"emulation {arch}", state.ok, state.detail + ("" if state.ok else needed), state.fix,
                    required=bool(users))
    for (image, arch), users in sorted(declared.items()):
        reference = arch_reference(image, arch)
        present = engine is not None and engine.image_id(reference) is not None
        state = ("present" if present else "missing") + f" (for {_some(users)})"
        yield Check(f"base image {reference}", present, state, f"reprokit images bootstrap {image} --arch {arch}")


def declared_foreign(project) -> dict[tuple[str, str], list[str]]:
    """(os, arch) -> who declares it, for every environment and case side whose arch is not the host's. A file
    that does not load declares nothing here (the commands that use it report it)."""
    from reprokit.contract.load import Project, load_case, load_environment

    project = project or Project.at()
    found: dict[tuple[str, str], list[str]] = {}

    def note(spec, who: str) -> None:
        if spec.arch is not None and spec.arch != host_arch():
            found.setdefault((spec.os, spec.arch), []).append(who)

    for name in project.environment_names():
        try:
            note(load_environment(name, root=project.root), f"environment {name}")
        except ReprokitError:
            continue
    for case_id in project.case_ids():
        try:
            case = load_case(case_id, root=project.root)
        except ReprokitError:
            continue
        note(case.environment, f"case {case_id}")
        note(case.baseline, f"case {case_id} (baseline)")
    return found


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
