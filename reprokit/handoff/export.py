"""Open the customer's machine where engineers work: an environment as a `.devcontainer/` folder (VS Code, the
devcontainer CLI, Codespaces) or as a Compose file, written from the same renderer and settings as reprokit's runs.

The Dockerfile and its build context are `render_for_build`'s, byte for byte: building the folder gives the image
reprokit builds (on one engine, its build cache makes them the same layers). How containers run (limits,
read-only root, tmpfs, hostname, hosts, platform) comes from `container_config`; services become Compose services
on the project's network, their names (and the `hosts:` names pointing at them) as network aliases, with a
healthcheck where reprokit knows how a service says it is ready. What applies per step only (umask, clock) is
written to `step-prelude.sh`, to source in a terminal."""
from __future__ import annotations

import json
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

from reprokit.contract.models import EnvironmentSpec
from reprokit.engine.options import docker_run_options
from reprokit.engine.protocol import ContainerConfig
from reprokit.errors import InvalidValue

APP = "app"  # the Compose service of the environment itself
COMPOSE_FILE = "compose.yaml"
PRELUDE_FILE = "step-prelude.sh"


def compose_document(spec: EnvironmentSpec, config: ContainerConfig, *, app: dict[str, Any],
                     service_images: dict[str, str], ready: dict[str, str],
                     service_files: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The Compose file of ``spec``: ``app`` says how the environment's image is had (``{"build": ...}`` or
    ``{"image": tag}``); ``service_images`` the image each service runs; ``ready`` a readiness shell command per
    service (a healthcheck, and the app waits for it); ``service_files`` per service, its files' path in the
    container -> the file next to the Compose file that is mounted there."""
    services: dict[str, Any] = {APP: {**app, **_app_settings(spec, config),
                                      **({"depends_on": _depends_on(spec, ready)} if spec.services else {})}}
    for name, service in spec.services.items():
        aliases = [name, *(host for host, address in spec.hosts.items() if address == name)]
        entry: dict[str, Any] = {"image": service_images[name], "environment": dict(service.env),
                                 "networks": {"default": {"aliases": aliases}}}
        if service.command is not None:
            entry["command"] = list(service.command)
        if service_files.get(name):
            entry["volumes"] = [f"{source}:{target}:ro" for target, source in service_files[name].items()]
        if ready.get(name):
            entry["healthcheck"] = {"test": ["CMD-SHELL", ready[name]], "interval": "2s", "timeout": "30s",
                                    "retries": max(1, int((service.ready.timeout if service.ready else 60) / 2))}
        services[name] = entry
    # No top-level `name`: docker-compose 1.x (Debian's) refuses it; the folder names the project.
    return {"services": services}


def devcontainer_document(spec: EnvironmentSpec, config: ContainerConfig) -> dict[str, Any]:
    """devcontainer.json: the Dockerfile next to it, run as reprokit runs it; with services, the Compose file's
    ``app`` service instead (limits then live in the Compose file)."""
    document: dict[str, Any] = {"name": f"reprokit: {spec.name}"}
    if spec.description:
        document["name"] += f" ({spec.description})"[:120]
    if spec.services:
        document.update(dockerComposeFile=COMPOSE_FILE, service=APP, runServices=[APP, *spec.services],
                        workspaceFolder=spec.workdir, shutdownAction="stopCompose", overrideCommand=True)
    else:
        document.update(build={"dockerfile": "Dockerfile", "context": "."}, runArgs=_run_args(config),
                        workspaceFolder=spec.workdir, overrideCommand=True, init=True)
    if spec.user:
        document["containerUser"] = spec.user
    return document


def write_devcontainer(spec: EnvironmentSpec, folder: Path, *, service_images: dict[str, str],
                       ready: dict[str, str], dockerfile: str, context: dict[str, bytes],
                       config: ContainerConfig) -> list[Path]:
    """Write ``folder`` (a `.devcontainer/`): devcontainer.json, the Dockerfile and its build context, the Compose
    file when there are services, the step prelude when there is one. Returns the files written."""
    written = [_write(folder / "Dockerfile", dockerfile.encode())]
    written += [_write(folder / name, data) for name, data in sorted(context.items())]
    if spec.services:
        files = _write_service_files(spec, folder, written)
        document = compose_document(spec, config, app={"build": {"context": ".", "dockerfile": "Dockerfile"}},
                                     service_images=service_images, ready=ready, service_files=files)
        written.append(_write(folder / COMPOSE_FILE, dump_compose(document).encode()))
    written.append(_write(folder / "devcontainer.json",
                          (json.dumps(devcontainer_document(spec, config), indent=2) + "\n").encode()))
    prelude = step_prelude_text(spec)
    if prelude:
        written.append(_write(folder / PRELUDE_FILE, prelude.encode()))
    return written


def write_compose(spec: EnvironmentSpec, path: Path, *, image: str, service_images: dict[str, str],
                  ready: dict[str, str], config: ContainerConfig) -> list[Path]:
    """Write a Compose file running reprokit's image of the environment (``image``) with its services; service
    files go next to it, under `<stem>-files/`. Returns the files written."""
    written: list[Path] = []
    files = _write_service_files(spec, path.parent, written, under=f"{path.stem}-files")
    document = compose_document(spec, config, app={"image": image}, service_images=service_images, ready=ready,
                                service_files=files)
    written.append(_write(path, dump_compose(document).encode()))
    return written


def dump_compose(document: dict[str, Any]) -> str:
    from reprokit.contract.load import dump_yaml

    return "# Written by `reprokit env export`; the same environment reprokit runs.\n" + dump_yaml(document)


def step_prelude_text(spec: EnvironmentSpec) -> str:
    """The shell lines reprokit runs before every step (umask, faked clock), to source in a terminal."""
    from reprokit.aspects.registry import ASPECTS

    lines = [line for aspect in ASPECTS for line in [aspect.step_prelude(spec)] if line]
    if not lines:
        return ""
    return ("# What reprokit applies to every step's shell only (no container setting exists for it):\n"
            f"# source this file in a terminal of the container to see the machine as the steps of {spec.name} do.\n"
            + "\n".join(lines) + "\n")


def _app_settings(spec: EnvironmentSpec, config: ContainerConfig) -> dict[str, Any]:
    """Compose keys for how reprokit creates the environment's container."""
    settings: dict[str, Any] = {"command": ["sleep", "infinity"], "init": True, "working_dir": spec.workdir}
    if spec.user:
        settings["user"] = spec.user
    if config.memory:
        settings.update(mem_limit=config.memory, memswap_limit=config.memory)
    if config.cpus:
        settings["cpus"] = config.cpus
    if config.pids:
        settings["pids_limit"] = config.pids
    if config.nofile:
        settings["ulimits"] = {"nofile": {"soft": config.nofile, "hard": config.nofile}}
    if config.shm:
        settings["shm_size"] = config.shm
    if config.read_only:
        settings["read_only"] = True
        settings["volumes"] = list(config.writable)  # anonymous volumes, as reprokit gives them
    if config.tmpfs:
        settings["tmpfs"] = [f"{path}:size={size},exec" for path, size in config.tmpfs.items()]
    if config.hostname:
        settings["hostname"] = config.hostname
    if config.hosts:
        settings["extra_hosts"] = [f"{name}:{address}" for name, address in config.hosts.items()]
    if config.platform:
        settings["platform"] = config.platform
    if config.network == "none":
        settings["network_mode"] = "none"
    return settings


