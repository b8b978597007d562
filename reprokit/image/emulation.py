"""Running containers of another CPU architecture here: qemu-user-static, registered with binfmt_misc.

The kernel hands an aarch64 program to qemu-aarch64-static when binfmt_misc holds an enabled `qemu-aarch64`
entry. Containers also need the entry's F (fix-binary) flag: with it the kernel opens the interpreter when
the entry is registered, so the interpreter need not exist in the container's root filesystem. `check` only
reads /proc (for `reprokit doctor`); `prepare` installs, mounts and registers, each step only when needed,
as root. Verified on Debian 12 amd64 (kernel 6.18, qemu-user-static 1:7.2, binfmt-support 2.2.2).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reprokit.aspects.arch import MACHINES, host_arch
from reprokit.errors import EngineError

BINFMT = Path("/proc/sys/fs/binfmt_misc")
PACKAGES = {"qemu-user-static": "qemu-{machine}-static", "binfmt-support": "update-binfmts"}  # package -> command
# The kernel's register string for aarch64 ELF programs, for hosts without update-binfmts (same magic and mask
# as Debian's /usr/share/binfmts/qemu-aarch64); P keeps argv[0], F is fix-binary. The kernel decodes the \x
# escapes itself, so they are written as text.
REGISTER = {"arm64": r":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"
                     r"\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
                     r":/usr/bin/qemu-aarch64-static:PF"}
FIX = ("as root: reprokit images bootstrap debian:bookworm --arch {arch} (it prepares emulation first: installs "
       "qemu-user-static and binfmt-support, mounts binfmt_misc, registers qemu-{machine} with the F flag), "
       "or bash .ci/setup.sh")


@dataclass(frozen=True)
class Emulation:
    """Can containers of ``arch`` run here, and if not, why and what fixes it."""

    arch: str
    ok: bool
    detail: str
    fix: str = ""

    @property
    def native(self) -> bool:
        return self.ok and self.detail == "native"


def entry_name(arch: str) -> str:
    return f"qemu-{MACHINES[arch]}"


def check(arch: str, *, binfmt: Path = BINFMT) -> Emulation:
    """The host's own architecture runs natively; another one needs an enabled binfmt entry with the F flag."""
    if arch == host_arch():
        return Emulation(arch, True, "native")
    fix = FIX.format(arch=arch, machine=MACHINES[arch])
    name = entry_name(arch)
    if not (binfmt / "register").exists():
        return Emulation(arch, False, f"{binfmt} is not mounted", fix)
    if _read(binfmt / "status").strip() != "enabled":
        return Emulation(arch, False, "binfmt_misc is disabled", fix)
    entry = binfmt / name
    if not entry.exists():
        return Emulation(arch, False, f"no {name} entry in {binfmt} (qemu-user-static is not registered)", fix)
    lines = _read(entry).splitlines()
    fields = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
    flags = fields.get("flags:", "").strip()
    if not lines or lines[0] != "enabled":
        return Emulation(arch, False, f"{name} is disabled", fix)
    if "F" not in flags:
        return Emulation(arch, False, f"{name} lacks the F flag (flags: {flags or 'none'}): containers cannot find "
                         "the interpreter", fix)
    return Emulation(arch, True, f"qemu-user via {fields.get('interpreter', '?').strip()} (flags {flags})")


def prepare(arch: str, *, binfmt: Path = BINFMT, run: Callable[..., object] = subprocess.run,
            say: Callable[[str], None] = lambda line: None) -> Emulation:
    """Make ``arch`` runnable here: install, mount, register, each only when needed (quick when all is there).
    Needs root unless there is nothing to do; raises EngineError when it cannot."""
    ready = check(arch, binfmt=binfmt)
    if ready.ok:
        return ready
    if os.geteuid() != 0:
        raise EngineError(f"containers of {arch} cannot run here: {ready.detail}", hint=ready.fix)
    machine, name = MACHINES[arch], entry_name(arch)
    missing = [package for package, command in PACKAGES.items()
               if shutil.which(command.format(machine=machine)) is None]
    if missing:
        say(f"installing {' '.join(missing)}")
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-qq"], check=True, env=environment)
        run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=environment, stdout=subprocess.DEVNULL)
    if not (binfmt / "register").exists():
        say(f"mounting binfmt_misc on {binfmt}")
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)], check=True)
    entry = binfmt / name
    if entry.exists() and "F" not in _flags(entry):
        # `update-binfmts --enable` leaves an entry without F as it is ("already enabled"): drop it first.
        say(f"removing {name}, registered without the F flag")
        entry.write_text("-1")
    if entry.exists() and _read(entry).startswith("disabled"):
        entry.write_text("1")
    if not entry.exists() and shutil.which("update-binfmts"):
        say(f"registering {name} (update-binfmts)")  # Debian's format file says fix_binary yes: flags PF
        run(["update-binfmts", "--enable", name], stderr=subprocess.DEVNULL)
    if not entry.exists() and arch in REGISTER:
        say(f"registering {name} (binfmt_misc register)")
        (binfmt / "register").write_text(REGISTER[arch])
    done = check(arch, binfmt=binfmt)
    if not done.ok:
        raise EngineError(f"could not prepare emulation of {arch}: {done.detail}",
                          hint=f"register it by hand: update-binfmts --enable {name}, then check {binfmt / name}")
    return done


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _flags(entry: Path) -> str:
    return next((line for line in _read(entry).splitlines() if line.startswith("flags:")), "")
