"""Start an environment's container and run commands in it; read facts about it from the inside."""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import Callable, Iterator

from reprokit.image.build import Image, build
from reprokit.engine import Container, Engine, RunResult, get_engine
from reprokit.run.facts import facts_script, parse_facts, step_prelude
from reprokit.run.launch import container_config, launch  # noqa: F401 (container_config: moved there)
from reprokit.contract.models import EnvironmentSpec

DEFAULT_TIMEOUT_S = 300.0


class Box:
    """A started environment: run commands in it, copy files into it, read its facts."""

    def __init__(self, spec: EnvironmentSpec, image: Image, container: Container, services=None):
        self.spec, self.image, self.container = spec, image, container
        self._services = services

    @property
    def services(self) -> dict:
        """The started services by name: ``box.services["db"].host``, ``.port``, ``.env``, ``.version``."""
        return dict(self._services.running) if self._services else {}

    @property
    def id(self) -> str:
        return self.container.id

    def run(self, command: str, *, timeout: float = DEFAULT_TIMEOUT_S, user: str | None = None,
            env: dict[str, str] | None = None, workdir: str | None = None) -> RunResult:
        """Run a shell command in the workdir as the environment's user; killed after ``timeout`` seconds."""
        return self.container.exec(step_prelude(self.spec) + command, timeout=timeout, user=user,
                                   workdir=workdir or self.spec.workdir, env=env)

    def put_files(self, files: dict[str, str], *, folder: str | None = None) -> None:
        """Copy text files (relative path -> text) into ``folder`` (the workdir by default)."""
        if files:
            self.container.put_files(folder or self.spec.workdir, {k: v.encode() for k, v in files.items()},
                                     owner=self.spec.user)

    def facts(self) -> dict:
        """What the environment really is, read from inside in one exec (see reprokit/run/facts.py)."""
        result = self.container.exec(step_prelude(self.spec) + facts_script(), timeout=60, workdir="/")
        return parse_facts(result.stdout)


@contextmanager
def start(spec: EnvironmentSpec, *, engine: Engine | None = None, on_line: Callable[[str], None] | None = None,
          labels: dict[str, str] | None = None, env: dict[str, str] | None = None,
          image: Image | None = None) -> Iterator[Box]:
    """Build (if needed) and start ``spec`` (and its services, on a network of their own) as a case run would
    (reprokit/run/launch.py); ``env`` adds variables. Everything is removed when the block ends, however it ends."""
    from reprokit.services.lifecycle import start_services

    engine = engine or get_engine()
    plan = launch(spec, labels={"reprokit.environment": spec.name[:200], **(labels or {})})
    image = image or build(plan.image_spec, plan.rendering, engine=engine, on_line=on_line)
    config = dataclasses.replace(plan.config, env={**plan.config.env, **(env or {})})
    with start_services(spec, engine=engine, labels=config.labels, on_line=on_line) as running:
        if running:
            config = dataclasses.replace(config, network=running.network)
        with engine.start(image.tag, config) as container:
            yield Box(spec, image, container, running)
