"""A ContainerConfig as `docker run` options, for the plain-docker recipes in reports (no reprokit needed)."""
from __future__ import annotations

import shlex

from reprokit.engine.protocol import ContainerConfig


def docker_run_options(config: ContainerConfig) -> list[str]:
    """The `docker run` flags that give a container what ``config`` gives it (env and labels aside)."""
    quote = shlex.quote
    options = [f"--network {config.network}"]
    options += [f"--memory {config.memory}"] if config.memory else []
    options += [f"--cpus {config.cpus:g}"] if config.cpus else []
    options += [f"--pids-limit {config.pids}"] if config.pids else []
    options += [f"--ulimit nofile={config.nofile}:{config.nofile}"] if config.nofile else []
    options += [f"--shm-size {config.shm}"] if config.shm else []
    options += ["--read-only"] if config.read_only else []
    options += [f"--tmpfs {quote(f'{path}:size={size},exec')}" for path, size in config.tmpfs.items()]
    options += [f"--mount type=volume,target={quote(path)}" for path in config.writable] if config.read_only else []
    options += [f"--hostname {quote(config.hostname)}"] if config.hostname else []
    options += [f"--add-host {quote(f'{name}:{address}')}" for name, address in config.hosts.items()]
    options += [f"--platform {config.platform}"] if config.platform else []
    return options
