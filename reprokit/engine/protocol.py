"""The small interface between reprokit and a container engine; `_docker` implements it, tests fake it."""
from __future__ import annotations

import os
import uuid
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Callable, Protocol


def _process_start(pid: int) -> str:
    """The start time of a process (clock ticks since boot), so a reused pid is not taken for its owner."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


SESSION = uuid.uuid4().hex[:12]
LABELS = {
    "reprokit.session": SESSION,
    "reprokit.owner-pid": str(os.getpid()),
    "reprokit.owner-start": _process_start(os.getpid()),
    "reprokit.owner-pidns": _pid_namespace(),
}


def owner_alive(labels: dict[str, str]) -> bool:
    """Is the reprokit process that created a resource with these labels still running? A resource made
    from another pid namespace (a CI job container sharing the engine) counts as alive: its pid means
    nothing here, so gc must not judge it."""
    if labels.get("reprokit.owner-pidns", LABELS["reprokit.owner-pidns"]) != LABELS["reprokit.owner-pidns"]:
        return True
    try:
        pid = int(labels.get("reprokit.owner-pid", ""))
    except ValueError:
        return False
    start = labels.get("reprokit.owner-start")
    if not os.path.exists(f"/proc/{pid}"):
        return False
    return not start or _process_start(pid) == start


@dataclass(frozen=True)
class ContainerConfig:
    """How a container runs: everything that is not baked into its image."""

    memory: str | None = None
    cpus: float | None = None
    pids: int | None = None
    nofile: int | None = None  # open files, soft = hard
    shm: str | None = None  # size of /dev/shm
    network: str = "bridge"  # bridge, none, or the name of a network made with Engine.network()
    aliases: tuple[str, ...] = ()  # names the container answers to on that network (a service's hostname)
    read_only: bool = False  # root filesystem read-only; `writable` paths get a volume of their own
    tmpfs: dict[str, str] = field(default_factory=dict)  # path -> size
    writable: tuple[str, ...] = ()  # folders that stay writable (and receive copied files) on a read-only root
    hostname: str | None = None
    hosts: dict[str, str] = field(default_factory=dict)  # extra /etc/hosts entries: name -> address
    platform: str | None = None  # e.g. linux/arm64 for a foreign-architecture image
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


KILL_GRACE_S = 5  # after a command's timeout, SIGTERM; this much later, SIGKILL (coreutils `timeout -k`)


def timed_out(exit_code: int, duration_s: float, timeout: float) -> bool:
    """Did `timeout` end the command? It exits 124 (SIGTERM worked) or 137 (SIGKILL was needed); a command
    that itself exits so before its time is not taken for a timeout."""
    return exit_code in (124, 137) and duration_s >= timeout - 0.05


@dataclass(frozen=True)
class RunResult:
    """What one command did inside a container."""

    command: str
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    oom_killed: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FileEntry:
    """A file copied into a container before it starts, with the owner and mode it gets there (where a plain
    ``bytes`` value gets the call's ``owner``)."""

    data: bytes
    owner: str = "0:0"  # uid:gid
    mode: int = 0o644


@dataclass(frozen=True)
class BatchOutcome:
    """What a container running one command to its end left behind."""

    exit_code: int
    files: dict[str, bytes]  # what it left in the collected folder, by path relative to it
    oom_killed: bool = False
    killed: bool = False  # it outlived every timeout and was killed from outside


@dataclass(frozen=True)
class BuildProxy:
    """A forward proxy that a build's RUN steps fetch plain-HTTP downloads through (apt's, from a package cache
    on the host: see `image/caches.py`). Engines pass it as Docker's predefined proxy build args, which stay out
    of the image's history, config and layer cache keys, so the image is the one a direct build makes."""

    url: str  # http://127.0.0.1:3142
    no_proxy: str = "localhost,127.0.0.1"

    def build_args(self) -> dict[str, str]:
        return {"http_proxy": self.url, "HTTP_PROXY": self.url, "no_proxy": self.no_proxy, "NO_PROXY": self.no_proxy}


@dataclass(frozen=True)
class BuildOutcome:
    image_id: str
    cached_steps: int
    total_steps: int
    log: list[str]


@dataclass(frozen=True)
class EngineImage:
    """One image as the engine lists it (all its tags together), for `reprokit images list|prune`."""

    id: str
    tags: tuple[str, ...]  # empty for an untagged (dangling) image
    labels: dict[str, str]
    size: int  # bytes, layers shared with other images included (what `docker image ls` shows)
    created: float  # seconds since the epoch


class Moved(str, Enum):
    """How a pull, a push or a registry lookup ended."""

    DONE = "done"
    ABSENT = "absent"
    UNREACHABLE = "unreachable"

    def describe(self) -> str:
        return {"done": "the image moved (for a lookup: the registry has it)",
                "absent": "the registry answered: it has no such image",
                "unreachable": "no registry answered, or it refused the engine"}[self.value]


@dataclass(frozen=True)
class Transfer:
    """What a pull or push did; true when the image moved. ``detail`` is the engine's or registry's words when it
    did not (never credentials: the engine reads those from the Docker config itself)."""

    moved: Moved
    detail: str = ""

    def __bool__(self) -> bool:
        return self.moved is Moved.DONE


Layer = tuple[str, int]  # (key, bytes): two images' layers with one key are the same bytes on disk


class BuildFailure(Exception):
    """Raised by an engine when a build fails: the failing step and the log so far."""

    def __init__(self, step: str, log: list[str], error: str):
        super().__init__(error)
        self.step, self.log, self.error = step, log, error


class Container(Protocol):
    id: str

    def exec(self, command: str, *, timeout: float, user: str | None = None, workdir: str | None = None,
             env: dict[str, str] | None = None) -> RunResult: ...

    def put_files(self, folder: str, files: dict[str, bytes], *, owner: str | None = None) -> None: ...

    def logs(self, *, tail: int = 200) -> str: ...

    def exit_code(self) -> int | None:
        """None while the container's own process runs; its exit code once it has ended."""


class Engine(Protocol):
    endpoint: str  # where the engine answers (unix:///var/run/docker.sock, tcp://host:2376): named in errors
    facts_scope: str  # facts read by this backend are cached apart from other backends' ("" for a local engine)

    def version(self) -> str: ...

    def image_id(self, reference: str) -> str | None: ...

    def build(self, dockerfile: str, context: dict[str, bytes], *, tag: str, labels: dict[str, str],
              on_line: Callable[[str], None], proxy: BuildProxy | None = None) -> BuildOutcome:
        """Build and tag an image; with ``proxy``, RUN steps reach it on the host's network (an engine that cannot
        pass it without leaving a trace in the image builds directly)."""

    def image_architecture(self, reference: str) -> str | None:
        """The architecture an image's config records ('amd64', 'arm64'); None if there is no such image."""

    def obtain(self, reference: str) -> tuple[str, bool] | None:
        """``reference``'s image id and whether it was pulled: present here (then offered to the process's
        registry, which may lack it), else pulled from that registry (engine/registry.py); None when neither
        has it."""

    def share(self, reference: str) -> bool:
        """Send ``reference`` (made here) to the process's registry; False without one, or when that failed."""

    def pull(self, reference: str, *, platform: str | None = None) -> Transfer:
        """Pull ``reference`` (for ``platform``, e.g. linux/arm64, when given) from its registry, credentials from
        the Docker config as for `docker pull`; false when it did not move (``.moved`` says why)."""

    def push(self, reference: str) -> Transfer:
        """Send ``reference`` (a tag naming its registry) to that registry."""

    def lookup(self, reference: str) -> Transfer:
        """Ask ``reference``'s registry whether it has it (DONE: it has), moving nothing."""

    def tag(self, image: str, reference: str) -> None:
        """Give ``image`` (an id or a tag) the name ``reference`` too."""

    def reconnect(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the engine to answer; once it does, remove what this process
        could not remove while it was away. False if it did not answer in time."""

    def load_rootfs(self, tarball: str, reference: str, *, arch: str, labels: dict[str, str] | None = None) -> str:
        """An image tagged ``reference`` from a root-filesystem tarball, recorded as ``arch`` (see
        `engine/archive.py`: an import would record the engine's own architecture); returns its id."""

    def images(self) -> list[EngineImage]:
        """Every image in the engine, tagged or not (not the intermediate layers of builds)."""

    def image_layers(self, image_id: str) -> tuple[Layer, ...]:
        """An image's layers, bottom first, so shared layers can be counted once; () if it is gone."""

    def remove_image(self, reference: str) -> None:
        """Remove a tag (the image goes with its last tag), or an untagged image by id. Never forced: an image a
        container uses, or that another image builds on, stays and EngineError says why. A missing one is no
        error."""

    def start(self, image: str, config: ContainerConfig, *, command: list[str] | None = None,
              files: dict[str, bytes] | None = None) -> AbstractContextManager[Container]:
        """A running container of ``image``, removed when the block ends. ``command`` None keeps it idle (for
        exec); a service passes its own command, or [] for the image's default. ``files`` (paths relative to /)
        are copied in before it starts."""

    def network(self, labels: dict[str, str]) -> AbstractContextManager[str]:
        """A private bridge network, labelled, removed when the block ends; yields its name."""

    def run_batch(self, image: str, config: ContainerConfig, *, files: dict[str, bytes | FileEntry], command: list[str],
                  collect: str, timeout: float, owner: str | None = None) -> BatchOutcome: ...

    def leftovers(self, *, include_live: bool = False) -> list[tuple[str, str, dict[str, str]]]: ...

    def remove(self, kind: str, resource_id: str) -> None: ...

    def abort(self) -> None:
        """Remove every container this process has started and not yet removed."""
