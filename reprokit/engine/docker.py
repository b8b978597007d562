"""The only module that talks to Docker (and to Podman's Docker-compatible service), through the docker SDK's
low-level API client: images, builds, containers (create, copy in, start, remove), exec and networks."""
from __future__ import annotations

import atexit
import hashlib
import io
import json
import os
import signal
import tarfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from requests.exceptions import RequestException
from urllib3.exceptions import HTTPError as Urllib3Error

from reprokit.engine import inline_io, podman, registry
from reprokit.engine.inline_io import Collected
from reprokit.engine.archive import write_image_archive
from reprokit.engine.endpoints import Endpoint, resolve
from reprokit.engine.protocol import (KILL_GRACE_S, LABELS, SESSION, BatchOutcome, BuildFailure, BuildOutcome,
                     BuildProxy, ContainerConfig, EngineImage, FileEntry, Layer, Moved, RunResult, Transfer,
                     owner_alive, timed_out)
from reprokit.errors import EngineError, EngineLost, RunError

# dockerd 20.10's classic builder creates each step's container without a platform, so every step on a base of
# another architecture logs this; it is noise (reprokit checks the architectures itself, see image/build.py).
PLATFORM_WARNING = " ---> [Warning] The requested image's platform"

_live: set[str] = set()
_networks: set[str] = set()  # networks this process made and has not removed yet
_creating = 0
_live_lock = threading.Lock()
_engines: list["DockerEngine"] = []  # every engine this process talked to: cleanup visits each

# A connection to the engine that broke or was refused: the engine died or restarted. (docker's APIError is
# a RequestException too, but it is an answer: callers catch it first.)
LOST = (RequestException, Urllib3Error, ConnectionError)
PING_TIMEOUT_S = 5
# Words of a registry that answered that it has no such image (the engine says 404, or says so in its stream).
ABSENT = ("manifest unknown", "not found", "does not exist", "name unknown")


def _environment(endpoint: Endpoint) -> dict[str, str]:
    """The variables docker-py's from_env reads, for ``endpoint`` (a context's TLS folder holds the files
    DOCKER_CERT_PATH names: ca.pem, cert.pem, key.pem)."""
    if endpoint.source == "DOCKER_HOST":
        return dict(os.environ)  # DOCKER_TLS_VERIFY and DOCKER_CERT_PATH go with it, as for the docker CLI
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")}
    environment["DOCKER_HOST"] = endpoint.url
    if endpoint.tls is not None:
        environment["DOCKER_CERT_PATH"] = str(endpoint.tls)
        environment["DOCKER_TLS_VERIFY"] = "" if endpoint.skip_tls_verify else "1"
    return environment


def _client(endpoint: Endpoint, *, timeout: float | None) -> docker.DockerClient:
    client = docker.from_env(timeout=timeout, environment=_environment(endpoint),
                             use_ssh_client=endpoint.url.startswith("ssh://"))
    if endpoint.url.startswith("unix://"):
        # No proxy applies to a socket: without this, requests reads the proxy variables on every API call.
        client.api.trust_env = False
    return client

CLEANUPS: list[Callable[[], None]] = []  # other backends' clean-ups (engine/swarm.py), run before this one's


