"""Check what reprokit needs on this machine; each problem comes with its fix."""
from __future__ import annotations

import shutil
from typing import Iterator

from reprokit.image.build import find_ca_bundle
from reprokit.errors import ReprokitError
from reprokit.image.base import SUITES

Check = tuple[str, bool, str, str]


def checks() -> Iterator[Check]:
    yield ("docker client", shutil.which("docker") is not None, shutil.which("docker") or "not on PATH",
           "as root: apt-get install -y docker.io")
    try:
        from reprokit.engine import get_engine

        engine = get_engine()
        yield "docker engine", True, f"version {engine.version()}", ""
    except ReprokitError as error:
        yield "docker engine", False, error.message, "as root: bash .ci/setup.sh (installs and starts dockerd)"
        engine = None
    yield ("debootstrap", shutil.which("debootstrap") is not None, shutil.which("debootstrap") or "not installed",
           "as root: apt-get install -y debootstrap")
    for suite in SUITES:
        present = engine is not None and engine.image_id(f"debian:{suite}") is not None
        yield (f"base image debian:{suite}", present, "present" if present else "missing",
               f"reprokit images bootstrap debian:{suite}")
    bundle = find_ca_bundle()
    yield ("CA bundle for builds", bundle is not None, str(bundle) if bundle else "none found",
           "set REPROKIT_CA_BUNDLE to the PEM bundle your network's TLS proxy is trusted by")
