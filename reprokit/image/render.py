"""Turn an environment spec into Dockerfile text and build-context files, with no Docker.

The text is every registered aspect's fragment, in layer order (what changes least first); see each aspect's
`render` docstring for when its layer runs and what it costs the cache. `render` is pure; `render_for_build`
adds what a build takes from the host (its CA bundle, $REPROKIT_INSTALLER)."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from reprokit.aspects.base import BuildOptions
from reprokit.aspects.python_packages import find_ca_bundle
from reprokit.aspects.registry import ASPECTS
from reprokit.contract.models import EnvironmentSpec

RENDER_VERSION = "2"  # bump when the rendered text changes meaning, so old cached images are not reused


@dataclass(frozen=True)
class Rendering:
    """A Dockerfile and the files its build context needs besides it."""

    dockerfile: str
    context: dict[str, bytes] = field(default_factory=dict)

    def content_hash(self) -> str:
        """Everything that goes into the image: equal hashes mean the same image."""
        digest = hashlib.sha256(RENDER_VERSION.encode() + b"\0" + self.dockerfile.encode())
        for name in sorted(self.context):
            digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(self.context[name]).digest())
        return digest.hexdigest()

    def tag(self) -> str:
        """The image's tag: content-addressed, so an unchanged rendering makes no build call at all."""
        return f"reprokit/env:{self.content_hash()[:20]}"


def render(spec: EnvironmentSpec, *, ca_bundle: bytes | None = None, installer: str = "pip") -> Rendering:
    """The Dockerfile of ``spec``: each aspect's fragment at its layer; the platform layer installs every
    package the aspects need, once."""
    packages = tuple(dict.fromkeys(p for aspect in ASPECTS for p in aspect.platform_packages(spec)))
    options = BuildOptions(ca_bundle=ca_bundle, installer=installer, platform_packages=packages)
    layered = sorted((a for a in ASPECTS if a.layer is not None), key=lambda a: a.layer)
    fragments = [aspect.render(spec, options) for aspect in layered]
    context = {name: data for aspect in layered for name, data in aspect.context(spec, options).items()}
    return Rendering("\n".join(f for f in fragments if f) + "\n", context)


def render_for_build(spec: EnvironmentSpec, *, installer: str | None = None) -> Rendering:
    """``render`` as a build needs it: trusting the host's CA bundle (for the build only: aspects/python_packages.py),
    with the installer $REPROKIT_INSTALLER names (pip by default)."""
    bundle = find_ca_bundle()
    return render(spec, ca_bundle=bundle.read_bytes() if bundle else None,
                  installer=installer or os.environ.get("REPROKIT_INSTALLER", "pip"))
