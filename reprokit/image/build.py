"""Build an environment's image, content-addressed: an unchanged spec makes no build call at all."""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from reprokit import __version__
from reprokit.aspects.arch import MACHINES, base_reference, declared_image, foreign
from reprokit.engine import BuildFailure, Engine, get_engine
from reprokit.errors import EngineError
from reprokit.image import registry
from reprokit.image.base import check_architecture
from reprokit.image.render import Rendering, render
from reprokit.image.usage import record_use
from reprokit.contract.models import EnvironmentSpec

SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")
CA_VARIABLES = ("REPROKIT_CA_BUNDLE", "SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE")
LOG_TAIL = 15
PIP_FOUND_NOTHING = r"No matching distribution|Could not find a version"
HINTS = [
    (r"Unable to locate package|has no installation candidate|Version '.*' for '.*' was not found",
     "check that the package and version exist in that Debian suite (apt-cache policy NAME in a container of it)"),
    (PIP_FOUND_NOTHING,
     "check that the pin exists on PyPI and supports the image's Python version"),
    (r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSL",
     "the build does not trust this network's TLS proxy: set REPROKIT_CA_BUNDLE to the host's CA bundle"),
    (r"Temporary failure resolving|Could not resolve|Network is unreachable",
     "the build cannot reach the package mirror; check the host's network and apt sources"),
    (r"unknown timezone", "use a name from the tz database, e.g. 'Europe/Berlin' (ls /usr/share/zoneinfo)"),
]


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


def find_ca_bundle() -> Path | None:
    """The CA bundle builds should trust: $REPROKIT_CA_BUNDLE, the usual TLS variables, else the system's."""
    for variable in CA_VARIABLES:
        value = os.environ.get(variable)
        if value and Path(value).is_file():
            return Path(value)
    return next((Path(p) for p in SYSTEM_CA_BUNDLES if Path(p).is_file()), None)


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
    existing = engine.image_id(tag)
    if existing:
        _check_built(engine, spec, tag, remove=False)
        registry.offer(engine, tag)
        record_use(tag, existing, kind=kind)
        return Image(tag, existing, content_hash, built=False)
    pulled = registry.pull(engine, tag)
    if pulled:
        _check_built(engine, spec, tag, remove=True)
        record_use(tag, pulled, kind=kind)
        return Image(tag, pulled, content_hash, built=False, pulled=True)
    ensure_base_image(engine, base_reference(spec), arch=spec.arch)
    labels = {"reprokit.environment": spec.name, "reprokit.spec-hash": content_hash, "reprokit.version": __version__,
              "reprokit.kind": kind}
    started = time.monotonic()
    try:
        outcome = engine.build(rendering.dockerfile, rendering.context, tag=tag, labels=labels,
                               on_line=on_line or (lambda line: None))
    except BuildFailure as failure:
        from reprokit.image.build_errors import explain, suite_conflicts, suite_offers

        tail = [line for line in failure.log if line.strip()][-LOG_TAIL:] + [failure.error]
        source = f"reprokit env build {spec.name}" if spec.source else "reprokit env render <the spec>"
        raise explain(spec, failure.step, failure.log, failure.error, hint=build_hint(tail, spec), reproduce=source,
                      tail=LOG_TAIL, offers=suite_offers(engine, base_reference(spec)),
                      conflicts=suite_conflicts(engine, base_reference(spec))) from None
    _check_built(engine, spec, tag, remove=True)
    registry.push(engine, tag)
    record_use(tag, outcome.image_id, kind=kind)
    return Image(tag, outcome.image_id, content_hash, built=True, cached_steps=outcome.cached_steps,
                 total_steps=outcome.total_steps, duration_s=round(time.monotonic() - started, 2))


_builds: dict[tuple[str, str], threading.Lock] = {}
_builds_lock = threading.Lock()


def _one_build_of(engine: Engine, tag: str) -> threading.Lock:
    """The lock of one image on one engine in this process: two identical builds at once would each spend a
    CPU on one image (and push it twice); the second waits, then finds the first's image."""
    with _builds_lock:
        return _builds.setdefault((getattr(engine, "endpoint", str(id(engine))), tag), threading.Lock())


def build_hint(tail: list[str], spec: EnvironmentSpec) -> str | None:
    """The hint for a failed build's last lines; a missing wheel on a foreign architecture says so."""
    text = "\n".join(tail)
    hint = next((h for pattern, h in HINTS if re.search(pattern, text)), None)
    if hint is not None and foreign(spec) and re.search(PIP_FOUND_NOTHING, text):
        machine = MACHINES[spec.arch]
        hint += (f", and has a wheel for linux/{machine} (or an sdist): the build runs on {spec.arch}, and many "
                 f"packages publish x86_64 wheels only for some versions (check the files on PyPI for "
                 f"'{machine}')")
    return hint


def ensure_base_image(engine: Engine, reference: str, *, arch: str | None = None) -> None:
    """The base image must be present, or come from the shared registry or its own (Debian suites can be made
    with debootstrap), and, when an architecture is declared, of that architecture: dockerd's classic builder
    neither checks nor applies a platform, the image it builds simply takes the base's."""
    present = engine.image_id(reference)
    if present:
        registry.offer(engine, reference)
    else:
        present = registry.pull(engine, reference) or (
            engine.image_id(reference) if engine.pull(reference, platform=f"linux/{arch}" if arch else None) else None)
    if present:
        record_use(reference, present, kind="base")
        if arch:
            check_architecture(engine, reference, arch, what="base image")
        return
    declared = declared_image(reference)
    command = f"reprokit images bootstrap {declared}" + (f" --arch {arch}" if arch and declared != reference else "")
    raise EngineError(f"base image {reference} is not present and no registry can provide it",
                      hint=f"make it from the Debian mirror: {command}; or share it from a machine that has it "
                           "through a registry (--registry, REPROKIT_REGISTRY)")


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