class DockerEngine:
    """Images, builds and containers on one Docker engine (the local one unless ``endpoint`` says otherwise)."""

    facts_scope = ""

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        self._endpoint = endpoint or resolve()
        self.endpoint = self._endpoint.url
        self._stranded: set[tuple[str, str]] = set()  # (kind, id) this process could not remove: the engine was away
        self._not_unpacking: set[str] = set()  # images whose containers cannot unpack inline_io's files
        try:
            # No read timeout: builds and steps may be silent for long; steps are bounded in the container.
            self.client = _client(self._endpoint, timeout=None)
            self.client.ping()
        except (DockerException, *LOST) as error:
            raise EngineError(f"no Docker engine answers at {self.endpoint} ({self._endpoint.source}): {error}",
                              hint="start one (as root: bash .ci/setup.sh, or 'dockerd &'), or choose another with "
                                   "--engine URL|CONTEXT; 'reprokit doctor' checks every prerequisite") from None
        self.api = self.client.api
        # DOCKER_HOST or --engine may point at `podman system service`: see engine/podman.py for what differs.
        self.podman = podman.is_podman(self.api.version())
        self.podman_limits = podman.engine_limits(self.endpoint) if self.podman else {}
        with _live_lock:
            _engines.append(self)

    def __repr__(self) -> str:
        return f"DockerEngine({self.endpoint!r})"

    @contextmanager
    def _answering(self, doing: str) -> Iterator[None]:
        """Turn a broken connection to the engine into EngineLost, naming the engine and what was under way."""
        try:
            yield
        except APIError:
            raise
        except LOST as error:
            raise EngineLost(self.endpoint, doing, _reason(error)) from None

    def answers(self) -> bool:
        """Does the engine answer a ping within a few seconds? (A fresh client: the main one has no timeout.)"""
        try:
            client = _client(self._endpoint, timeout=PING_TIMEOUT_S)
        except (DockerException, *LOST):
            return False
        try:
            return bool(client.ping())
        except (DockerException, *LOST):
            return False
        finally:
            client.close()

    def reconnect(self, timeout: float) -> bool:
        """Wait for the engine to answer again, then remove the containers and networks this process could not
        remove while it was away (a restarted engine keeps stopped containers; with live-restore, running ones)."""
        deadline = time.monotonic() + timeout
        while not self.answers():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
        with _live_lock:
            stranded, self._stranded = sorted(self._stranded), set()
        for kind, resource_id in stranded:  # containers sort before networks: a network goes once it is empty
            try:
                self.remove(kind, resource_id)
            except (DockerException, EngineError):
                pass  # `reprokit gc` removes it once this process has ended
        return True

    def _strand(self, kind: str, resource_id: str) -> None:
        with _live_lock:
            self._stranded.add((kind, resource_id))

    # -- images -------------------------------------------------------------------------------------------

    def image_id(self, reference: str) -> str | None:
        with self._answering(f"looking up the image {reference}"):
            try:
                return self.api.inspect_image(reference)["Id"]
            except (ImageNotFound, NotFound):
                return None

    def version(self) -> str:
        with self._answering("asking its version"):
            return self.api.version().get("Version", "?")

    def obtain(self, reference: str) -> tuple[str, bool] | None:
        return registry.obtain(self, reference)

    def share(self, reference: str) -> bool:
        return registry.push(self, reference)

    def image_architecture(self, reference: str) -> str | None:
        with self._answering(f"looking up the image {reference}"):
            try:
                return self.api.inspect_image(reference).get("Architecture") or None
            except (ImageNotFound, NotFound):
                return None

    def pull(self, reference: str, *, platform: str | None = None) -> Transfer:
        """Credentials, where the registry wants them, come from the Docker config (docker-py reads it)."""
        repository, tag = _split(reference)
        with self._answering(f"pulling {reference}"):
            try:
                for chunk in self.api.pull(repository, tag=tag, stream=True, decode=True, platform=platform):
                    if "error" in chunk:
                        return _refused(chunk["error"])
            except NotFound as error:
                return Transfer(Moved.ABSENT, _explain(error))
            except (APIError, DockerException) as error:
                return _refused(_explain(error))
        return Transfer(Moved.DONE) if self.image_id(reference) else Transfer(Moved.ABSENT, "no image after the pull")

    def push(self, reference: str) -> Transfer:
        repository, tag = _split(reference)
        with self._answering(f"pushing {reference}"):
            try:
                for chunk in self.api.push(repository, tag=tag, stream=True, decode=True):
                    if "error" in chunk:
                        return Transfer(Moved.UNREACHABLE, chunk["error"].strip())
            except (APIError, DockerException) as error:
                return Transfer(Moved.UNREACHABLE, _explain(error))
        return Transfer(Moved.DONE)

    def lookup(self, reference: str) -> Transfer:
        with self._answering(f"looking up {reference} in its registry"):
            try:
                self.api.inspect_distribution(reference)
            except NotFound as error:
                return Transfer(Moved.ABSENT, _explain(error))
            except (APIError, DockerException) as error:
                return _refused(_explain(error))
        return Transfer(Moved.DONE)

    def tag(self, image: str, reference: str) -> None:
        repository, tag = _split(reference)
        with self._answering(f"tagging {reference}"):
            try:
                self.api.tag(image, repository, tag)
            except (APIError, DockerException) as error:
                raise EngineError(f"the engine did not tag {image} as {reference}: {_explain(error)}") from None

    def load_rootfs(self, tarball: str, reference: str, *, arch: str, labels: dict[str, str] | None = None) -> str:
        archive = Path(f"{tarball}.image.tar")
        try:
            write_image_archive(Path(tarball), archive, reference, arch=arch, labels=labels or {},
                                created_by=f"reprokit: root filesystem {Path(tarball).name} ({arch})")
            with open(archive, "rb") as stream:  # streamed to the engine, never read into memory
                for chunk in self.api.load_image(stream) or ():
                    if isinstance(chunk, dict) and chunk.get("error"):
                        raise EngineError(f"the engine did not load {tarball} as {reference}: {chunk['error']}")
        except (APIError, DockerException) as error:
            raise EngineError(f"the engine did not load {tarball} as {reference}: {error}") from None
        finally:
            archive.unlink(missing_ok=True)
        image = self.image_id(reference)
        if image is None:
            raise EngineError(f"loading {tarball} as {reference} left no image")
        return image

    def images(self) -> list[EngineImage]:
        with self._answering("listing images"):
            listed = self.api.images()
        name = podman.short_tag if self.podman else str
        return [EngineImage(item["Id"], tuple(name(t) for t in item.get("RepoTags") or () if t != "<none>:<none>"),
                            dict(item.get("Labels") or {}), int(item.get("Size") or 0), float(item.get("Created") or 0))
                for item in listed]

    def image_layers(self, image_id: str) -> tuple[Layer, ...]:
        """Keyed by the image's history up to each layer: images built from the same cached steps share those
        entries (and layers), which is how Docker stores them once. Steps that made no layer weigh nothing."""
        with self._answering(f"reading the layers of {image_id[:19]}"):
            try:
                history = self.api.history(image_id)
            except (ImageNotFound, NotFound):
                return ()
        chain = hashlib.sha256()
        layers = []
        for entry in reversed(history):  # Docker lists the newest step first
            chain.update(json.dumps([entry.get("Created"), entry.get("CreatedBy"), entry.get("Size")]).encode())
            if entry.get("Size"):
                layers.append((chain.hexdigest()[:32], int(entry["Size"])))
        return tuple(layers)

    def remove_image(self, reference: str) -> None:
        with self._answering(f"removing {reference}"):
            try:
                self.api.remove_image(reference, force=False, noprune=False)
            except (ImageNotFound, NotFound):
                pass
            except APIError as error:
                raise EngineError(f"the engine did not remove {reference}: {error.explanation or error}",
                                  hint="a container still uses it, or another image is built on it") from None

    def build(self, dockerfile: str, context: dict[str, bytes], *, tag: str, labels: dict[str, str],
              on_line: Callable[[str], None], proxy: BuildProxy | None = None) -> BuildOutcome:
        """``proxy``: on the host's network, as predefined build args (out of history, config and cache keys). Not
        on Podman: its builder (buildah) is not Docker's, and that it leaves those args out too is unchecked."""
        archive = _tar({"Dockerfile": dockerfile.encode(), **context})
        step, log, cached, total = "(before the first step)", [], 0, 0
        through = {"buildargs": proxy.build_args(), "network_mode": "host"} if proxy and not self.podman else {}
        try:
            with self._answering(f"building {tag}"):
                for chunk in self.api.build(fileobj=archive, custom_context=True, tag=tag, labels=labels, rm=True,
                                            forcerm=True, decode=True, pull=False, **through):
                    for line in chunk.get("stream", "").splitlines():
                        if line.startswith(PLATFORM_WARNING):
                            continue
                        if line.startswith(("Step ", "STEP ")):  # Docker's classic builder; Podman's buildah
                            step, total = line, total + 1
                        cached += "Using cache" in line
                        log.append(line)
                        on_line(line)
                    if "error" in chunk:
                        raise BuildFailure(step, log, chunk["error"].strip())
        except APIError as error:
            raise BuildFailure(step, log, str(error.explanation or error)) from None
        image = self.image_id(tag)
        if image is None:
            raise BuildFailure(step, log, f"the build ended without an image tagged {tag}")
        return BuildOutcome(image, cached, total, log)

    # -- containers ---------------------------------------------------------------------------------------

    @contextmanager
    def _container(self, image: str, config: ContainerConfig, *, command: list[str],
                   archive: tuple[dict[str, bytes], str | None] | None = None) -> Iterator[str]:
        """A started container's id, removed when the block ends however it ends, starting it included;
        ``archive`` (files by path relative to /, and their owner) is copied in between create and start. If the
        engine goes away meanwhile, the container is remembered and removed by ``reconnect``."""
        _install_cleanup()
        global _creating
        with _live_lock:
            _creating += 1  # until it is in _live, a signal's cleanup must still look for it
        created = None
        try:
            created = self._create(image, config, command=command)
            with _live_lock:
                _live.add(created)
                _creating -= 1
            try:
                for data, folder in _transfers(archive, config) or ():
                    self.api.put_archive(created, folder, data)
                self.api.start(created)
                yield created
            finally:
                with _live_lock:
                    _live.discard(created)
                self._remove_container(created)
        except (APIError, DockerException, *LOST) as error:
            if not isinstance(error, APIError) and not self.answers():
                if created is not None:
                    self._strand("container", created)
                doing = f"running container {created[:12]} of {image}" if created is not None else \
                    f"starting a container of {image}"
                raise EngineLost(self.endpoint, doing, _reason(error)) from None
            if created is not None:
                raise RunError(f"the engine at {self.endpoint} failed while using container {created[:12]} of "
                               f"{image}: {error}", hint="'reprokit doctor' checks the engine") from None
            if "does not match the specified platform" in str(error):  # a 404, though the image is there
                raise RunError(f"could not start a container of {image}: it is of another architecture than "
                               f"{config.platform}: {error}", hint="build it again from a base of that "
                               "architecture (reprokit images bootstrap debian:<suite> --arch <arch>)") from None
            raise RunError(f"could not start a container of {image} on the engine at {self.endpoint}: {error}",
                           hint="check the image exists ('docker image ls') and the engine ('reprokit doctor')") from None
        finally:
            if created is None:
                with _live_lock:
                    _creating -= 1

    def _create(self, image: str, config: ContainerConfig, *, command: list[str]) -> str:
        """Create (not start) a container of ``image`` with ``config``, labelled; its id. Safe defaults: never
        privileged, no added capabilities, no host mounts; `init` reaps the zombies of steps."""
        settings = _host_settings(config, engine_limits=self.podman_limits)
        create = {key: settings.pop(key) for key in ("hostname", "platform") if key in settings}
        networking = None
        if config.network not in ("bridge", "none", "host"):  # a network of services: found there by its aliases
            networking = self.api.create_networking_config(
                {config.network: self.api.create_endpoint_config(aliases=list(config.aliases) or None)})
        host = self.api.create_host_config(
            init=True, privileged=False, network_mode=config.network, **settings,
            # The customer's tmpfs mounts; exec, as on a host (Docker's default is noexec).
            tmpfs={path: f"size={size},exec" for path, size in config.tmpfs.items()} or None)
        return self.api.create_container(image, command=command or None, environment=dict(config.env),
                                         labels={**LABELS, **config.labels}, host_config=host,
                                         networking_config=networking, **create)["Id"]

    def _remove_container(self, container_id: str) -> None:
        """Remove a container this process made, its anonymous volumes with it; one the engine has lost already
        is no error, and one it cannot remove because it went away is left to ``reconnect`` (or `reprokit gc`)."""
        try:
            self.api.remove_container(container_id, force=True, v=True)
        except NotFound:
            pass
        except LOST:
            self._strand("container", container_id)
            raise

    @contextmanager
    def start(self, image: str, config: ContainerConfig, *, command: list[str] | None = None,
              files: dict[str, bytes] | None = None) -> Iterator[DockerBox]:
        with self._container(image, config, command=["sleep", "infinity"] if command is None else command,
                             archive=(files, None) if files else None) as container_id:
            yield DockerBox(container_id, self)

    @contextmanager
    def network(self, labels: dict[str, str]) -> Iterator[str]:
        """A user-defined bridge network (its own DNS: containers find each other by alias), labelled like
        every container, removed when the block ends however it ends."""
        name = f"reprokit-{SESSION}-{uuid.uuid4().hex[:8]}"
        try:
            with self._answering("creating a network for the services"):
                self.api.create_network(name, driver="bridge", labels={**LABELS, **labels}, check_duplicate=True)
        except (APIError, DockerException) as error:
            raise RunError(f"could not create a network for the services: {error}",
                           hint="'reprokit doctor' checks the engine") from None
        _install_cleanup()
        _networks.add(name)
        try:
            yield name
        finally:
            _networks.discard(name)
            try:
                self.api.remove_network(name)
            except NotFound:
                pass
            except (APIError, DockerException):
                pass  # a container still attached (an interrupted run); `reprokit gc` removes it later
            except LOST:
                self._strand("network", name)

    def run_batch(self, image: str, config: ContainerConfig, *, files: dict[str, bytes], command: list[str],
                  collect: str, timeout: float, owner: str | None = None) -> BatchOutcome:
        """Run ``command`` as the container's own process (files copied in before it starts), wait for it,
        and return the files it left under ``collect``: a case's steps without an exec per step. The files go
        in with the command and come back in the log where they can (engine/inline_io.py), else through the
        archive API."""
        inline = None if image in self._not_unpacking else \
            _inline(config, files, owner=owner, command=command, collect=collect)
        if inline is not None:
            outcome = self._batch(image, config, command=inline[0], archive=None, collect=collect, timeout=timeout,
                                  marker=inline[1])
            if outcome is not None:
                return outcome
            self._not_unpacking.add(image)  # its next containers go the archive way at once
        return self._batch(image, config, command=command, archive=(files, owner), collect=collect, timeout=timeout)

    def _batch(self, image: str, config: ContainerConfig, *, command: list[str], archive: tuple | None,
               collect: str, timeout: float, marker: str | None = None) -> BatchOutcome | None:
        """One container of `run_batch`; with ``marker``, its command is inline_io's wrapper (None: it could
        not unpack the files and ran nothing)."""
        since = time.time()
        with self._container(image, config, command=command, archive=archive) as container:
            killed, waiting = False, time.monotonic()
            try:
                code = self.api.wait(container, timeout=timeout)["StatusCode"]
            except LOST as error:
                # Not the guard's timeout (it fires after `timeout` silent seconds): the engine itself went away.
                if time.monotonic() - waiting < timeout - 1 or not self.answers():
                    raise EngineLost(self.endpoint, f"running container {container[:12]} of {image}", _reason(error)) \
                        from None
                self._kill(container)  # the host-side guard: kill what outlived its timeouts
                with self._answering(f"waiting for container {container[:12]} of {image}"):
                    code, killed = self.api.wait(container, timeout=60)["StatusCode"], True
            with self._answering(f"collecting the outputs of container {container[:12]} of {image}"):
                results = inline_io.Results(Collected.UNREAD)
                if marker:
                    try:
                        results = inline_io.read_log(self.api.logs(container, stdout=True, stderr=False), marker)
                    except APIError:
                        pass  # a log driver that keeps nothing to read: the archive API below
                    if results.collected is Collected.NOT_UNPACKED:
                        return None
                collected = _untar_ends([results.tar]) if results.collected is Collected.TAR else \
                    {} if results.collected is Collected.NONE else self._archived(container, collect)
                # The OOM killer's SIGKILL shows as 137: only then is the event log worth asking (engine/podman.py).
                oom = code == 137 and (bool(self.api.inspect_container(container)["State"].get("OOMKilled"))
                                       if self.podman else _oom_since(self.client, container, since))
            return BatchOutcome(code, collected, oom_killed=oom, killed=killed)

    def _archived(self, container: str, folder: str) -> dict[str, bytes]:
        """The files under ``folder`` of a container, read through the archive API (head and tail of big ones)."""
        try:
            stream, _ = self.api.get_archive(container, folder)
            return _untar_ends(stream)
        except NotFound:
            return {}

    def _kill(self, container_id: str) -> None:
        try:
            self.api.kill(container_id)
        except (DockerException, *LOST):
            pass

    # -- garbage ------------------------------------------------------------------------------------------

    def abort(self) -> None:
        _cleanup_session()

    def leftovers(self, *, include_live: bool = False) -> list[tuple[str, str, dict[str, str]]]:
        """Every reprokit-labelled container, network and volume whose owner process is gone."""
        found = []
        selector = {"label": "reprokit.session"}
        with self._answering("listing leftovers"):
            for container in self.api.containers(all=True, filters=selector):
                found.append(("container", container["Id"], container.get("Labels") or {}))
            for network in self.api.networks(filters=selector):
                found.append(("network", network["Id"], network.get("Labels") or {}))
            for volume in (self.api.volumes(filters=selector) or {}).get("Volumes") or []:
                found.append(("volume", volume["Name"], volume.get("Labels") or {}))
        return [f for f in found if include_live or not owner_alive(f[2])]

    def remove(self, kind: str, resource_id: str) -> None:
        with self._answering(f"removing {kind} {resource_id[:12]}"):
            try:
                if kind == "container":
                    self.api.remove_container(resource_id, force=True, v=True)
                elif kind == "network":
                    self.api.remove_network(resource_id)
                else:
                    self.api.remove_volume(resource_id, force=True)
            except NotFound:
                pass


