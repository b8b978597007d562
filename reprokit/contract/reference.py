"""Read an image reference ("docker.io/library/postgres:15.4-bookworm") into repository, version and variant."""
from __future__ import annotations

import re
from dataclasses import dataclass

from reprokit.errors import InvalidValue

# Docker Hub's official images live under library/; registries that mirror Docker Hub keep that path
# (mirror.gcr.io/library/postgres) or prefix it (public.ecr.aws/docker/library/postgres).
OFFICIAL_NAMESPACES = ((), ("library",), ("docker", "library"))
_TAG = re.compile(r"^(?P<version>\d+(?:\.\d+)*)?(?:-?(?P<variant>[A-Za-z][\w.\-]*))?$")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


@dataclass(frozen=True)
class ImageReference:
    """An image reference, split: ``registry/namespace/repository:version-variant@digest``."""

    text: str                       # as written
    registry: str | None            # "docker.io", "mirror.example:5000"; None when not written
    namespace: tuple[str, ...]      # ("library",) for docker.io/library/postgres
    repository: str                 # "postgres"
    tag: str                        # "15.4-bookworm"; "latest" when not written
    version: str | None             # "15.4"; None for "latest", "bookworm", "alpine"
    variant: str | None             # "bookworm", "alpine3.19"; None when the tag is only a version
    digest: str | None              # "sha256:..."

    @property
    def official(self) -> bool:
        """A Docker Hub official image (or a mirror of one), whose environment variables reprokit knows."""
        return self.namespace in OFFICIAL_NAMESPACES

    @property
    def short(self) -> str:
        """``repository:tag``, as messages show it."""
        return f"{self.repository}:{self.tag}"


def parse_reference(text: str) -> ImageReference:
    """Split ``text``; a malformed reference raises InvalidValue saying which part is wrong."""
    reference = text.strip()
    if not reference:
        raise InvalidValue("image: an empty image reference; write one such as 'postgres:15'")
    name, _, digest = reference.partition("@")
    registry = None
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, name = first, rest
    path, tag = name, "latest"
    if ":" in name.rsplit("/", 1)[-1]:
        path, tag = name.rsplit(":", 1)
    components = path.split("/")
    bad = [c for c in components if not _COMPONENT.match(c)]
    if bad:
        raise InvalidValue(f"image: {text!r}: {bad[0]!r} is not a valid repository name (lowercase letters, "
                           "digits and . _ - separators), e.g. 'postgres:15'")
    version, variant = _split_tag(tag, text)
    return ImageReference(text=text, registry=registry, namespace=tuple(components[:-1]),
                          repository=components[-1], tag=tag, version=version, variant=variant,
                          digest=digest or None)


def _split_tag(tag: str, text: str) -> tuple[str | None, str | None]:
    if tag == "latest":
        return None, None
    match = _TAG.match(tag)
    if not match or not tag:
        raise InvalidValue(f"image: {text!r}: tag {tag!r} is neither a version ('15.4') nor a version and a "
                           "variant ('15-bookworm')")
    return match["version"], match["variant"]