def _depends_on(spec: EnvironmentSpec, ready: dict[str, str]) -> dict[str, Any]:
    return {name: {"condition": "service_healthy" if ready.get(name) else "service_started"}
            for name in spec.services}


def _run_args(config: ContainerConfig) -> list[str]:
    return [word for option in docker_run_options(config) for word in shlex.split(option)]


def _write_service_files(spec: EnvironmentSpec, folder: Path, written: list[Path], *,
                         under: str = "services") -> dict[str, dict[str, str]]:
    """Each service's files under ``folder/under/<service>/<its path>``; path in the container -> the relative
    source Compose mounts (read-only)."""
    mounts: dict[str, dict[str, str]] = {}
    for name, service in spec.services.items():
        for target, text in service.files.items():
            relative = PurePosixPath(under, name, *PurePosixPath(target).parts[1:])
            if ".." in relative.parts:
                raise InvalidValue(f"services.{name}.files: {target!r} leaves the service's filesystem",
                                   hint="use an absolute path without '..'")
            written.append(_write(folder / relative, text.encode()))
            mounts.setdefault(name, {})[target] = f"./{relative}"
    return mounts


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def ready_commands(spec: EnvironmentSpec, images: dict) -> dict[str, str]:
    """Per service, the shell command that says it is ready, as reprokit checks it (a declared `ready: {run}` or
    `{port}`, else what its kind knows); none for `ready: {log}`, which Compose cannot check."""
    from reprokit.services.lifecycle import _listening, _shell

    found = {}
    for name, service in spec.services.items():
        ready = service.ready
        if ready is not None and ready.run is not None:
            found[name] = ready.run
        elif ready is not None and ready.port is not None:
            found[name] = _listening(ready.port)
        elif ready is None and images[name].ready_command(service.env, service.command or ()):
            found[name] = _shell(images[name].ready_command(service.env, service.command or ()))
    return found


def export(spec: EnvironmentSpec, *, devcontainer: Path | None = None, compose: Path | None = None,
           engine=None, on_line=None) -> list[Path]:
    """Write ``spec`` as a `.devcontainer/` folder and/or a Compose file. The services' images are had as a run
    has them (present, pulled, or built from Debian's packages); `--compose` also builds the environment's image,
    which its file runs by tag."""
    from reprokit.engine import get_engine
    from reprokit.image.build import build
    from reprokit.image.render import render_for_build
    from reprokit.run.box import container_config
    from reprokit.services.images import service_image

    engine = engine or get_engine()
    images = {name: service_image(service.image, engine=engine, on_line=on_line, allow_mysql=service.stand_in)
              for name, service in spec.services.items()}
    tags, ready, config = {name: image.tag for name, image in images.items()}, ready_commands(spec, images), \
        container_config(spec)
    written, rendering = [], None
    if devcontainer is not None:
        rendering = render_for_build(spec)
        written += write_devcontainer(spec, devcontainer, service_images=tags, ready=ready,
                                      dockerfile=rendering.dockerfile, context=rendering.context, config=config)
    if compose is not None:
        image = build(spec, rendering or render_for_build(spec), engine=engine, on_line=on_line)
        written += write_compose(spec, compose, image=image.tag, service_images=tags, ready=ready, config=config)
    return written
