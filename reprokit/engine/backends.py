"""Where environment runs happen (`--backend`): one module per backend, listed here.

A backend is an Engine (see `protocol.py`) whose images and builds are the local engine's and whose runs
happen where it says. What it overrides is small: `run_batch` (a case's steps: files in, one command, the
collected folder out), `start` (a service's container, and an idle box whose `exec` reads facts), `network`
(what a run's services and steps share), and `leftovers`/`remove`/`abort` (its own labelled resources, for
clean-up and `reprokit gc`). A Kubernetes Job backend would be one more module and one more line below (see
README, "Many machines")."""
from __future__ import annotations

import importlib

from reprokit.engine.protocol import Engine
from reprokit.errors import InvalidValue

# name -> (module, class, what it does)
BACKENDS = {
    "local": ("reprokit.engine.docker", "DockerEngine", "each run a container on the Docker engine reprokit talks to"),
    "swarm": ("reprokit.engine.swarm", "SwarmEngine", "each run a replicated job on that engine's Docker Swarm"),
}


def open_backend(name: str, where: str | None = None) -> Engine:
    """The backend called ``name`` on the engine at ``where`` (--engine; None: DOCKER_HOST, the Docker context),
    connected; EngineError says why it cannot be used here."""
    if name not in BACKENDS:
        raise InvalidValue(f"--backend {name!r} is not a backend",
                           hint="choose one of: " + "; ".join(f"{n} ({what})" for n, (_, _, what) in BACKENDS.items()))
    module, cls, _ = BACKENDS[name]
    from reprokit.engine.endpoints import resolve

    return getattr(importlib.import_module(module), cls)(resolve(where))


def for_gc(engine: Engine) -> Engine:
    """The engine `reprokit gc` asks for leftovers: on a Swarm manager the swarm backend, whose leftovers are
    the local engine's plus the jobs and configs of runs killed with `--backend swarm`."""
    from reprokit.engine.docker import DockerEngine

    if type(engine) is DockerEngine:
        swarm = engine.api.info().get("Swarm") or {}
        if swarm.get("LocalNodeState") == "active" and swarm.get("ControlAvailable"):
            return open_backend("swarm", engine.endpoint)
    return engine
