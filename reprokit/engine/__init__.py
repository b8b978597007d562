"""The engine layer: the small interface reprokit runs containers through, and the process-wide choice of
backend. Only the backends (`engine/docker.py`, `engine/swarm.py`, listed in `backends.py`) import docker or
testcontainers; everything above sees `protocol`."""
from __future__ import annotations

from reprokit.engine.protocol import (KILL_GRACE_S, LABELS, SESSION, BatchOutcome, BuildFailure, BuildOutcome,
                                      Container, ContainerConfig, Engine, EngineImage, Layer, RunResult, owner_alive,
                                      timed_out)

__all__ = ["KILL_GRACE_S", "LABELS", "SESSION", "BatchOutcome", "BuildFailure", "BuildOutcome", "Container",
           "ContainerConfig", "Engine", "EngineImage", "Layer", "RunResult", "get_engine", "owner_alive", "set_engine",
           "timed_out"]

_engine: Engine | None = None


def get_engine() -> Engine:
    """The process-wide engine: Docker unless a test installed another with ``set_engine``."""
    global _engine
    if _engine is None:
        from reprokit.engine.docker import DockerEngine

        _engine = DockerEngine()
    return _engine


def set_engine(engine: Engine | None) -> None:
    global _engine
    _engine = engine