class DockerBox:
    """A running container: commands run through `docker exec`, bounded by `timeout` inside it."""

    def __init__(self, container_id: str, engine: DockerEngine):
        self.id = container_id
        self._engine = engine

    def exec(self, command: str, *, timeout: float, user: str | None = None, workdir: str | None = None,
             env: dict[str, str] | None = None) -> RunResult:
        wrapped = ["timeout", "-k", str(KILL_GRACE_S), f"{timeout:g}", "sh", "-c", command]
        since = time.time()
        started = time.monotonic()
        # If even SIGKILL inside the container does not end the step, kill the container from outside.
        guard = threading.Timer(timeout + KILL_GRACE_S + 30, self._engine._kill, args=(self.id,))
        guard.daemon = True
        guard.start()
        try:
            api = self._engine.api
            with self._engine._answering(f"running {command!r} in container {self.id[:12]}"):
                exec_id = api.exec_create(self.id, wrapped, user=user or "", workdir=workdir,
                                          environment=env or None)["Id"]
                stdout, stderr = api.exec_start(exec_id, demux=True)
                code = api.exec_inspect(exec_id)["ExitCode"]
        except (APIError, DockerException) as error:
            raise RunError(f"could not run {command!r} in container {self.id[:12]}: {error}") from None
        finally:
            guard.cancel()
        code = -1 if code is None else code
        duration = round(time.monotonic() - started, 3)
        with self._engine._answering(f"reading the events of container {self.id[:12]}"):
            oom = code == 137 and self._oom_killed(since)
        return RunResult(command, code, _text(stdout), _text(stderr), duration, timed_out(code, duration, timeout),
                         oom_killed=oom)

    def _oom_killed(self, since: float) -> bool:
        if not self._engine.podman:
            return _oom_since(self._engine.client, self.id, since)
        # Podman sends no oom event for an exec'd process: ask the container's memory cgroup (v2, else v1).
        api = self._engine.api
        exec_id = api.exec_create(self.id, ["sh", "-c", podman.OOM_COUNTERS])["Id"]
        return podman.oom_kills(_text(api.exec_start(exec_id))) > 0

    def logs(self, *, tail: int = 200) -> str:
        try:
            return _text(self._engine.api.logs(self.id, stdout=True, stderr=True, tail=tail))
        except (DockerException, *LOST):
            return ""

    def exit_code(self) -> int | None:
        try:
            state = self._engine.api.inspect_container(self.id)["State"]
        except (DockerException, *LOST):
            return -1
        return None if state.get("Running") else state.get("ExitCode", -1)

    def put_files(self, folder: str, files: dict[str, bytes], *, owner: str | None = None) -> None:
        try:
            with self._engine._answering(f"copying files into container {self.id[:12]}"):
                self._engine.api.put_archive(self.id, folder, _tar(files, owner=owner).getvalue())
        except (APIError, DockerException) as error:
            raise RunError(f"could not copy files into {folder} of container {self.id[:12]}: {error}") from None


