"""MariaDB: the official mariadb image's behaviour, rebuilt from Debian's mariadb-server (and mysql, on request)."""
from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from . import debian
from .kind import Release, ServiceKind, StandIn

# Recorded with `apt-get update; apt-cache policy mariadb-server` in debian:<suite> on 2026-12-01.
RELEASES = (
    Release("bullseye", "10.5", "10.5.29", "mariadb-server", "1:10.5.29-0+deb11u1"),
    Release("bookworm", "10.11", "10.11.19", "mariadb-server", "1:10.11.19-0+deb12u1"),
    Release("trixie", "11.8", "11.8.9", "mariadb-server", "1:11.8.9+ds-0+deb13u1"),
)

ENV = {
    "MARIADB_ROOT_PASSWORD": "root's password (also MYSQL_ROOT_PASSWORD)",
    "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD": "any value: root has no password (also MYSQL_ALLOW_EMPTY_PASSWORD)",
    "MARIADB_RANDOM_ROOT_PASSWORD": "any value: a random root password, printed in the log "
                                    "(also MYSQL_RANDOM_ROOT_PASSWORD)",
    "MARIADB_ROOT_HOST": "the host root may connect from besides localhost (default: %)",
    "MARIADB_DATABASE": "a database created at first start (also MYSQL_DATABASE)",
    "MARIADB_USER": "a user created at first start, granted all on MARIADB_DATABASE (also MYSQL_USER)",
    "MARIADB_PASSWORD": "MARIADB_USER's password (also MYSQL_PASSWORD)",
    "MARIADB_INITDB_SKIP_TZINFO": "any value: do not load the time zone tables (also MYSQL_INITDB_SKIP_TZINFO)",
}
# Official-image variables this recipe does not implement; a service that sets one is refused, not ignored.
UNSUPPORTED_ENV = ("MARIADB_ROOT_PASSWORD_HASH", "MARIADB_PASSWORD_HASH", "MARIADB_REPLICATION_USER",
                   "MARIADB_REPLICATION_PASSWORD", "MARIADB_REPLICATION_PASSWORD_HASH", "MARIADB_MASTER_HOST",
                   "MARIADB_MASTER_PORT", "MARIADB_MYSQL_LOCALHOST_USER", "MARIADB_MYSQL_LOCALHOST_GRANTS",
                   "MARIADB_HEALTHCHECK_GRANTS", "MYSQL_ONETIME_PASSWORD")
ROOT_PASSWORD_OPTIONS = ("MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD", "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD",
                         "MYSQL_ALLOW_EMPTY_PASSWORD", "MARIADB_RANDOM_ROOT_PASSWORD", "MYSQL_RANDOM_ROOT_PASSWORD",
                         "MARIADB_ROOT_PASSWORD_FILE", "MYSQL_ROOT_PASSWORD_FILE")


def nearest_to_mysql(version: str | None) -> str:
    """The MariaDB series closest to a MySQL version: 5.x -> 10.5, 8.0 -> 10.11, 8.4 and later -> 11.8.

    By age and by the SQL a MySQL user of that version writes (window functions, CTEs, JSON functions);
    none of them is MySQL. A bare "8", like "latest", follows MySQL's newest line (8.4 LTS, then 9.x).
    """
    parts = tuple(int(p) for p in version.split(".")) if version else (99,)
    if parts[0] < 8:
        return "10.5"
    if parts[:2] == (8, 0):
        return "10.11"
    return "11.8"


MYSQL = StandIn(
    repository="mysql", title="MySQL", series_for=nearest_to_mysql,
    caveat="MariaDB stands in for MySQL and is not the same server: authentication plugins, JSON storage, "
           "optimizer and many SQL details differ; MySQL-only server options are ignored with a warning")


