"""Start an environment's container and run commands in it; read facts about it from the inside."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from .build import Image, build
from .engine import Container, ContainerConfig, Engine, RunResult, get_engine
from .spec import EnvironmentSpec

DEFAULT_TIMEOUT_S = 300.0


class Box:
    """A started environment: run commands in it, copy files into it, read its facts."""

    def __init__(self, spec: EnvironmentSpec, image: Image, container: Container):
        self.spec, self.image, self.container = spec, image, container

    @property
    def id(self) -> str:
        return self.container.id

    def run(self, command: str, *, timeout: float = DEFAULT_TIMEOUT_S, user: str | None = None,
            env: dict[str, str] | None = None, workdir: str | None = None) -> RunResult:
        """Run a shell command in the workdir as the environment's user; killed after ``timeout`` seconds."""
        return self.container.exec(command, timeout=timeout, user=user, workdir=workdir or self.spec.workdir,
                                   env=env)

    def put_files(self, files: dict[str, str], *, folder: str | None = None) -> None:
        """Copy text files (relative path -> text) into ``folder`` (the workdir by default)."""
        if files:
            self.container.put_files(folder or self.spec.workdir, {k: v.encode() for k, v in files.items()},
                                     owner=self.spec.user)

    def facts(self) -> dict:
        """What the environment really is, read from inside in one exec (see FACTS_SCRIPT)."""
        result = self.container.exec(FACTS_SCRIPT, timeout=60, workdir="/")
        return parse_facts(result.stdout)


def container_config(spec: EnvironmentSpec, *, labels: dict[str, str] | None = None,
                     env: dict[str, str] | None = None) -> ContainerConfig:
    return ContainerConfig(memory=spec.limits.memory, cpus=spec.limits.cpus, pids=spec.limits.pids,
                           network=spec.network, env=dict(env or {}), labels=dict(labels or {}))


@contextmanager
def start(spec: EnvironmentSpec, *, engine: Engine | None = None, on_line: Callable[[str], None] | None = None,
          labels: dict[str, str] | None = None, env: dict[str, str] | None = None,
          image: Image | None = None) -> Iterator[Box]:
    """Build (if needed) and start ``spec``; the container is removed when the block ends, however it ends."""
    engine = engine or get_engine()
    image = image or build(spec, engine=engine, on_line=on_line)
    labels = {"reprokit.environment": spec.name[:200], **(labels or {})}
    with engine.start(image.tag, container_config(spec, labels=labels, env=env)) as container:
        yield Box(spec, image, container)


# One exec gathers every fact; each section is framed so a missing tool only empties its own section.
FACTS_SCRIPT = r"""
section() { printf '\n@@reprokit-fact %s\n' "$1"; }
section os_release; cat /etc/os-release 2>/dev/null
section kernel; uname -r
section arch; uname -m
section python; python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null
section pip_freeze; python3 -m pip freeze --all 2>/dev/null || python3 -m pip freeze 2>/dev/null
section dpkg; dpkg-query -W -f '${Package}=${Version}\n' 2>/dev/null
section env; env
section locale; locale 2>/dev/null | sed -n 's/^LANG=//p'
section timezone; date +'%Z %z'; readlink /etc/localtime 2>/dev/null
section user; id
section memory_limit; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null
section pids_limit; cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max 2>/dev/null
section cpu_limit; cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null)"
"""
IGNORED_ENV = {"HOSTNAME", "HOME", "SHLVL", "PWD", "_", "OLDPWD"}


def parse_facts(text: str) -> dict:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@reprokit-fact "):
            current = line.split(" ", 1)[1]
            sections[current] = []
        elif current is not None and line.strip():
            sections[current].append(line)
    one = {k: v[0] if v else "" for k, v in sections.items()}
    release = dict(line.split("=", 1) for line in sections.get("os_release", []) if "=" in line)
    cpu = one.get("cpu_limit", "").split()
    return {
        "os": release.get("PRETTY_NAME", "").strip('"'),
        "kernel": one.get("kernel", ""),
        "arch": one.get("arch", ""),
        "python": one.get("python", ""),
        "pip_freeze": dict(_split(line, "==") for line in sections.get("pip_freeze", []) if "==" in line),
        "debian_packages": dict(_split(line, "=") for line in sections.get("dpkg", [])),
        "env": {k: v for k, v in (_split(line, "=") for line in sections.get("env", []) if "=" in line)
                if k not in IGNORED_ENV},
        "locale": one.get("locale", ""),
        "timezone": " ".join(sections.get("timezone", [])),
        "user": one.get("user", ""),
        "memory_limit": _limit(one.get("memory_limit", "")),
        "pids_limit": one.get("pids_limit", ""),
        "cpu_limit": f"{int(cpu[0]) / int(cpu[1]):g}" if len(cpu) == 2 and cpu[0].lstrip("-").isdigit()
        and int(cpu[0]) > 0 else "max",
    }


def _split(line: str, sep: str) -> tuple[str, str]:
    key, _, value = line.partition(sep)
    return key, value


def _limit(value: str) -> str:
    return value if not value.isdigit() or int(value) < 1 << 60 else "max"
