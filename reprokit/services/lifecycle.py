"""Start an environment's services for one run: their images, a private network, readiness, facts and logs.

Per run: a labelled network; every service started at once on it (its name, and any `hosts:` name pointing at
it, are its hostnames there); each one ready by its kind's check or the declared `ready`; then the caller runs
the steps on the same network. Everything is removed when the block ends, however it ends."""
from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from reprokit.engine import ContainerConfig, Engine
from reprokit.errors import RunError
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reprokit.services.images import ServiceImage

READY_POLL_S = 0.1
LOG_TAIL = 20


@dataclass
class RunningService:
    """A started, ready service: what a repro script needs to reach it, and what the run keeps as evidence."""

    name: str
    image: ServiceImage
    env: dict[str, str]
    port: int | None
    container: object = field(repr=False)
    ready_s: float = 0.0
    version: str = ""

    @property
    def host(self) -> str:
        """The hostname the steps (and a script inside the box) use: the service's name."""
        return self.name

    def logs(self, *, tail: int = 200) -> str:
        return self.container.logs(tail=tail)

    def died(self) -> int | None:
        """The exit code if the service's process has ended, else None."""
        return self.container.exit_code()

    def to_dict(self) -> dict:
        return {"image": self.image.reference, "provenance": self.image.provenance, "version": self.version,
                "host": self.host, "port": self.port, "ready_s": round(self.ready_s, 3)}


@dataclass
class Services:
    """The services of one run, by name, and the network the steps must join."""

    network: str
    running: dict[str, RunningService]

    def __getitem__(self, name: str) -> RunningService:
        return self.running[name]

    def facts(self) -> dict[str, str]:
        return {name: service.version for name, service in self.running.items()}

    def evidence(self) -> dict[str, dict]:
        """Per service: where its image came from, its version, whether it died, its last log lines."""
        found = {}
        for name, service in self.running.items():
            code = service.died()
            found[name] = {**service.to_dict(), "died": code is not None,
                           **({"exit_code": code} if code is not None else {}), "log": service.logs(tail=LOG_TAIL)}
        return found


@contextmanager
def start_services(spec, *, engine: Engine, labels: dict[str, str],
                   on_line: Callable[[str], None] | None = None) -> Iterator[Services | None]:
    """The environment's services, started and ready, on a network of their own; None when it declares none."""
    if not spec.services:
        yield None
        return
    from reprokit.services.images import service_image  # the kinds and recipes: only for a spec with services

    images = {name: service_image(service.image, engine=engine, on_line=on_line, allow_mysql=service.stand_in)
              for name, service in spec.services.items()}
    with engine.network(labels) as network, ExitStack() as stack:
        def start(name: str) -> RunningService:
            return _start_one(name, spec, images[name], network=network, engine=engine, labels=labels, stack=stack)

        with ThreadPoolExecutor(max_workers=len(spec.services)) as pool:
            futures = {name: pool.submit(start, name) for name in spec.services}
            running = {name: future.result() for name, future in futures.items()}
        yield Services(network, running)


def _start_one(name: str, spec, image: ServiceImage, *, network: str, engine: Engine, labels: dict[str, str],
               stack: ExitStack) -> RunningService:
    service = spec.services[name]
    aliases = (name, *(host for host, address in spec.hosts.items() if address == name))
    config = ContainerConfig(network=network, aliases=aliases, env=dict(service.env), memory=None, pids=None,
                             labels={**labels, "reprokit.service": name})
    command = list(service.command) if service.command is not None else []
    started = time.monotonic()
    container = stack.enter_context(engine.start(image.tag, config, command=command, files=_files(service)))
    running = RunningService(name, image, dict(service.env), image.port, container)
    _wait_ready(running, service, image, started)
    running.ready_s = time.monotonic() - started
    if image.version_command(service.env, service.command or ()):
        result = container.exec(_shell(image.version_command(service.env, service.command or ())), timeout=30)
        running.version = (result.stdout.strip().splitlines() or [""])[0][:200]
    return running


def _files(service) -> dict[str, bytes]:
    return {path.lstrip("/"): text.encode() for path, text in service.files.items()}


def _wait_ready(running: RunningService, service, image: ServiceImage, started: float) -> None:
    """Poll the service's readiness check until it passes; a service that dies or outlasts the timeout is an
    error carrying its last log lines."""
    ready = service.ready
    timeout = ready.timeout if ready is not None else 60.0
    check = _check(running, service, image)
    while True:
        code = running.died()
        if code is not None:
            raise _not_ready(running, f"exited with code {code} before it was ready")
        try:
            if check():
                return
        except RunError:  # the exec raced the service's exit: the next round says why
            pass
        if time.monotonic() - started > timeout:
            raise _not_ready(running, f"was not ready after {timeout:g} s ({_describe(service, image)})")
        time.sleep(READY_POLL_S)


def _check(running: RunningService, service, image: ServiceImage) -> Callable[[], bool]:
    ready, container = service.ready, running.container
    if ready is not None and ready.log is not None:
        pattern = re.compile(ready.log, re.MULTILINE)
        return lambda: bool(pattern.search(container.logs(tail=500)))
    if ready is not None and ready.port is not None:
        return lambda: container.exec(_listening(ready.port), timeout=10).exit_code == 0
    if ready is not None and ready.run is not None:
        return lambda: container.exec(ready.run, timeout=30).exit_code == 0
    command = image.ready_command(service.env, service.command or ())
    if command:
        return lambda: container.exec(_shell(command), timeout=30).exit_code == 0
    return lambda: True  # an image of no known kind, with no `ready`: started is all we can know


def _listening(port: int) -> str:
    """Exit 0 when something listens on TCP ``port``: read from /proc, which every Linux container has."""
    return f"grep -qi ':{port:04X} 00000000:0000 0A\\|:{port:04X} 00000000000000000000000000000000:0000 0A' " \
           "/proc/net/tcp /proc/net/tcp6"


def _describe(service, image: ServiceImage) -> str:
    ready = service.ready
    if ready is not None:
        kind = "port" if ready.port is not None else "log" if ready.log is not None else "run"
        return f"ready: {{{kind}: {getattr(ready, kind)}}}"
    command = image.ready_command(service.env, service.command or ())
    return f"checked with: {' '.join(command)}" if command else "no readiness check"


def _not_ready(running: RunningService, problem: str) -> RunError:
    tail = "\n".join("    " + line for line in running.logs(tail=LOG_TAIL).splitlines()[-LOG_TAIL:])
    return RunError(f"service {running.name} ({running.image.reference}) {problem}; its last log lines:\n{tail}",
                    hint="check the service's env and command against the official image's documentation; "
                         "a slow first start may need a longer `ready: {timeout: ...}`")


def _shell(argv: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(word) for word in argv)