class MariaDB:
    """MariaDB 10.5/10.11/11.8 from bullseye/bookworm/trixie; listens on every address at 3306."""

    kind = ServiceKind.MARIADB
    repository = "mariadb"
    title = "MariaDB"
    port = 3306
    releases = RELEASES
    env = ENV
    stand_ins = (MYSQL,)

    def series_length(self, version: str) -> int:
        return 2  # every X.Y is its own release line (10.6, 10.11 and 11.4 are different servers)

    def dockerfile(self, release: Release, *, image: str, stand_in: StandIn | None = None) -> str:
        built = f"{image} -> Debian {release.suite} {release.package} {release.series}"
        # mariadbd fails on an option it does not know; a MySQL command line often has some
        # (--default-authentication-plugin=...). The entry point prefixes them with --loose-.
        loose = "ENV REPROKIT_LOOSE_OPTIONS=1\n" if stand_in else ""
        return "".join([
            debian.header(release.suite, provenance=built),
            "RUN groupadd -r mysql && useradd -r -g mysql mysql\n",
            "ENV LANG=C.UTF-8\n",
            debian.apt_install(
                "mariadb-server", "tzdata",
                # The postinst made a database for the package's own service; the entry point makes one at
                # first start, with the image's variables. The official image's config tweaks: no
                # bind-address (listen on every address), no log file (log to stderr), no user line, no
                # reverse lookups of client hosts (they are other containers).
                after="rm -rf /var/lib/mysql; mkdir -p /var/lib/mysql /run/mysqld; "
                      "chown -R mysql:mysql /var/lib/mysql /run/mysqld; chmod 777 /run/mysqld; "
                      "find /etc/mysql/ -name '*.cnf' -print0 | xargs -0 grep -lZE '^(bind-address|log|user\\s)' "
                      "| xargs -r -0 sed -Ei 's/^(bind-address|log|user\\s)/#&/'; "
                      "printf '[mariadb]\\nhost-cache-size=0\\nskip-name-resolve\\n' "
                      "> /etc/mysql/mariadb.conf.d/05-skipcache.cnf; "
                      "mkdir /docker-entrypoint-initdb.d; "
                      "mariadbd --version"),
            debian.entrypoint(cmd=["mariadbd"], port=self.port),
            loose,
            debian.labels(image=image, provenance=built),
        ])

    def context(self, release: Release) -> dict[str, bytes]:
        return {"docker-entrypoint.sh": debian.entrypoint_script("mariadb")}

    def env_problems(self, env: Mapping[str, str]) -> tuple[str, ...]:
        problems = []
        if not any(env.get(name) for name in ROOT_PASSWORD_OPTIONS):
            problems.append("no root password option is set: the mariadb image refuses to initialise; set "
                            "MARIADB_ROOT_PASSWORD (or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD or "
                            "MARIADB_RANDOM_ROOT_PASSWORD, or their MYSQL_ names)")
        problems += [f"{name} is not implemented by reprokit's Debian-built MariaDB; remove it, or make the "
                     "official image available (docker load, or a registry mirror)"
                     for name in UNSUPPORTED_ENV if env.get(name)]
        return tuple(problems)

    def ready_command(self, env: Mapping[str, str], command: Sequence[str] = ()) -> list[str]:
        # `ping` exits 0 as soon as the server answers, even with "Access denied"; over TCP, because during
        # first-start initialisation the temporary server has no network. mariadb-admin since 10.4,
        # mysqladmin before it and in mysql images.
        user, password = _login(env)
        ping = shlex.join(["ping", "--protocol=tcp", "-h", "127.0.0.1", "-P", str(server_port(command)),
                           "--connect-timeout=2", "--silent", "-u", user])
        return ["sh", "-c", f'MYSQL_PWD="{password}" exec "$(command -v mariadb-admin || command -v mysqladmin)" '
                            + ping]

    def version_command(self, env: Mapping[str, str], command: Sequence[str] = ()) -> list[str]:
        user, password = _login(env)
        query = shlex.join(["--protocol=tcp", "-h", "127.0.0.1", "-P", str(server_port(command)), "-u", user,
                            "-N", "-B", "-e", "SELECT VERSION()"])
        return ["sh", "-c", f'MYSQL_PWD="{password}" exec "$(command -v mariadb || command -v mysql)" ' + query]


def _login(env: Mapping[str, str]) -> tuple[str, str]:
    """A user that can log in, and a shell expression for its password read from the container's env."""
    if any(env.get(name) for name in ROOT_PASSWORD_OPTIONS[:4]) or not (env.get("MARIADB_USER")
                                                                      or env.get("MYSQL_USER")):
        return "root", "${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}"
    return env.get("MARIADB_USER") or env["MYSQL_USER"], "${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}"


def server_port(command: Sequence[str]) -> int:
    """The port a mariadbd command line sets with ``--port=N`` or ``-P N``; 3306 otherwise."""
    port = 3306
    for index, word in enumerate(command):
        value = None
        if word.startswith("--port="):
            value = word.split("=", 1)[1]
        elif word in ("--port", "-P") and index + 1 < len(command):
            value = command[index + 1]
        if value and value.isdigit():
            port = int(value)
    return port


MARIADB = MariaDB()
