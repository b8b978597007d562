"""The Swarm backend (`reprokit replay --backend swarm`): each environment run a replicated job on whatever node
the swarm picks; images, builds and service containers stay with the engine this process talks to (a manager).

A run is a Swarm service in `replicated-job` mode with restart condition none: one task, run once. The case's
files reach it as a Swarm config (a tar the job unpacks), its results come back in its log (see `inline_io.py`), its
exit code from the task's status. Services (databases, caches) run as containers on the manager, attached to
an attachable overlay network of the run's own that the job joins too: their readiness and version are
checked by exec, as locally, while the job may run on any node and reach them by name. Everything it creates
(services, configs, networks, the task containers and their volumes) carries reprokit's labels and is removed
when the run ends, on error, on interrupt (`abort`), and by `reprokit gc` after a kill.

Images: a tag the manager built is found only on the manager, which a single-node swarm is; on a swarm of
several nodes, give image references every node can pull (a registry), or pin jobs to the manager.
"""
from __future__ import annotations

import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Iterator

from docker.errors import APIError, DockerException, NotFound
from docker.types import (ConfigReference, ContainerSpec, EndpointSpec, Mount, NetworkAttachmentConfig, Resources, RestartPolicy,
                          ServiceMode, TaskTemplate)

from reprokit.contract.values import size_bytes
from reprokit.engine import docker as local
from reprokit.engine.docker import DockerEngine, _tar, _untar_ends
from reprokit.engine.endpoints import Endpoint
from reprokit.engine.inline_io import UNPACK_FAILED, Collected, Results, read_log, wrap
from reprokit.engine.protocol import (KILL_GRACE_S, LABELS, SESSION, BatchOutcome, ContainerConfig, RunResult,
                                      owner_alive, timed_out)
from reprokit.errors import EngineError, RunError

POLL_S = 0.1
FINAL = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}
CONFIG_LIMIT = 500 * 1024  # Swarm refuses configs larger than this
NETWORK_RELEASE_S = 15.0  # a network stays "in use" briefly after the last task on it ended
TASK_SETTLE_S = 10.0  # how long a removed job's task may take to reach a final state
INPUT = "/run/reprokit-input.tar"  # where a job's config (the case's files as a tar) is mounted

# (kind, id) of the services, configs and networks not removed yet -> the thread whose run created them
_created: dict[tuple[str, str], threading.Thread] = {}
_created_lock = threading.Lock()
_engines: list[SwarmEngine] = []  # the one this process opened, for the clean-up at exit


@dataclass(frozen=True)
class Finished:
    """A job that ended: its exit code, its log, what the wrapper reported, whether the host-side guard killed it."""

    exit_code: int
    stdout: str
    stderr: str
    collected: dict[str, bytes]
    oom_kills: int = 0
    killed: bool = False


