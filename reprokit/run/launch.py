"""How an environment's containers are made: what its image holds, and what each container gets when it starts.

The aspects decide it (`Aspect.applied_at_start`, `start_env`, `start_files`): a case run bakes everything into
the image; isolate's probes share one image between hybrids that differ only in aspects applied at start. Either
way the container the steps see is the same: same env vars, same files with the same owners and modes
(tests/integration/test_run_equivalence.py proves it)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property

from reprokit.aspects.registry import ASPECTS
from reprokit.contract.models import EnvironmentSpec
from reprokit.engine import ContainerConfig, FileEntry
from reprokit.image.render import Rendering, render_for_build
from reprokit.image.retention import ImageKind
from reprokit.run.facts import step_prelude


@dataclass(frozen=True)
class Launch:
    """One environment, ready to run: the spec as declared, the spec its image is built from (and its
    `rendering`), how each container is created (`config`, env vars applied at start included) and the files
    copied in before it starts."""

    spec: EnvironmentSpec
    image_spec: EnvironmentSpec
    config: ContainerConfig
    files: dict[str, FileEntry] = field(default_factory=dict)  # absolute path -> entry
    kind: ImageKind | None = None  # None: build's default (environment, or case for an inline one)
    prelude: str = ""  # shell lines every step (and the facts script) runs first: umask, a faked clock

    @cached_property
    def rendering(self) -> Rendering:
        """What the image holds: the Dockerfile and build context of ``image_spec``."""
        return render_for_build(self.image_spec)

    def key(self, image_id: str, *more: str) -> str:
        """Everything that decides what a container of this launch is, besides its labels (and ``more``: the
        script that reads it, say): the facts cache key."""
        config = {k: v for k, v in dataclasses.asdict(self.config).items() if k != "labels"}
        files = {path: [hashlib.sha256(f.data).hexdigest(), f.owner, f.mode] for path, f in sorted(self.files.items())}
        text = json.dumps([image_id, config, files, self.prelude, *more], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def container_config(spec: EnvironmentSpec, *, labels: dict[str, str] | None = None,
                     env: dict[str, str] | None = None) -> ContainerConfig:
    """How containers of ``spec`` are created: every aspect's run-time settings (limits, network, ...)."""
    config = launch(spec, labels=labels).config
    return dataclasses.replace(config, env=dict(env or {})) if env else config


def image_spec(spec: EnvironmentSpec) -> EnvironmentSpec:
    """``spec`` without the fields of the aspects that can be applied at start: what hybrids share."""
    return launch(spec, share_image=True).image_spec


def launch(spec: EnvironmentSpec, *, labels: dict[str, str] | None = None, share_image: bool = False) -> Launch:
    """How to run ``spec``: each aspect gives its run-time settings; with ``share_image``, the aspects that can be
    applied at start are left out of the image (environments differing only in those share it: isolate's
    hybrids) and give their env vars and files to each container instead."""
    settings: dict = {}
    env: dict[str, str] = {}
    files: dict[str, FileEntry] = {}
    cleared: dict = {}
    for aspect in ASPECTS:
        settings.update(aspect.container(spec))
        if share_image and aspect.applied_at_start(spec):
            env.update(aspect.start_env(spec))
            files.update(aspect.start_files(spec))
            cleared.update({name: type(getattr(spec, name))() for name in aspect.fields})
    return Launch(spec, spec.model_copy(update=cleared) if cleared else spec,
                  ContainerConfig(**settings, env=env, labels=dict(labels or {})), files,
                  ImageKind.HYBRID if share_image else None, step_prelude(spec))
