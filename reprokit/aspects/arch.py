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
EMULATED = "qemu-user"

# What qemu-user cannot make look like the customer's machine (measured on an amd64 host, qemu 7.2).
UNFAITHFUL = ("static binaries of the host's architecture run natively instead of failing with 'Exec format "
              "error'; the page size, CPU count and /proc/cpuinfo are the host's; everything runs 10-25 times "
              "slower, so timing-sensitive bugs are distorted")


def _arch(value: Any) -> Any:
    if value is not None and ALIASES.get(str(value).lower()) is None:
        raise ValueError(f"{value!r} is not an architecture reprokit can build; write amd64 or arm64")
    return None if value is None else ALIASES[str(value).lower()]


def host_arch() -> str:
    """This machine's architecture in Docker's words ('amd64', 'arm64')."""
    return ALIASES.get(platform.machine().lower(), platform.machine().lower())


def foreign(spec) -> bool:
    return spec.arch is not None and spec.arch != host_arch()


def arch_reference(image: str, arch: str | None) -> str:
    """Where ``image`` of ``arch`` lives: the image itself on the host's architecture (or with none given), else
    the official per-architecture repository (`debian:bookworm` + arm64 -> `arm64v8/debian:bookworm`).
    Architectures never share a tag: the classic builder takes whatever architecture the base has."""
    if arch is None or arch == host_arch():
        return image
    name = image.removeprefix("docker.io/").removeprefix("library/")
    return f"{NAMESPACES[arch]}/{name}"


def base_reference(spec) -> str:
    """The base image for the environment's architecture, which `reprokit images bootstrap <os> --arch <arch>`
    makes where no registry has it."""
    return arch_reference(spec.os, spec.arch)


class Arch(Aspect):
    """`arch: arm64` (or `amd64`). Changes the base image, so every layer is rebuilt under emulation (slow:
    apt and python run 10-25 times slower under qemu; a python start takes ~0.4-1.5 s)."""

    name = "arch"
    fields = {"arch": SpecField(Annotated[Literal["amd64", "arm64"] | None, BeforeValidator(_arch)], None,
                                description="CPU architecture: amd64 or arm64; unset = the host's")}
    fact_script = ("section arch; uname -m\n"
                   # qemu-user fakes /proc/self/exe for the process asking, not for another one: a child
                   # reading its shell's exe sees the kernel's view, the host's qemu-<machine>-static. The
                   # trailing `; :` keeps sh from exec'ing readlink in its own place.
                   "section emulator; sh -c 'readlink /proc/$$/exe; :'")

    def container(self, spec) -> dict[str, Any]:
        return {"platform": f"linux/{spec.arch}"} if foreign(spec) else {}

    def notes(self, spec) -> list[str]:
        if not foreign(spec):
            return []
        return [f"arch {spec.arch}: this host is {host_arch()}; builds and steps run under qemu-user emulation, "
                f"from the base image {base_reference(spec)}. Not reproduced under emulation: {UNFAITHFUL}"]

    def read_facts(self, sections) -> dict[str, Any]:
        machine = (sections.get("arch") or [""])[0]
        interpreter = (sections.get("emulator") or [""])[0].rsplit("/", 1)[-1]
        return {"arch": machine, **({"emulated": EMULATED} if interpreter.startswith("qemu-") else {})}

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
