"""Build an environment's image, content-addressed: an unchanged rendering makes no build call at all."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Literal

from reprokit import __version__
from reprokit.aspects.arch import base_reference
from reprokit.engine import BuildFailure, Engine, get_engine
from reprokit.errors import EngineError
from reprokit.image.base import ensure_base
from reprokit.image.caches import build_through_cache
from reprokit.image.render import Rendering, render_for_build
from reprokit.image.usage import record_uses
from reprokit.contract.models import EnvironmentSpec


@dataclass(frozen=True)
class Image:
    """A built (or reused) image of an environment."""

    tag: str
    id: str
    image_hash: str  # the Rendering's content hash (Dockerfile + context); the spec's own is spec.content_hash()
    built: bool
    cached_steps: int = 0
    total_steps: int = 0
    duration_s: float = 0.0
    pulled: bool = False  # fetched from the registry (see engine/registry.py) rather than built here


Kind = Literal["environment", "case", "hybrid"]

# One lock per image and engine in this process: two identical builds at once would each spend a CPU on one
# image (and push it twice); the second waits, then finds the first's image.
_builds: dict[tuple[str, str], threading.Lock] = {}
_builds_lock = threading.Lock()


def build(spec: EnvironmentSpec, rendering: Rendering | None = None, *, engine: Engine | None = None,
          on_line: Callable[[str], None] | None = None, kind: Kind | None = None) -> Image:
    """The image of ``spec``, rendered as ``rendering`` (default `render_for_build(spec)`; a run passes its
    Launch's): the engine's, else the registry's (`Engine.obtain`), else built here from its base and shared
    through the registry (`Engine.share`). ``kind`` says what it is for (default: a case's inline environment
    when the name is "ID/role", else an environment), in its labels and in the record of its last use
    (`reprokit images list|prune` read both)."""
    engine = engine or get_engine()
    rendering = rendering or render_for_build(spec)
    content_hash = rendering.content_hash()
    tag = rendering.tag()
    kind = kind or ("case" if "/" in spec.name else "environment")
    base = base_reference(spec)
    with _builds_lock:
        one_build = _builds.setdefault((engine.endpoint, tag), threading.Lock())
    with one_build:
        found = engine.obtain(tag)  # the engine's, or the registry's
        uses = {}
        if found:
            image = Image(tag, found[0], content_hash, built=False, pulled=found[1])
        else:  # built here, on its base
            uses[base] = (ensure_base(engine, base, declared=spec.os, arch=spec.arch), "base")
            labels = {"reprokit.environment": spec.name, "reprokit.spec-hash": content_hash,
                      "reprokit.version": __version__, "reprokit.kind": kind}
            started = time.monotonic()
            try:
                outcome = build_through_cache(engine, rendering.dockerfile, rendering.context, tag=tag, labels=labels,
                                              on_line=on_line or (lambda line: None))
            except BuildFailure as failure:
                from reprokit.image.build_errors import explain_failure

                source = f"reprokit env build {spec.name}" if spec.source else "reprokit env render <the spec>"
                raise explain_failure(spec, failure, engine=engine, reproduce=source) from None
            image = Image(tag, outcome.image_id, content_hash, built=True, cached_steps=outcome.cached_steps,
                          total_steps=outcome.total_steps, duration_s=round(time.monotonic() - started, 2))
        # Of the declared architecture: dockerd's classic builder takes the base's whatever was asked, and a pulled
        # or present image may be stale.
        architecture = engine.image_architecture(tag) if spec.arch is not None else None
        if architecture != spec.arch:
            made_now = image.built or image.pulled
            if made_now:
                engine.remove_image(tag)  # a rerun must not reuse it
            raise EngineError(f"{spec.name}: the image {tag} is {architecture}, not the declared arch {spec.arch}",
                              hint=f"its base {base} must be {spec.arch} (docker image inspect {base} --format "
                                   f"'{{{{.Architecture}}}}'); " + ("rebuild once it is" if made_now else
                                                                    f"remove the stale image: docker image rm {tag}"))
        if image.built:
            engine.share(tag)  # the other machines sharing the registry need not build it
    record_uses({tag: (image.id, kind), **uses})
    return image