class SwarmEngine(DockerEngine):
    """The local engine's images and builds; runs as jobs on its swarm (it must be a manager)."""

    facts_scope = "swarm"  # facts read in a job are cached apart from facts read in a local container

    def __init__(self, endpoint: Endpoint | None = None) -> None:
        super().__init__(endpoint)
        swarm = self.api.info().get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise EngineError(f"--backend swarm: this Docker engine is not a Swarm manager (its swarm state is "
                              f"{swarm.get('LocalNodeState') or 'unknown'!r})",
                              hint="make it one ('docker swarm init --advertise-addr 127.0.0.1' for a single node), "
                                   "or point DOCKER_HOST at a manager; without --backend, runs use the local engine")
        _engines.append(self)
        if _cleanup_swarm not in local.CLEANUPS:
            local.CLEANUPS.append(_cleanup_swarm)  # run by the local engine's clean-up at exit and on SIGTERM
        local._install_cleanup()

    # -- runs ---------------------------------------------------------------------------------------------

    def run_batch(self, image: str, config: ContainerConfig, *, files: dict[str, bytes], command: list[str],
                  collect: str, timeout: float, owner: str | None = None) -> BatchOutcome:
        """``command`` as a job; the files it left under ``collect`` come back in its log."""
        done = self.run_job(image, config, command, archive=_tar(files, owner=owner).getvalue() if files else None,
                            collect=collect, timeout=timeout)
        if done.exit_code == UNPACK_FAILED and not done.collected:
            raise RunError(f"the job of {image} could not unpack the case's files: {done.stderr.strip()[-500:]}",
                           hint="the image needs tar, and its user must be able to write the workdir; with "
                                "`read_only: true` and a non-root `user:` it cannot (the job's fresh volumes "
                                "belong to root on Swarm): replay that case with the local backend")
        return BatchOutcome(done.exit_code, done.collected, oom_killed=done.exit_code == 137 and done.oom_kills > 0,
                            killed=done.killed)

    @contextmanager
    def start(self, image: str, config: ContainerConfig, *, command: list[str] | None = None,
              files: dict[str, bytes] | None = None) -> Iterator:
        """A service (``command`` given) is a container on the manager, on the run's overlay network; an idle box
        (``command`` None: facts, `env run`) is a `JobBox`, whose every exec is a job of its own."""
        if command is not None:
            with super().start(image, config, command=command, files=files) as container:
                yield container
            return
        box = JobBox(self, image, config)
        if files:
            box.put_files("/", files)
        yield box

    def run_job(self, image: str, config: ContainerConfig, command: list[str], *, archive: bytes | None,
                collect: str | None, timeout: float, user: str | None = None, workdir: str | None = None,
                env: dict[str, str] | None = None) -> Finished:
        """Run ``command`` once as a replicated job and wait for it (at most ``timeout`` s, then it is removed);
        every resource it needed is removed when it has ended."""
        if archive is not None and len(archive) > CONFIG_LIMIT:
            raise RunError(f"the case's files make a {len(archive) // 1024} KiB archive; a Swarm config (how they "
                           f"reach the job) holds at most {CONFIG_LIMIT // 1024} KiB",
                           hint="put large files into the environment (`files:`, built into the image) or run "
                                "without --backend swarm")
        name = f"reprokit-{SESSION}-{uuid.uuid4().hex[:8]}"
        labels = {**LABELS, **config.labels}
        argv, marker = wrap(command, files=INPUT if archive is not None else None, collect=collect) \
            if archive is not None or collect else (command, "")
        with ExitStack() as stack:
            reference = stack.enter_context(self._config(name, archive, labels)) if archive is not None else None
            networks = stack.enter_context(self._job_networks(config, labels))
            template = task_template(image, config, argv, labels=labels, inputs=reference, networks=networks,
                                     user=user, workdir=workdir, env=env)
            service = stack.enter_context(self._service(name, template, labels))
            task, killed = self._wait(service, image, timeout)
            stdout, stderr, results = self._logs(service, marker=marker if collect else "", wait=not killed)
        status = task.get("Status") or {}
        code = 137 if killed else (status.get("ContainerStatus") or {}).get("ExitCode")
        if code is None:
            code = results.exit_code if results and results.exit_code is not None else -1
        return Finished(code, stdout, stderr,
                        _untar_ends([results.tar]) if results and results.collected is Collected.TAR else {},
                        results.oom_kills if results else 0, killed)

    def _wait(self, service: str, image: str, timeout: float) -> tuple[dict, bool]:
        """The job's task once it has ended, and whether it had to be killed (it outlived ``timeout``)."""
        deadline = time.monotonic() + timeout
        task: dict = {}
        while True:
            try:
                tasks = self.api.tasks(filters={"service": service}) or []
                if not tasks:
                    self.api.inspect_service(service)  # NotFound once an abort removed it
            except NotFound:
                raise RunError(f"the job {service[:12]} was removed while it ran (reprokit is stopping)") from None
            task = max(tasks, key=lambda t: t.get("CreatedAt", ""), default={})
            status = task.get("Status") or {}
            state = status.get("State", "new")
            if state == "rejected" or (state in FINAL and not status.get("ContainerStatus", {}).get("ContainerID")):
                raise RunError(f"the swarm did not run the job of {image}: {state}: {status.get('Err') or '?'}",
                               hint="every node must have the image, or pull it from a registry; "
                                    "'docker node ls' shows the nodes")
            if state in FINAL:
                return task, False
            if time.monotonic() > deadline:
                if state in ("new", "pending", "assigned", "accepted", "preparing"):
                    raise RunError(f"the job of {image} never started in {timeout:g} s: {state}: "
                                   f"{status.get('Err') or status.get('Message') or '?'}",
                                   hint="'docker node ls' and 'docker service ps --no-trunc <job>' show why")
                return task, True  # leaving the block removes the service, which kills the task
            time.sleep(POLL_S)

    def _logs(self, service: str, *, marker: str, wait: bool) -> tuple[str, str, Results | None]:
        """The job's stdout and stderr, and what its wrapper printed after ``marker`` (None without one). A log is
        complete once the task has ended, but the manager may hand it over a moment later, so a missing results
        frame is asked for again briefly (with ``wait``: not for a job that was killed)."""
        stdout, stderr, results = "", "", None
        for attempt in range(10):
            try:
                stdout = _text(self.api.service_logs(service, stdout=True, stderr=False))
                stderr = _text(self.api.service_logs(service, stdout=False, stderr=True))
            except (APIError, DockerException):
                return "", "", None
            results = read_log(stdout.encode(), marker) if marker else None
            if not wait or results is None or results.collected is not Collected.UNREAD:
                break
            time.sleep(0.2)
        return stdout, stderr, results

    # -- resources ----------------------------------------------------------------------------------------

    @contextmanager
    def _service(self, name: str, template: TaskTemplate, labels: dict[str, str]) -> Iterator[str]:
        try:
            # dnsrr: nothing connects to a job, so it needs no virtual IP (nor the node's load balancer for it).
            service = self.api.create_service(template, name=name, labels=labels, endpoint_spec=EndpointSpec("dnsrr"),
                                              mode=ServiceMode("replicated-job", replicas=1, concurrency=1))["ID"]
        except (APIError, DockerException) as error:
            raise RunError(f"the swarm refused the job {name}: {error}",
                           hint="'docker info' shows the swarm's state; 'reprokit doctor' checks the engine") from None
        with _tracked("service", service):
            try:
                yield service
            finally:
                self._remove_service(service)

    def _remove_service(self, service: str) -> None:
        """Remove the job and, where they are on this node, its task containers (Swarm leaves exited ones
        behind, with their anonymous volumes)."""
        try:
            self.api.remove_service(service)
        except NotFound:
            return
        except (APIError, DockerException):
            return  # `reprokit gc` finds it by its labels
        # A job removed while its task was being prepared still gets its container a moment later, which then
        # runs on and holds the network: wait for the task to settle, removing its containers as they appear.
        deadline = time.monotonic() + TASK_SETTLE_S
        while True:
            try:
                containers = self.api.containers(all=True, filters={"label": f"com.docker.swarm.service.id={service}"})
                settled = all((t.get("Status") or {}).get("State") in FINAL
                              for t in self.api.tasks() if t.get("ServiceID") == service)
            except (APIError, DockerException):
                return
            for container in containers:
                _quietly(lambda c: self.api.remove_container(c, force=True, v=True), container["Id"])
            if (settled and not containers) or time.monotonic() > deadline:
                return
            time.sleep(POLL_S * 2)

    @contextmanager
    def _config(self, name: str, data: bytes, labels: dict[str, str]) -> Iterator[ConfigReference]:
        try:
            config = self.api.create_config(name, data, labels=labels)["ID"]
        except (APIError, DockerException) as error:
            raise RunError(f"could not create the Swarm config {name} for the case's files: {error}") from None
        with _tracked("config", config):
            try:
                yield ConfigReference(config, name, filename=INPUT, uid="0", gid="0", mode=0o444)
            finally:
                _quietly(self.api.remove_config, config)

    @contextmanager
    def _job_networks(self, config: ContainerConfig, labels: dict[str, str]) -> Iterator[list | None]:
        """The networks a job joins: none named for `bridge` (each node's default bridge), the run's overlay
        when it has services, and for `none` an internal overlay of its own (Swarm cannot start a task with no
        network at all: no route out, though the job still has an interface)."""
        if config.network == "bridge":
            yield None
        elif config.network == "none":
            with self.network(labels, internal=True) as name:
                yield [NetworkAttachmentConfig(name)]
        else:
            yield [NetworkAttachmentConfig(config.network, aliases=list(config.aliases) or None)]

    @contextmanager
    def network(self, labels: dict[str, str], *, internal: bool = False) -> Iterator[str]:
        """An attachable overlay network: jobs on any node and service containers on the manager share it."""
        name = f"reprokit-{SESSION}-{uuid.uuid4().hex[:8]}"
        try:
            network = self.api.create_network(name, driver="overlay", attachable=True, internal=internal,
                                              labels={**LABELS, **labels}, check_duplicate=True)["Id"]
        except (APIError, DockerException) as error:
            raise RunError(f"could not create an overlay network for the run: {error}",
                           hint="'docker info' shows the swarm's state") from None
        with _tracked("network", network):
            try:
                yield name
            finally:
                self._remove_network(network)

    def _remove_network(self, network: str) -> None:
        """Remove an overlay network, first disconnecting what is still attached (a service container whose
        removal is under way in another thread, on an interrupt); Swarm releases a job's endpoint a little
        after the job is removed, so "in use" is retried for a while. The swarm answers a removal at once but
        the node lists the network for about 0.2 s more: it is gone when inspecting it answers "not found"."""
        deadline = time.monotonic() + NETWORK_RELEASE_S
        removed = False
        while True:
            try:
                attached = self.api.inspect_network(network).get("Containers") or {}
                if not removed:
                    for container in attached:
                        _quietly(lambda c: self.api.disconnect_container_from_network(c, network, force=True),
                                 container)
                    self.api.remove_network(network)
                    removed = True
            except NotFound:
                return
            except (APIError, DockerException):
                pass  # still in use
            if time.monotonic() > deadline:
                return  # still in use: `reprokit gc` finds it by its labels
            time.sleep(POLL_S if removed else 0.25)

    # -- garbage ------------------------------------------------------------------------------------------

    def leftovers(self, *, include_live: bool = False) -> list[tuple[str, str, dict[str, str]]]:
        """The local engine's leftovers, after the swarm's jobs (which hold networks) and before its configs."""
        selector = {"label": "reprokit.session"}
        services = [("service", s["ID"], s["Spec"].get("Labels") or {}) for s in self.api.services(filters=selector)]
        configs = [("config", c["ID"], c["Spec"].get("Labels") or {}) for c in self.api.configs(filters=selector)]
        local_ones = super().leftovers(include_live=include_live)
        return [f for f in services if include_live or not owner_alive(f[2])] + local_ones + \
               [f for f in configs if include_live or not owner_alive(f[2])]

    def remove(self, kind: str, resource_id: str) -> None:
        if kind == "service":
            self._remove_service(resource_id)
        elif kind == "config":
            _quietly(self.api.remove_config, resource_id)
        elif kind == "network":
            self._remove_network(resource_id)
        else:
            super().remove(kind, resource_id)