def _oom_since(client, container_id: str, since: float) -> bool:
    """Did the kernel's OOM killer act in this container since ``since``? (Docker's 'oom' event covers
    exec'd processes too; the container's State.OOMKilled only covers its main process.)"""
    events = client.events(since=f"{since:.9f}", until=f"{time.time():.9f}", decode=True,
                           filters={"container": container_id, "event": "oom"})
    return any(True for _ in events)


def _inline(config: ContainerConfig, files: dict, *, owner: str | None, command: list[str],
            collect: str) -> tuple[list[str], str] | None:
    """`run_batch`'s command with the files in it, and its marker; None where only the archive API can copy them:
    a read-only root, volumes or tmpfs mounts (copies land there before the start), or a user who is not root
    (the image's USER: it could not give the files their owners)."""
    if config.read_only or config.writable or config.tmpfs or (owner or "0").partition(":")[0] not in ("0", "root"):
        return None
    return inline_io.wrap(command, files=_tar(files, owner=owner).getvalue(), collect=collect, as_root=True,
                          limit_kib=inline_io.LOG_LIMIT_KIB)


def _host_settings(config: ContainerConfig, *, engine_limits: dict[str, int] | None = None) -> dict:
    """docker-py's create/host-config arguments for a ContainerConfig (beyond image, command, env, labels).
    ``engine_limits`` (on Podman) become explicit limits of every container (see `engine/podman.py`)."""
    settings: dict = {}
    if config.memory:
        settings.update(mem_limit=config.memory, memswap_limit=config.memory)  # no swap: OOM shows as OOM
    if config.cpus:
        settings["nano_cpus"] = int(config.cpus * 1e9)
    if config.pids:
        settings["pids_limit"] = config.pids
    limits = podman.default_ulimits(nofile=config.nofile, engine_limits=engine_limits) if engine_limits else (
        {"nofile": (config.nofile, config.nofile)} if config.nofile else {})
    if limits:
        settings["ulimits"] = [docker.types.Ulimit(name=name, soft=soft, hard=hard)
                               for name, (soft, hard) in limits.items()]
    if config.shm:
        settings["shm_size"] = config.shm
    if config.read_only:
        settings["read_only"] = True
    if config.writable:
        # Anonymous volumes (removed with the container): the one place a read-only root (or a tmpfs that
        # would hide them) lets files be copied in before the start, and where the steps write.
        settings["mounts"] = [docker.types.Mount(target=path, source=None, type="volume", labels={**LABELS, **config.labels})
                              for path in config.writable]
    if config.hostname:
        settings["hostname"] = config.hostname
    if config.hosts:
        settings["extra_hosts"] = dict(config.hosts)
    if config.platform:
        settings["platform"] = config.platform
    return settings


