"""Build an environment's image, content-addressed: an unchanged spec makes no build call at all."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Literal

from reprokit import __version__
from reprokit.aspects.arch import base_reference
from reprokit.aspects.python_packages import find_ca_bundle
from reprokit.engine import BuildFailure, Engine, get_engine
from reprokit.errors import EngineError
from reprokit.image import registry
from reprokit.image.base import ensure_base
from reprokit.image.caches import build_through_cache
from reprokit.image.render import Rendering, render
from reprokit.image.usage import record_use
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
    pulled: bool = False  # fetched from the registry (see image/registry.py) rather than built here


def render_for_build(spec: EnvironmentSpec, *, installer: str | None = None) -> Rendering:
    bundle = find_ca_bundle()
    return render(spec, ca_bundle=bundle.read_bytes() if bundle else None,
                  installer=installer or os.environ.get("REPROKIT_INSTALLER", "pip"))


def image_tag(rendering: Rendering, content_hash: str | None = None) -> str:
    return f"reprokit/env:{(content_hash or rendering.content_hash())[:20]}"


Kind = Literal["environment", "case", "hybrid"]


def build(spec: EnvironmentSpec, *, engine: Engine | None = None, on_line: Callable[[str], None] | None = None,
          installer: str | None = None, kind: Kind | None = None) -> Image:
    """The image of ``spec``, built only if no image with the same content hash exists in the engine or in the
    registry (pulled from there; a build is pushed there: see image/registry.py). ``kind`` says what it is for
    (default: a case's inline environment when the name is "ID/role", else an environment), in its labels and
    in the record of its last use (`reprokit images list|prune` read both)."""
    engine = engine or get_engine()
    rendering = render_for_build(spec, installer=installer)
    content_hash = rendering.content_hash()
    tag = image_tag(rendering, content_hash)
    kind = kind or ("case" if "/" in spec.name else "environment")
    with _one_build_of(engine, tag):  # two cases of one replay that need the same image: one builds, one reuses
        return _provide(spec, rendering, content_hash, tag, kind, engine=engine, on_line=on_line)


def _provide(spec: EnvironmentSpec, rendering: Rendering, content_hash: str, tag: str, kind: Kind, *,
             engine: Engine, on_line: Callable[[str], None] | None) -> Image:
    """The image tagged ``tag``: present, else pulled from the registry, else built (and pushed)."""
    found = registry.obtain(engine, tag)
    if found:
        image = Image(tag, found[0], content_hash, built=False, pulled=found[1])
    else:
        image = _build(spec, rendering, content_hash, tag, kind, engine=engine, on_line=on_line)
    _check_built(engine, spec, tag, remove=image.built or image.pulled)
    if image.built:
        registry.push(engine, tag)
    record_use(tag, image.id, kind=kind)
    return image


def _build(spec: EnvironmentSpec, rendering: Rendering, content_hash: str, tag: str, kind: Kind, *,
           engine: Engine, on_line: Callable[[str], None] | None) -> Image:
    ensure_base(engine, base_reference(spec), arch=spec.arch)
    labels = {"reprokit.environment": spec.name, "reprokit.spec-hash": content_hash, "reprokit.version": __version__,
              "reprokit.kind": kind}
    started = time.monotonic()
    try:
        outcome = build_through_cache(engine, rendering.dockerfile, rendering.context, tag=tag, labels=labels,
                                      on_line=on_line or (lambda line: None))
    except BuildFailure as failure:
        from reprokit.image.build_errors import explain_failure

        source = f"reprokit env build {spec.name}" if spec.source else "reprokit env render <the spec>"
        raise explain_failure(spec, failure, engine=engine, reproduce=source) from None
    return Image(tag, outcome.image_id, content_hash, built=True, cached_steps=outcome.cached_steps,
                 total_steps=outcome.total_steps, duration_s=round(time.monotonic() - started, 2))


_builds: dict[tuple[str, str], threading.Lock] = {}
_builds_lock = threading.Lock()


def _one_build_of(engine: Engine, tag: str) -> threading.Lock:
    """The lock of one image on one engine in this process: two identical builds at once would each spend a
    CPU on one image (and push it twice); the second waits, then finds the first's image."""
    with _builds_lock:
        return _builds.setdefault((getattr(engine, "endpoint", str(id(engine))), tag), threading.Lock())


def _check_built(engine: Engine, spec: EnvironmentSpec, tag: str, *, remove: bool) -> None:
    """An environment that declares an architecture gets an image of it, or an error (the image just built
    with the wrong one is removed, so a rerun does not reuse it)."""
    if spec.arch is None:
        return
    found = engine.image_architecture(tag)
    if found == spec.arch:
        return
    if remove:
        engine.remove_image(tag)
    raise EngineError(f"{spec.name}: the image {tag} is {found}, not the declared arch {spec.arch}",
                      hint=f"its base {base_reference(spec)} must be {spec.arch} (docker image inspect "
                           f"{base_reference(spec)} --format '{{{{.Architecture}}}}'); "
                           + ("rebuild once it is" if remove else f"remove the stale image: docker image rm {tag}"))