class JobBox:
    """An environment on the swarm, for `exec`: every command is a job of its own, with the files put so far;
    nothing else carries over from one command to the next (no `env shell` here)."""

    def __init__(self, engine: SwarmEngine, image: str, config: ContainerConfig):
        self.id = f"swarm:{image}"
        self._engine, self._image, self._config = engine, image, config
        self._files: dict[str, bytes] = {}
        self._owner: str | None = None

    def exec(self, command: str, *, timeout: float, user: str | None = None, workdir: str | None = None,
             env: dict[str, str] | None = None) -> RunResult:
        argv = ["timeout", "-k", str(KILL_GRACE_S), f"{timeout:g}", "sh", "-c", command]
        started = time.monotonic()
        done = self._engine.run_job(self._image, self._config, argv, collect=None, user=user, workdir=workdir,
                                    env=env, timeout=timeout + KILL_GRACE_S + 30,
                                    archive=_tar(self._files, owner=self._owner).getvalue() if self._files else None)
        duration = round(time.monotonic() - started, 3)  # scheduling included: the job's own time is not known
        return RunResult(command, done.exit_code, done.stdout, done.stderr, duration,
                         timed_out(done.exit_code, duration, timeout))

    def put_files(self, folder: str, files: dict[str, bytes], *, owner: str | None = None) -> None:
        self._files.update({f"{folder.strip('/')}/{name}".lstrip("/"): data for name, data in files.items()})
        self._owner = owner or self._owner

    def logs(self, *, tail: int = 200) -> str:
        return ""  # no process outlives an exec

    def exit_code(self) -> int | None:
        return None


