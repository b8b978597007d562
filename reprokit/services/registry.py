"""The service kinds reprokit knows, in one list: a new kind is a module and a line here."""
from __future__ import annotations

from .kind import Kind, ServiceKind, StandIn
from .mariadb import MARIADB
from .postgres import POSTGRES
from .redis import REDIS
from reprokit.contract.reference import ImageReference, parse_reference

KINDS: tuple[Kind, ...] = (
    POSTGRES,   # postgres:13, :15, :17
    MARIADB,    # mariadb:10.5, :10.11, :11.8; mysql:* on request
    REDIS,      # redis:6.0, :7.0, :8.0
)


def get_kind(service_kind: ServiceKind) -> Kind:
    """The implementation of ``service_kind``."""
    return next(k for k in KINDS if k.kind is service_kind)


def kind_for(image: str | ImageReference) -> tuple[Kind, StandIn | None] | None:
    """The kind whose official image ``image`` is (or which stands in for it); None for any other image.

    Works for pulled images too: the ready and version commands of a kind fit its official image.
    """
    reference = parse_reference(image) if isinstance(image, str) else image
    if not reference.official:
        return None
    for candidate in KINDS:
        if candidate.repository == reference.repository:
            return candidate, None
        for stand_in in candidate.stand_ins:
            if stand_in.repository == reference.repository:
                return candidate, stand_in
    return None


def available_images() -> tuple[str, ...]:
    """Every ``repository:series`` a Debian recipe here can build, oldest first per kind."""
    return tuple(f"{k.repository}:{release.series}" for k in KINDS for release in k.releases)
