"""What a service kind is: the official image it stands in for, the releases Debian ships, its commands."""
from __future__ import annotations

import re

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class ServiceKind(str, Enum):
    """The servers reprokit can start next to the steps, and build from Debian when no registry answers."""

    POSTGRES = "postgres"
    MARIADB = "mariadb"
    REDIS = "redis"

    def describe(self) -> str:
        return {"postgres": "PostgreSQL, as the official postgres image runs it",
                "mariadb": "MariaDB, as the official mariadb image runs it (also stands in for mysql, on request)",
                "redis": "Redis, as the official redis image runs it"}[self.value]


@dataclass(frozen=True)
class Release:
    """One release line of a server as one Debian suite ships it, recorded from `apt-cache policy` there."""

    suite: str            # "bookworm"
    series: str           # the line a tag names: "15" (postgres), "10.11" (mariadb), "7.0" (redis)
    version: str          # the upstream version the suite had when recorded: "15.20"
    package: str          # the Debian package that brings the server: "postgresql-15"
    debian_version: str   # the full Debian version recorded: "15.20-0+deb12u1"


@dataclass(frozen=True)
class StandIn:
    """Another server's official image that a kind can replace, only when the user opts in (mysql -> MariaDB)."""

    repository: str                          # "mysql"
    title: str                               # "MySQL"
    series_for: Callable[[str | None], str]  # the other server's version (None: latest) -> this kind's series
    caveat: str                              # why the replacement is not the same server, said in provenance


class Kind(Protocol):
    """One service kind: one module implements it, `registry.KINDS` lists it."""

    kind: ServiceKind
    repository: str                   # the official image's name on Docker Hub: "postgres"
    title: str                        # the server's name in messages: "PostgreSQL"
    port: int                         # the port the official image listens on
    releases: tuple[Release, ...]     # oldest first
    env: Mapping[str, str]            # the official image's variables this kind honours -> their meaning
    stand_ins: tuple[StandIn, ...]    # other official images it can replace on request

    def series_length(self, version: str) -> int:
        """How many dot-separated parts of ``version`` name a release line ("15.4" -> 1 for postgres)."""

    def dockerfile(self, release: Release, *, image: str, stand_in: StandIn | None = None) -> str:
        """The Dockerfile that builds ``release`` into an image behaving like the official ``image``."""

    def context(self, release: Release) -> dict[str, bytes]:
        """The build-context files the Dockerfile copies (its entry point script)."""

    def env_problems(self, env: Mapping[str, str]) -> tuple[str, ...]:
        """Why a container with ``env`` would not start, or would ignore a variable; empty when fine."""

    def ready_command(self, env: Mapping[str, str], command: Sequence[str] = ()) -> list[str]:
        """An argv run inside the service container that exits 0 once the server accepts connections."""

    def version_command(self, env: Mapping[str, str], command: Sequence[str] = ()) -> list[str]:
        """An argv run inside the service container that prints the running server's version string."""


def version_in(output: str) -> str | None:
    """The first dotted version in a version command's output: 'PostgreSQL 15.20 (Debian ...)' -> '15.20'."""
    match = re.search(r"\b(\d+\.\d+(?:\.\d+)?)", output)
    return match.group(1) if match else None


def version_key(version: str) -> tuple[int, ...]:
    """'10.11.19' -> (10, 11, 19), for ordering releases."""
    return tuple(int(part) for part in version.split("."))
