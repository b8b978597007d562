"""The CPU architecture of an environment (`arch: arm64`), emulated with qemu-user-static where the host differs."""
from __future__ import annotations

import platform
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from reprokit.aspects.base import Aspect, ImportContext, SpecField

# Docker's names -> what `uname -m` prints, and the Docker Hub namespace of the official images for it.
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
NAMESPACES = {"amd64": "amd64", "arm64": "arm64v8"}
ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "amd64": "amd64", "arm64": "arm64"}


def _arch(value: Any) -> Any:
    if value is not None and ALIASES.get(str(value).lower()) is None:
        raise ValueError(f"{value!r} is not an architecture reprokit can build; write amd64 or arm64")
    return None if value is None else ALIASES[str(value).lower()]


def host_arch() -> str:
    """This machine's architecture in Docker's words ('amd64', 'arm64')."""
    return ALIASES.get(platform.machine().lower(), platform.machine().lower())


def foreign(spec) -> bool:
    return spec.arch is not None and spec.arch != host_arch()


def base_reference(spec) -> str:
    """The base image for the environment's architecture: the image as declared on the host's architecture,
    else the official per-architecture name (`arm64v8/debian:bookworm`), which `reprokit images bootstrap
    --arch arm64` makes where no registry has it. Architectures never share a tag."""
    if not foreign(spec):
        return spec.os
    name = spec.os.removeprefix("docker.io/").removeprefix("library/")
    return f"{NAMESPACES[spec.arch]}/{name}"


class Arch(Aspect):
    """`arch: arm64` (or `amd64`). Changes the base image, so every layer is rebuilt under emulation (slow:
    a python start takes ~0.8 s under qemu)."""

    name = "arch"
    fields = {"arch": SpecField(Annotated[Literal["amd64", "arm64"] | None, BeforeValidator(_arch)], None,
                                description="CPU architecture: amd64 or arm64; unset = the host's")}
    fact_script = ("section arch; uname -m\n"
                   # qemu-user shows the guest `uname -m` but the host's /proc/cpuinfo: a mismatch means emulation.
                   "section cpuinfo; grep -m1 -iE '^(flags|Features)' /proc/cpuinfo | cut -c1-40")

    def container(self, spec) -> dict[str, Any]:
        return {"platform": f"linux/{spec.arch}"} if foreign(spec) else {}

    def notes(self, spec) -> list[str]:
        if not foreign(spec):
            return []
        return [f"arch {spec.arch}: this host is {host_arch()}; builds and steps run under qemu-user emulation "
                f"(several times slower), from the base image {base_reference(spec)}"]

    def read_facts(self, sections) -> dict[str, Any]:
        machine = (sections.get("arch") or [""])[0]
        cpuinfo = (sections.get("cpuinfo") or [""])[0].lower()
        host_kind = "x86" if cpuinfo.startswith("flags") else "arm" if cpuinfo.startswith("features") else ""
        guest_kind = "x86" if machine in ("x86_64", "i686") else "arm" if machine.startswith(("aarch64", "arm")) else ""
        emulated = bool(host_kind and guest_kind and host_kind != guest_kind)
        return {"arch": machine, **({"emulated": "qemu-user (the host CPU is another architecture)"} if emulated else {})}

    def check(self, spec, facts) -> str | None:
        if spec.arch and facts.get("arch") and facts["arch"] != MACHINES[spec.arch]:
            return f"{spec.arch} declared, but `uname -m` says {facts['arch']}"
        return None

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        machine = str(context.facts.get("arch") or "")
        arch = ALIASES.get(machine.lower())
        if machine and arch is None:
            context.lost.append(f"architecture {machine}: only amd64 and arm64 can be built here")
        return {"arch": arch} if arch and arch != host_arch() else {}
