"""Make Debian base images without a registry: debootstrap from the host's mirror, then import."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from enum import Enum
from pathlib import Path
from typing import Callable

from reprokit import __version__
from reprokit.engine import Engine, get_engine
from reprokit.errors import EngineError, ReprokitError
from reprokit.image import registry

SUITES = ("bullseye", "bookworm", "trixie")


class Provision(str, Enum):
    """How a base image came to be available."""

    PRESENT = "present"
    PULLED = "pulled"
    BOOTSTRAPPED = "bootstrapped"

    def describe(self) -> str:
        return {"present": "already in the engine", "pulled": "pulled from a registry",
                "bootstrapped": "made with debootstrap from the host's Debian mirror"}[self.value]
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def host_mirrors(apt_dir: Path = Path("/etc/apt")) -> tuple[str, str]:
    """The Debian archive and security mirrors named in the host's apt sources (one-line and deb822)."""
    uris: list[str] = []
    for path in [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]:
        try:
            text = path.read_text()
        except OSError:
            continue
        uris += re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M)
        uris += [u for line in re.findall(r"^URIs:\s*(.+)$", text, re.M) for u in line.split()]
    debian = [u.rstrip("/") for u in uris if re.search(r"/debian$", u.rstrip("/"))]
    security = [u.rstrip("/") for u in uris if re.search(r"/debian-security$", u.rstrip("/"))]
    main = debian[0] if debian else DEFAULT_MIRROR
    return main, security[0] if security else main.rsplit("/", 1)[0] + "/debian-security"


def bootstrap(reference: str, *, engine: Engine | None = None, on_line: Callable[[str], None] | None = None,
              force: bool = False) -> Provision:
    """Make ``debian:<suite>`` available: present -> nothing (but offered to the registry); in the registry or
    pullable -> pull; else debootstrap it (and push it to the registry). Returns what was done."""
    engine = engine or get_engine()
    image, _, suite = reference.partition(":")
    if image not in ("debian", "docker.io/library/debian") or suite not in SUITES:
        raise ReprokitError(f"cannot bootstrap {reference!r}",
                            hint=f"bootstrap makes debian:<suite> for suite in {', '.join(SUITES)}")
    if not force and engine.image_id(reference):
        registry.offer(engine, reference)
        return Provision.PRESENT
    if not force and (registry.pull(engine, reference) or engine.pull(reference)):
        return Provision.PULLED
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        raise EngineError("debootstrap is needed (as root) to make base images without a registry",
                          hint="as root: apt-get install -y debootstrap  (bash .ci/setup.sh does it)")
    mirror, security = host_mirrors()
    say = on_line or (lambda line: None)
    with tempfile.TemporaryDirectory(prefix=f"reprokit-{suite}-") as tmp:
        root = Path(tmp) / "rootfs"
        command = ["debootstrap", "--variant=minbase", suite, str(root), mirror]
        run_streaming(command, say)
        # The official images also follow -updates and -security: point-release fixes matter for repros.
        (root / "etc/apt/sources.list").write_text(
            f"deb {mirror} {suite} main\ndeb {mirror} {suite}-updates main\ndeb {security} {suite}-security main\n")
        for cached in (root / "var/cache/apt/archives").glob("*.deb"):
            cached.unlink()
        tarball = Path(tmp) / "rootfs.tar"
        run_streaming(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tarball), "."], say)
        say(f"importing {reference}")
        # Labelled so `reprokit images` knows it made this image. Images built on it inherit the labels, so
        # `reprokit.base` names the reference: only the image tagged so is the base itself.
        engine.import_rootfs(str(tarball), reference, labels={"reprokit.kind": "base", "reprokit.base": reference,
                                                               "reprokit.version": __version__})
    registry.push(engine, reference)  # the other machines sharing the registry need not bootstrap it
    return Provision.BOOTSTRAPPED


def run_streaming(command: list[str], on_line: Callable[[str], None]) -> None:
    """Run a host command, passing each output line on; a failure names the command to re-run."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    for line in process.stdout:
        tail = (tail + [line.rstrip()])[-15:]
        on_line(line.rstrip())
    if process.wait() != 0:
        raise EngineError(f"{command[0]} failed (exit {process.returncode}):\n  " + "\n  ".join(tail),
                          reproduce=" ".join(command))
