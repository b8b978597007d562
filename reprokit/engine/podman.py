"""What differs when the Docker-compatible API that reprokit talks to is Podman's (`podman system service`).

reprokit selects Podman like any engine, by ``DOCKER_HOST`` (e.g. unix:///run/podman/podman.sock); the
Docker backend asks the engine what it is (`is_podman`) and adjusts where Podman's compatibility API behaves
differently: explicit limits for every container (`default_ulimits`), tags under localhost/ (`short_tag`), and
OOM kills of exec'd processes (`oom_kills`). Unit tests check these without an engine."""
from __future__ import annotations

import resource
import socket
import struct
from pathlib import Path

# Podman names images without a registry (`docker load`ed, built) under localhost/, and Docker Hub's official
# ones under docker.io/library/; Docker shows both by their short names, and reprokit's tags are those.
_IMPLIED_PREFIXES = ("localhost/", "docker.io/library/", "docker.io/")
_LIMITS = {"nofile": ("Max open files", resource.RLIMIT_NOFILE), "nproc": ("Max processes", resource.RLIMIT_NPROC)}


def is_podman(version: dict) -> bool:
    """Does an engine's `/version` answer come from Podman? (It lists a "Podman Engine" component.)"""
    return any(str(part.get("Name", "")).startswith("Podman") for part in version.get("Components") or ())


def default_ulimits(*, nofile: int | None, engine_limits: dict[str, int]) -> dict[str, tuple[int, int]]:
    """The limits to pass explicitly on Podman: name -> (soft, hard).

    Podman 4.3 gives a rootful container 1048576 open files and processes unless told otherwise, and the OCI
    runtime then fails to start it wherever the engine's own hard limit is lower ("error setting rlimit type 7:
    operation not permitted"); a -1 through the compatibility API means unlimited, which fails the same way.
    Docker gives a container the engine's own limits; so does this (``engine_limits``, see `engine_limits`).
    A declared ``nofile`` (soft = hard) is kept."""
    limits = {name: (value, value) for name, value in engine_limits.items()}
    if nofile:
        limits["nofile"] = (nofile, nofile)
    return limits


def engine_limits(docker_host: str) -> dict[str, int]:
    """The hard limits (open files, processes) of the engine's own process: read from /proc when the engine
    listens on a local unix socket (its pid from the socket's peer credentials), else this process's own."""
    found = {name: _own_hard(kind) for name, (_, kind) in _LIMITS.items()}
    if not docker_host.startswith("unix://"):
        return found
    try:
        with socket.socket(socket.AF_UNIX) as peer:
            peer.connect(docker_host[len("unix://"):])
            credentials = peer.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid = struct.unpack("3i", credentials)[0]
        found.update(parse_limits(Path(f"/proc/{pid}/limits").read_text()))
    except OSError:
        pass
    return found


def parse_limits(text: str) -> dict[str, int]:
    """The hard open-files and processes limits from a /proc/<pid>/limits text (absent when unlimited)."""
    found = {}
    for line in text.splitlines():
        for name, (title, _) in _LIMITS.items():
            if line.startswith(title):
                hard = line[len(title):].split()[1]
                if hard.isdigit():
                    found[name] = int(hard)
    return found


# The OOM killer's count in a container's memory cgroup, read from inside it (cgroup v2, else v1); also by the
# case runner (case/reproduce.py) after a step that SIGKILL ended, on every engine.
OOM_COUNTERS = "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null"


def oom_kills(counters: str) -> int:
    """How many processes the OOM killer ended in the container: the `oom_kill N` line of OOM_COUNTERS' output.

    Docker reports an OOM kill of any process in a container as an `oom` event; Podman 4.3 only notes one of the
    container's own process (State.OOMKilled), so a step run through exec is checked here instead."""
    return sum(int(line.split()[1]) for line in counters.splitlines()
               if line.startswith("oom_kill ") and line.split()[1].isdigit())


def short_tag(tag: str) -> str:
    """A tag as Docker would show it: 'localhost/reprokit/env:ab12' -> 'reprokit/env:ab12'."""
    for prefix in _IMPLIED_PREFIXES:
        if tag.startswith(prefix):
            return tag[len(prefix):]
    return tag


def _own_hard(kind: int) -> int:
    hard = resource.getrlimit(kind)[1]
    return 2**20 if hard == resource.RLIM_INFINITY else hard