def task_template(image: str, config: ContainerConfig, command: list[str], *, labels: dict[str, str],
                  inputs: ConfigReference | None = None, networks: list | None = None,
                  user: str | None = None, workdir: str | None = None,
                  env: dict[str, str] | None = None) -> TaskTemplate:
    """The job's task: what ``config`` gives a local container, in Swarm's terms. Swarm 1.41 has no shm size (a
    tmpfs at /dev/shm instead), no swap limit, and mounts its tmpfs noexec."""
    mounts = [Mount(path, None, type="tmpfs", tmpfs_size=size_bytes(size)) for path, size in config.tmpfs.items()]
    if config.shm:
        mounts.append(Mount("/dev/shm", None, type="tmpfs", tmpfs_size=size_bytes(config.shm)))
    if config.read_only:
        # Anonymous volumes, as locally: writable, exec, and removed with the task container.
        mounts += [Mount(path, None, type="volume", labels=labels) for path in config.writable]
    spec = ContainerSpec(image, command, env={**config.env, **(env or {})} or None, labels=labels, mounts=mounts,
                         hostname=config.hostname, hosts=dict(config.hosts) or None, read_only=config.read_only,
                         init=True, user=user, workdir=workdir, configs=[inputs] if inputs else None)
    if config.nofile:
        spec["Ulimits"] = [{"Name": "nofile", "Soft": config.nofile, "Hard": config.nofile}]  # API 1.41
    resources = Resources(mem_limit=size_bytes(config.memory) if config.memory else None,
                          cpu_limit=int(config.cpus * 1e9) if config.cpus else None)
    if config.pids:
        resources.setdefault("Limits", {})["Pids"] = config.pids  # API 1.41
    return TaskTemplate(spec, resources=resources, restart_policy=RestartPolicy("none"), networks=networks)


