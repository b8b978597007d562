"""Where a service's image comes from: the engine already has it, a registry (or the configured mirror) gives it,
or reprokit builds an equivalent from Debian's packages and says so."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Callable

from reprokit import __version__
from reprokit.engine import BuildFailure, Engine
from reprokit.errors import BuildError
from reprokit.services.recipes import recipe_for
from reprokit.contract.reference import parse_reference
from reprokit.services.registry import kind_for

MIRROR_VARIABLE = "REPROKIT_REGISTRY_MIRROR"  # e.g. 127.0.0.1:5000: tried before Docker Hub


@dataclass(frozen=True)
class ServiceImage:
    """A service's image as the engine will run it, and how it came to be."""

    reference: str  # what the environment asked for: "postgres:15"
    tag: str  # what the engine runs: the same, a mirror's name, or reprokit/service:<hash>
    provenance: str  # "postgres:15 -> built from Debian bookworm postgresql-15 15.20", "present in the engine"
    port: int | None = None
    kind: object = None  # the service kind (reprokit.services.kind.Kind) whose commands fit this image

    def ready_command(self, env, command=()) -> list[str]:
        return self.kind.ready_command(env, command) if self.kind is not None else []

    def version_command(self, env, command=()) -> list[str]:
        return self.kind.version_command(env, command) if self.kind is not None else []


def service_image(reference: str, *, engine: Engine, on_line: Callable[[str], None] | None = None,
                  allow_mysql: bool = False) -> ServiceImage:
    """The image for ``reference``: present, pulled (mirror first), or built from a Debian recipe. A version
    nothing can provide raises InvalidValue listing what is available here, before anything starts."""
    found = kind_for(reference)
    kind = found[0] if found else None
    port = kind.port if kind is not None else None
    if engine.image_id(reference):
        return ServiceImage(reference, reference, f"{reference} (present in the engine)", port, kind)
    mirror = os.environ.get(MIRROR_VARIABLE, "").strip().rstrip("/")
    if mirror:
        parsed = parse_reference(reference)
        mirrored = f"{mirror}/{'/'.join(parsed.namespace or ('library',))}/{parsed.repository}:{parsed.tag}"
        if engine.pull(mirrored):
            return ServiceImage(reference, mirrored, f"{reference} (pulled from the mirror {mirror})", port, kind)
    if engine.pull(reference):
        return ServiceImage(reference, reference, f"{reference} (pulled from its registry)", port, kind)
    recipe = recipe_for(reference, allow_mysql=allow_mysql)
    digest = hashlib.sha256(recipe.dockerfile.encode())
    for name in sorted(recipe.context):
        digest.update(name.encode() + b"\0" + recipe.context[name])
    tag = f"reprokit/service:{recipe.kind.value}-{recipe.series}-{digest.hexdigest()[:12]}"
    if not engine.obtain(tag):
        from reprokit.image.base import ensure_base
        from reprokit.image.caches import build_through_cache
        from reprokit.image.usage import record_use

        base = f"debian:{recipe.suite}"
        record_use(base, ensure_base(engine, base), kind="base")  # `images prune` keeps a base in use
        labels = {"reprokit.kind": "service", "reprokit.service-image": reference, "reprokit.version": __version__}
        try:
            build_through_cache(engine, recipe.dockerfile, dict(recipe.context), tag=tag, labels=labels,
                                on_line=on_line or (lambda line: None))
        except BuildFailure as failure:
            tail = [line for line in failure.log if line.strip()][-15:] + [failure.error]
            raise BuildError(f"service {reference}", failure.step, tail,
                             hint="the Debian mirror must serve the suite's packages; see the log above") from None
        engine.share(tag)
    kind = kind_for(f"{recipe.kind.value}:{recipe.series}")[0]
    return ServiceImage(reference, tag, recipe.provenance(), kind.port, kind)
