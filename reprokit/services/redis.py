"""Redis: the official redis image's behaviour, rebuilt from Debian's redis-server."""
from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from . import debian
from .kind import Release, ServiceKind, StandIn

# Recorded with `apt-get update; apt-cache policy redis-server` in debian:<suite> on 2026-12-01.
RELEASES = (
    Release("bullseye", "6.0", "6.0.16", "redis-server", "5:6.0.16-1+deb11u9"),
    Release("bookworm", "7.0", "7.0.15", "redis-server", "5:7.0.15-1~deb12u10"),
    Release("trixie", "8.0", "8.0.2", "redis-server", "5:8.0.2-3+deb13u3"),
)

# The official image takes its settings from the command, not from variables.
ENV: dict[str, str] = {}


class Redis:
    """Redis 6.0/7.0/8.0 from bullseye/bookworm/trixie; protected mode off and every address, as official."""

    kind = ServiceKind.REDIS
    repository = "redis"
    title = "Redis"
    port = 6379
    releases = RELEASES
    env = ENV
    stand_ins = ()

    def series_length(self, version: str) -> int:
        return 2  # 6.0 and 6.2 differ in commands (6.2 added GETDEL, SET ... GET, ...): X.Y is the line

    def dockerfile(self, release: Release, *, image: str, stand_in: StandIn | None = None) -> str:
        built = f"{image} -> Debian {release.suite} {release.package} {release.series}"
        return "".join([
            debian.header(release.suite, provenance=built),
            # The official image's user ids.
            "RUN groupadd -r -g 999 redis && useradd -r -g redis -u 999 -d /var/lib/redis redis\n",
            debian.apt_install(
                "redis-server",
                after="mkdir -p /data /etc/reprokit; chown redis:redis /data; "
                      "printf 'protected-mode no\\n' > /etc/reprokit/redis-defaults.conf; "
                      "redis-server --version"),
            "WORKDIR /data\n",
            debian.entrypoint(cmd=["redis-server"], port=self.port),
            debian.labels(image=image, provenance=built),
        ])

    def context(self, release: Release) -> dict[str, bytes]:
        return {"docker-entrypoint.sh": debian.entrypoint_script("redis")}

    def env_problems(self, env: Mapping[str, str]) -> tuple[str, ...]:
        return ()

    def ready_command(self, env: Mapping[str, str], command: Sequence[str] = ()) -> list[str]:
        # PING answers PONG only once the data set is loaded (LOADING before); NOAUTH when a password is
        # set, so the password from the command goes along.
        return ["sh", "-c", f'test "$({_cli(command)} ping)" = PONG']

    def version_command(self, env: Mapping[str, str], command: Sequence[str] = ()) -> list[str]:
        return ["sh", "-c", f"{_cli(command)} INFO server | grep '^redis_version:' | tr -d '\\r'"]


def _cli(command: Sequence[str]) -> str:
    port, password = server_port_and_password(command)
    cli = shlex.join(["redis-cli", "-h", "127.0.0.1", "-p", str(port)])
    return f"REDISCLI_AUTH={shlex.quote(password)} {cli}" if password else cli


def server_port_and_password(command: Sequence[str]) -> tuple[int, str | None]:
    """The ``--port`` and ``--requirepass`` a redis-server command line sets (6379 and none otherwise)."""
    port, password = 6379, None
    for flag, value in zip(command, command[1:]):
        if flag == "--port" and value.isdigit():
            port = int(value)
        elif flag == "--requirepass":
            password = value
    return port, password


REDIS = Redis()