@contextmanager
def _tracked(kind: str, resource: str) -> Iterator[None]:
    with _created_lock:
        _created[(kind, resource)] = threading.current_thread()
    try:
        yield
    finally:
        with _created_lock:
            _created.pop((kind, resource), None)


def _cleanup_swarm() -> None:
    """Remove the jobs this process created and has not removed; and its configs and networks whose run's thread
    has ended. Runs on abort, on SIGTERM and at exit, before the local engine's own clean-up. A run whose job
    goes under it removes its own config and network as it unwinds, in order, after its service containers:
    removing an overlay network from two threads at once, while a container leaves it, can leave the node a
    stale copy that no API call removes (dockerd 20.10)."""
    with _created_lock:
        left = sorted((item for item, thread in _created.items()
                       if item[0] == "service" or not thread.is_alive() or thread is threading.current_thread()),
                      key=lambda item: ("service", "config", "network").index(item[0]))
    for kind, resource in left if _engines else ():
        try:
            _engines[-1].remove(kind, resource)
        except DockerException:
            pass


def _quietly(remove, resource: str) -> None:
    try:
        remove(resource)
    except (APIError, DockerException):
        pass  # gone already, or still in use: `reprokit gc` finds it by its labels


def _text(chunks) -> str:
    return b"".join(chunks or ()).decode("utf-8", errors="replace")