def _transfers(archive: tuple | None, config: ContainerConfig) -> list[tuple[bytes, str]] | None:
    """Tars to unpack between create and start: one at / normally; on a read-only root, one per writable
    folder (Docker copies into volumes only), and a file outside every writable folder is refused."""
    if not archive:
        return None
    files, owner = archive
    roots = sorted(config.writable, key=len, reverse=True)
    parts: dict[str, dict[str, bytes]] = {root: {} for root in ["/", *roots]}
    for name, data in files.items():
        path = "/" + name
        root = next((r for r in roots if path == r or path.startswith(r.rstrip("/") + "/")), None)
        if root is None and not config.read_only:
            parts["/"][name] = data
            continue
        if root is None:
            raise RunError(f"cannot copy {path} into a container with a read-only root: it is outside the "
                           f"writable folders {', '.join(roots)}", hint="declare the file in the environment's "
                           "`files` (baked into the image) or put it in the workdir")
        relative = path[len(root.rstrip("/")) + 1:]
        if relative:
            parts[root][relative + ("/" if name.endswith("/") else "")] = data
    return [(_tar(part, owner=owner).getvalue(), root) for root, part in parts.items() if part]


def _tar(files: dict[str, bytes | FileEntry], *, owner: str | None = None) -> io.BytesIO:
    """A tar of ``files`` (a name ending in / is a folder). A FileEntry carries its own owner and mode; plain
    bytes are owned by a numeric ``uid[:gid]`` owner; a named user's id is unknown before the container runs,
    so their files are made writable by all instead."""
    uid, _, gid = (owner or "0").partition(":")
    numeric = uid.isdigit() and (not gid or gid.isdigit())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            if name.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o1777
            elif isinstance(data, FileEntry):
                entry_uid, _, entry_gid = data.owner.partition(":")
                info.size, info.mode, data = len(data.data), data.mode, data.data
                info.uid, info.gid = int(entry_uid), int(entry_gid or entry_uid)
                archive.addfile(info, io.BytesIO(data))
                continue
            else:
                info.size, info.mode = len(data), 0o644 if numeric else 0o666
            info.uid, info.gid = (int(uid), int(gid or uid)) if numeric else (0, 0)
            archive.addfile(info, io.BytesIO(data) if not name.endswith("/") else None)
    buffer.seek(0)
    return buffer


