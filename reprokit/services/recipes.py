"""Turn a service's image reference into a recipe: the Debian suite and package that build an equivalent."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from reprokit.errors import InvalidValue
from .kind import Kind, Release, ServiceKind, StandIn, version_key
from reprokit.contract.reference import ImageReference, parse_reference
from .registry import available_images, get_kind, kind_for

# Where the official image of a series is built on another distribution than Debian's glibc.
NON_DEBIAN_VARIANTS = ("alpine", "jammy", "noble", "focal", "ubi", "oracle", "oraclelinux")


@dataclass(frozen=True)
class Recipe:
    """How to build, from Debian packages, an image that behaves like the official ``image``."""

    kind: ServiceKind
    image: str                        # the reference asked for: "postgres:15.4"
    suite: str                        # "bookworm"
    package: str                      # "postgresql-15"
    series: str                       # the release line built: "15"
    version: str                      # the upstream version the suite had when recorded: "15.20"
    port: int                         # the port the server listens on by default
    dockerfile: str                   # FROM debian:<suite> ...
    context: Mapping[str, bytes] = field(hash=False)   # files the Dockerfile copies: docker-entrypoint.sh
    notes: tuple[str, ...] = ()       # where it differs from what was asked, said in provenance

    def provenance(self, observed: str | None = None) -> str:
        """'postgres:15 -> built from Debian bookworm postgresql-15 15.20', plus the notes.

        ``observed``: the version the built server reported (``version_in`` of the version command's output),
        when known; the version recorded in the kind's release table otherwise.
        """
        text = f"{self.image} -> built from Debian {self.suite} {self.package} {observed or self.version}"
        return text + "".join(f"; {note}" for note in self.notes)

    def ready_command(self, env: Mapping[str, str], command: Sequence[str] = ()) -> list[str]:
        """An argv, run inside the service container, that exits 0 once the server takes connections."""
        return get_kind(self.kind).ready_command(env, command)

    def version_command(self, env: Mapping[str, str], command: Sequence[str] = ()) -> list[str]:
        """An argv, run inside the service container, that prints the running server's version string."""
        return get_kind(self.kind).version_command(env, command)

    def env_problems(self, env: Mapping[str, str]) -> tuple[str, ...]:
        """Why the service would not start with ``env``, or would ignore one of its variables."""
        return get_kind(self.kind).env_problems(env)


def recipe_for(image: str, *, allow_mysql: bool = False) -> Recipe:
    """The recipe that stands in for ``image``; InvalidValue, listing what is available, when none can.

    ``allow_mysql``: build the nearest MariaDB for a ``mysql:`` image (it is not the same server).
    """
    reference = parse_reference(image)
    found = kind_for(reference)
    if found is None:
        raise _unavailable(reference, _no_recipe_reason(reference))
    service, stand_in = found
    if stand_in is not None and not allow_mysql:
        series = stand_in.series_for(reference.version)
        raise InvalidValue(
            f"{image}: no registry answers and Debian ships no {stand_in.title} server; the nearest here is "
            f"{service.title} {series} ({service.repository}:{series}), which is a different server",
            hint=f"opt in to {service.title} standing in for {stand_in.title} (`stand_in: true` on the service), or write "
                 f"image: {service.repository}:{series}; or make {image} available (docker load, a registry "
                 "mirror)")
    release, notes = _choose_release(service, reference, stand_in)
    notes += _variant_notes(reference, release)
    if reference.digest:
        notes.append(f"the digest {reference.digest[:19]}... cannot be matched by a build; built from the tag")
    if stand_in is not None:
        notes.append(stand_in.caveat)
    return Recipe(kind=service.kind, image=image, suite=release.suite, package=release.package,
                  series=release.series, version=release.version, port=service.port,
                  dockerfile=service.dockerfile(release, image=image, stand_in=stand_in),
                  context=MappingProxyType(service.context(release)), notes=tuple(notes))


def _choose_release(service: Kind, reference: ImageReference,
                    stand_in: StandIn | None) -> tuple[Release, list[str]]:
    """The release line the reference names, and what to say where it is not exactly what was asked."""
    if stand_in is not None:
        series = stand_in.series_for(reference.version)
        release = next(r for r in service.releases if r.series == series)
        return release, [f"customer asked {stand_in.title} {reference.version or 'latest'}; the nearest "
                         f"{service.title} here is {release.series} ({release.version})"]
    newest = service.releases[-1]
    if reference.version is None:
        if reference.digest and reference.tag == "latest":
            raise InvalidValue(f"{reference.text}: a digest alone names no version, so no recipe can match it",
                               hint=f"write the tag the customer runs, e.g. {service.repository}:{newest.series}")
        return newest, [f"'{reference.tag}' follows the newest {service.title} release upstream; the newest "
                        f"Debian ships here is {newest.series} ({newest.version})"]
    parts = reference.version.split(".")
    length = service.series_length(reference.version)
    if len(parts) < length:  # "redis:6", "mariadb:11": the newest line under that prefix
        matching = [r for r in service.releases if r.series.split(".")[:len(parts)] == parts]
        if not matching:
            raise _unavailable(reference, f"no Debian suite ships {service.title} {reference.version}")
        release = max(matching, key=lambda r: version_key(r.series))
        return release, [f"'{reference.tag}' follows the newest {service.title} {reference.version}.x release "
                         f"upstream; the newest Debian ships here is {release.series} ({release.version})"]
    series = ".".join(parts[:length])
    release = next((r for r in service.releases if r.series == series), None)
    if release is None:
        raise _unavailable(reference, f"no Debian suite ships {service.title} {series}")
    if len(parts) > length and version_key(reference.version) != version_key(release.version):
        return release, [f"customer asked {reference.version}, Debian {release.suite} has {release.version}"]
    return release, []


def _variant_notes(reference: ImageReference, release: Release) -> list[str]:
    variant = reference.variant
    if not variant or variant == release.suite:
        return []
    if any(variant.startswith(name) for name in NON_DEBIAN_VARIANTS):
        return [f"the official '{variant}' variant is not Debian; this one is Debian {release.suite} (glibc): "
                "collation and locale behaviour may differ"]
    if variant in ("bullseye", "bookworm", "trixie", "buster"):
        return [f"asked for the {variant} variant; Debian {variant} does not ship this release, so it is built "
                f"on {release.suite} (another glibc: text collation may differ)"]
    return [f"the '{variant}' variant is not reproduced; built as the plain image on Debian {release.suite}"]


def _no_recipe_reason(reference: ImageReference) -> str:
    if not reference.official:
        return (f"'{'/'.join(reference.namespace + (reference.repository,))}' is not a Docker official image, "
                "the only images recipes stand in for")
    return f"reprokit has no Debian recipe for '{reference.repository}'"


def _unavailable(reference: ImageReference, reason: str) -> InvalidValue:
    available = ", ".join(available_images())
    return InvalidValue(
        f"{reference.text}: no source can provide it (no registry answers, and {reason}); "
        f"available here: {available}",
        hint="use one of the available images, or make this one available to the engine (docker load, or a "
             "registry mirror in REPROKIT_REGISTRY_MIRROR)")

