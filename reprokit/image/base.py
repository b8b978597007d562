"""Make Debian base images without a registry: debootstrap (any architecture) from the host's mirror, then load."""
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
from reprokit.aspects.arch import ALIASES, MACHINES, arch_reference, host_arch
from reprokit.engine import Engine, get_engine
from reprokit.errors import EngineError, ReprokitError
from reprokit.image import emulation
from reprokit.image.usage import record_use

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


def bootstrap(reference: str, *, arch: str | None = None, engine: Engine | None = None,
              on_line: Callable[[str], None] | None = None, force: bool = False) -> Provision:
    """Make ``debian:<suite>`` of ``arch`` (default: the host's) available, tagged `base_tag(reference, arch)`:
    present -> nothing (but offered to the registry); in the registry or pullable -> pull; else debootstrap it
    (and push it to the registry). A foreign ``arch`` prepares emulation first (qemu-user-static and
    binfmt_misc, see `emulation`), present image or not: without it the image is useless. Returns what was
    done."""
    engine = engine or get_engine()
    image, _, suite = reference.partition(":")
    if image not in ("debian", "docker.io/library/debian") or suite not in SUITES:
        raise ReprokitError(f"cannot bootstrap {reference!r}",
                            hint=f"bootstrap makes debian:<suite> for suite in {', '.join(SUITES)}")
    arch = _architecture(arch)
    target = base_tag(reference, arch)
    say = on_line or (lambda line: None)
    if arch != host_arch():
        emulation.prepare(arch, say=say)
    found = None if force else _obtain(engine, target, arch, declared=reference)
    if found:
        record_use(target, found[0], kind="base")
        return found[1]
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        raise EngineError("debootstrap is needed (as root) to make base images without a registry",
                          hint="as root: apt-get install -y debootstrap  (bash .ci/setup.sh does it)")
    mirror, security = host_mirrors()
    with tempfile.TemporaryDirectory(prefix=f"reprokit-{suite}-{arch}-") as tmp:
        root = Path(tmp) / "rootfs"
        # No --foreign: with the architecture registered with binfmt_misc, debootstrap finds that the target
        # "can be executed" and runs its second stage itself, under emulation (2-5 min for arm64).
        run_streaming(["debootstrap", f"--arch={arch}", "--variant=minbase", suite, str(root), mirror], say)
        # The official images also follow -updates and -security: point-release fixes matter for repros.
        (root / "etc/apt/sources.list").write_text(
            f"deb {mirror} {suite} main\ndeb {mirror} {suite}-updates main\ndeb {security} {suite}-security main\n")
        for cached in (root / "var/cache/apt/archives").glob("*.deb"):
            cached.unlink()
        tarball = Path(tmp) / "rootfs.tar"
        run_streaming(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tarball), "."], say)
        say(f"loading {target} ({arch})")
        # Labelled so `reprokit images` knows it made this image. Images built on it inherit the labels, so
        # `reprokit.base` names the reference: only the image tagged so is the base itself.
        engine.load_rootfs(str(tarball), target, arch=arch, labels={
            "reprokit.kind": "base", "reprokit.base": target, "reprokit.version": __version__})
    engine.share(target)  # the other machines sharing the registry need not bootstrap it
    return Provision.BOOTSTRAPPED


def ensure_base(engine: Engine, reference: str, *, declared: str | None = None, arch: str | None = None) -> str:
    """The id of the base image ``reference`` (the ``declared`` one made for ``arch``; default: itself), which
    must be present, or come from the shared registry or its own (Debian suites can be made with debootstrap),
    and, when an architecture is declared, be of that architecture: dockerd's classic builder neither checks nor
    applies a platform, the image it builds simply takes the base's. The caller records its use (image/usage.py)."""
    declared = declared or reference
    found = _obtain(engine, reference, arch, declared=declared)
    if found:
        return found[0]
    command = f"reprokit images bootstrap {declared}" + (f" --arch {arch}" if arch and declared != reference else "")
    raise EngineError(f"base image {reference} is not present and no registry can provide it",
                      hint=f"make it from the Debian mirror: {command}; or share it from a machine that has it "
                           "through a registry (--registry, REPROKIT_REGISTRY)")


def _obtain(engine: Engine, reference: str, arch: str | None, *, declared: str) -> tuple[str, Provision] | None:
    """``reference``'s id and how it came: present in the engine, else pulled from the shared registry or its
    own; of ``arch`` when one is given. None when nothing has it."""
    found = engine.obtain(reference)
    if found:
        image_id, provision = found[0], Provision.PULLED if found[1] else Provision.PRESENT
    elif engine.pull(reference, platform=f"linux/{arch}" if arch else None):
        image_id, provision = engine.image_id(reference), Provision.PULLED
    else:
        return None
    if arch:
        check_architecture(engine, reference, arch, declared=declared, what="base image")
    return image_id, provision


def base_tag(reference: str, arch: str | None = None) -> str:
    """The tag of ``reference`` made for ``arch``: itself on the host's architecture, else the official
    per-architecture name (`arm64v8/debian:bookworm`)."""
    return arch_reference(reference, _architecture(arch))


def check_architecture(engine: Engine, reference: str, arch: str, *, declared: str, what: str = "image") -> None:
    """``reference`` must be recorded as ``arch``: the classic builder and `docker run` take the architecture an
    image records, whatever was asked for."""
    found = engine.image_architecture(reference)
    if found != arch:
        raise EngineError(f"{what} {reference} is {found or 'missing'}, not {arch}",
                          hint=f"make a {arch} one under its own tag: reprokit images bootstrap "
                               f"{declared} --arch {arch} --force")


def _architecture(arch: str | None) -> str:
    if arch is None:
        return host_arch()
    if ALIASES.get(arch.lower()) is None:
        raise ReprokitError(f"--arch {arch!r} is not an architecture reprokit can build",
                            hint=f"write one of: {', '.join(MACHINES)}")
    return ALIASES[arch.lower()]


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
