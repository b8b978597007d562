"""The engine layer: the small interface reprokit runs containers through, and the process-wide choice of
backend. Only the backends (`engine/docker.py`, `engine/swarm.py`, listed in `backends.py`) import the docker
SDK; everything above sees `protocol`.

Which engine: ``get_engine()`` is the process-wide one (``--engine``, ``DOCKER_HOST`` or the Docker context,
see `endpoints`); ``engine_at(url)`` is another one, for a replay spread over several (``--engines``)."""
from __future__ import annotations

import threading

from reprokit.engine.protocol import (KILL_GRACE_S, LABELS, SESSION, BatchOutcome, BuildFailure, BuildOutcome,
                                      BuildProxy, Container, ContainerConfig, Engine, EngineImage, FileEntry, Layer,
                                      Moved, RunResult, Transfer, owner_alive, timed_out)

__all__ = ["KILL_GRACE_S", "LABELS", "SESSION", "BatchOutcome", "BuildFailure", "BuildOutcome", "BuildProxy",
           "Container", "ContainerConfig", "Engine", "EngineImage", "FileEntry", "Layer", "Moved", "RunResult",
           "Transfer", "engine_at", "get_engine", "owner_alive", "set_engine", "timed_out", "use_engine"]

_engine: Engine | None = None
_chosen: str | None = None  # --engine, for the process-wide engine made on first use
_by_url: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide engine: the one ``use_engine`` chose (else DOCKER_HOST, the Docker context, the local
    socket), unless a test installed another with ``set_engine``."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = _connect(_chosen)
        return _engine


def set_engine(engine: Engine | None) -> None:
    global _engine
    with _lock:
        _engine = engine


def use_engine(where: str | None) -> None:
    """Make the engine at ``where`` (a URL or a Docker context name; None: the usual lookup) the process-wide one,
    connected on first use."""
    global _engine, _chosen
    with _lock:
        _chosen, _engine = where, None


def engine_at(where: str) -> Engine:
    """The engine at ``where`` (a URL or a Docker context name), one per process and address."""
    with _lock:
        if where not in _by_url:
            _by_url[where] = _connect(where)
        return _by_url[where]


def _connect(where: str | None) -> Engine:
    from reprokit.engine.docker import DockerEngine
    from reprokit.engine.endpoints import resolve

    return DockerEngine(resolve(where))