# What is kept of each collected file (a step's stdout or stderr): its head and its tail, so a step that prints
# hundreds of megabytes (or prints until its timeout) costs this process a few megabytes, not the output's size.
KEEP_HEAD = KEEP_TAIL = 1024 * 1024


def _untar_ends(chunks, *, head: int = KEEP_HEAD, tail: int = KEEP_TAIL) -> dict[str, bytes]:
    """The files of a tar stream (an iterator of byte chunks), read as it arrives; of a file longer than
    ``head + tail`` bytes, the first ``head`` and the last ``tail``, with a line saying how much was cut."""
    files = {}
    with tarfile.open(fileobj=_ChunkStream(iter(chunks)), mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            source = archive.extractfile(member)
            if member.size <= head + tail:
                files[member.name] = source.read()
                continue
            first = source.read(head)
            for _ in range((member.size - head - tail) // (1 << 20)):
                source.read(1 << 20)  # a stream cannot seek: read past the middle in pieces
            source.read((member.size - head - tail) % (1 << 20))
            cut = member.size - head - tail
            files[member.name] = (first + f"\n[reprokit: {cut} bytes cut here; the first {head} and the last {tail} "
                                          f"of {member.size} bytes are kept]\n".encode() + source.read(tail))
    return files


class _ChunkStream(io.RawIOBase):
    """A readable file over an iterator of byte chunks (docker's archive stream), for tarfile's stream mode."""

    def __init__(self, chunks):
        self._chunks, self._left = chunks, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._left = memoryview(chunk)
        size = min(len(buffer), len(self._left))
        buffer[:size], self._left = self._left[:size], self._left[size:]  # views: no copy of the chunk's rest
        return size


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def _cleanup_session() -> None:
    """Remove every container (and network) this process started and has not removed yet, on every engine it
    talked to; other backends' clean-ups first."""
    for cleanup in CLEANUPS:
        cleanup()
    if not _live and not _creating and not _networks:
        return  # every container and network went through its context manager, which removed it
    for engine in list(_engines):
        try:
            api = _client(engine._endpoint, timeout=30).api
            for container in api.containers(all=True, filters={"label": f"reprokit.session={SESSION}"}):
                api.remove_container(container["Id"], force=True, v=True)
            for network in api.networks(filters={"label": f"reprokit.session={SESSION}"}):
                api.remove_network(network["Id"])
        except (DockerException, *LOST):
            pass


def _split(reference: str) -> tuple[str, str]:
    """``host:5000/path/name:tag`` -> (``host:5000/path/name``, ``tag``); no tag -> latest."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, "latest"
    return name, tag


def _explain(error: Exception) -> str:
    return str(getattr(error, "explanation", None) or error).strip()


def _refused(words: str) -> Transfer:
    """An engine's error from a pull or lookup: the registry has no such image, or it did not answer."""
    absent = any(marker in words.lower() for marker in ABSENT)
    return Transfer(Moved.ABSENT if absent else Moved.UNREACHABLE, words.strip())


def _reason(error: BaseException) -> str:
    """A broken connection's cause in a few words (requests nests them several deep)."""
    text = str(error)
    for marker in ("Connection refused", "Connection reset", "Connection aborted", "RemoteDisconnected",
                   "No such file or directory", "Read timed out", "Broken pipe"):
        if marker in text:
            return marker.lower() if marker != "RemoteDisconnected" else "the connection closed mid-answer"
    return text[:200] or type(error).__name__


_installed = False


def _install_cleanup() -> None:
    """On exit and on SIGTERM, remove what this process started (SIGINT unwinds the context managers)."""
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(_cleanup_session)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        def on_term(signum, frame):
            _cleanup_session()
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, on_term)


def interactive_shell(container_id: str, *, workdir: str, endpoint: str | None = None) -> int:
    """An interactive shell needs a TTY, which the docker CLI handles best."""
    import subprocess

    host = ["-H", endpoint] if endpoint else []
    return subprocess.call(["docker", *host, "exec", "-it", "-w", workdir, container_id, "sh", "-c",
                            "command -v bash >/dev/null && exec bash || exec sh"])
