"""PostgreSQL: the official postgres image's behaviour, rebuilt from Debian's postgresql-NN packages."""
from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from . import debian
from .kind import Release, ServiceKind, StandIn

# Recorded with `apt-get update; apt-cache policy postgresql-NN` in debian:<suite> on 2026-12-01.
# The build takes whatever the suite has on the day; the recipe reports the version it observes.
RELEASES = (
    Release("bullseye", "13", "13.23", "postgresql-13", "13.23-0+deb11u4"),
    Release("bookworm", "15", "15.20", "postgresql-15", "15.20-0+deb12u1"),
    Release("trixie", "17", "17.12", "postgresql-17", "17.12-0+deb13u1"),
)

ENV = {
    "POSTGRES_PASSWORD": "the superuser's password; required unless POSTGRES_HOST_AUTH_METHOD=trust",
    "POSTGRES_USER": "the superuser created at first start (default: postgres)",
    "POSTGRES_DB": "the database created at first start (default: the value of POSTGRES_USER)",
    "POSTGRES_HOST_AUTH_METHOD": "the pg_hba method for connections from other hosts "
                                 "(default: md5 on 13, scram-sha-256 on 14 and later)",
    "POSTGRES_INITDB_ARGS": "extra arguments to initdb, e.g. '--data-checksums'",
    "POSTGRES_INITDB_WALDIR": "where initdb puts the write-ahead log",
    "PGDATA": "the data directory (default: /var/lib/postgresql/data)",
}
TEMPLATE = "/var/lib/reprokit/postgres-template"  # the entry point's TEMPLATE


class Postgres:
    """PostgreSQL 13/15/17 from bullseye/bookworm/trixie; listens on 0.0.0.0:5432 like the official image."""

    kind = ServiceKind.POSTGRES
    repository = "postgres"
    title = "PostgreSQL"
    port = 5432
    releases = RELEASES
    env = ENV
    stand_ins = ()

    def series_length(self, version: str) -> int:
        # Since PostgreSQL 10 the first number is the major version; before it, the first two were.
        return 1 if int(version.split(".")[0]) >= 10 else 2

    def dockerfile(self, release: Release, *, image: str, stand_in: StandIn | None = None) -> str:
        major = release.series
        sample = f"/usr/share/postgresql/{major}/postgresql.conf.sample"
        built = f"{image} -> Debian {release.suite} {release.package}"
        return "".join([
            debian.header(release.suite, provenance=built),
            # The official image's user ids, so a data directory moves between the two.
            "RUN set -eux; groupadd -r postgres --gid=999; \\\n"
            "    useradd -r -g postgres --uid=999 --home-dir=/var/lib/postgresql --shell=/bin/bash postgres; \\\n"
            "    install -d -o postgres -g postgres -m 1777 /var/lib/postgresql\n",
            # initdb takes the cluster's encoding and collation from LANG: en_US.utf8, as in the official
            # image, not C/SQL_ASCII (sort order and upper()/lower() differ between them).
            f"ENV LANG=en_US.utf8 PG_MAJOR={major} PGDATA=/var/lib/postgresql/data\n",
            f"ENV PATH=$PATH:/usr/lib/postgresql/{major}/bin\n",
            debian.apt_install(
                "locales", release.package,
                # postgresql-common's postinst would create and start a 'main' cluster nobody uses.
                before="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
                       "postgresql-common; "
                       "sed -ri 's/#(create_main_cluster) .*$/\\1 = false/' "
                       "/etc/postgresql-common/createcluster.conf",
                after="echo 'en_US.UTF-8 UTF-8' >> /etc/locale.gen; locale-gen; "
                      # listen on every address, as the official image's postgresql.conf.sample says
                      f"sed -ri \"s!^#?(listen_addresses)\\s*=\\s*\\S+.*!\\1 = '*'!\" {sample}; "
                      f"grep -F \"listen_addresses = '*'\" {sample}; "
                      "install -d -o postgres -g postgres -m 3777 /var/run/postgresql; "
                      "install -d -o postgres -g postgres -m 1777 \"$PGDATA\"; "
                      "mkdir /docker-entrypoint-initdb.d; "
                      "postgres --version"),
            # A cluster initdb'd now, copied at first start when nothing initdb reads differs (see the entry
            # point): ~40 MB here, several seconds less at every service start.
            "RUN set -eux; install -d -o postgres -g postgres -m 700 /var/lib/reprokit; \\\n"
            f"    setpriv --reuid=postgres --regid=postgres --init-groups initdb --username=postgres --no-sync "
            f"-D {TEMPLATE}; \\\n"
            "    echo 'CREATE ROLE reprokit_init SUPERUSER LOGIN;' | setpriv --reuid=postgres --regid=postgres "
            f"--init-groups postgres --single -D {TEMPLATE} postgres; \\\n"
            f"    echo \"LANG=$LANG\" > {TEMPLATE}.env\n",
            # SIGINT is PostgreSQL's fast shutdown, the official image's STOPSIGNAL.
            debian.entrypoint(cmd=["postgres"], port=self.port, stopsignal="SIGINT"),
            debian.labels(image=image, provenance=built),
        ])

    def context(self, release: Release) -> dict[str, bytes]:
        return {"docker-entrypoint.sh": debian.entrypoint_script("postgres")}

    def env_problems(self, env: Mapping[str, str]) -> tuple[str, ...]:
        password = env.get("POSTGRES_PASSWORD") or env.get("POSTGRES_PASSWORD_FILE")
        if not password and env.get("POSTGRES_HOST_AUTH_METHOD") != "trust":
            return ("POSTGRES_PASSWORD is not set: the postgres image refuses to initialise without it; set it, "
                    "or set POSTGRES_HOST_AUTH_METHOD: trust to allow connections without a password",)
        return ()

    def ready_command(self, env: Mapping[str, str], command: Sequence[str] = ()) -> list[str]:
        # TCP on 127.0.0.1: during first-start initialisation the entry point's temporary server listens on
        # the socket only, so this answers once the real server is up, as for the official image.
        user, database = _user_and_database(env)
        return ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(server_port(command)), "-U", user, "-d", database]

    def version_command(self, env: Mapping[str, str], command: Sequence[str] = ()) -> list[str]:
        user, database = _user_and_database(env)
        # The password comes from the container's own environment, so it never appears in an argv here.
        psql = shlex.join(["psql", "-X", "-A", "-t", "-p", str(server_port(command)), "-U", user, "-d", database,
                           "-c", "SELECT version()"])
        return ["sh", "-c", f'PGPASSWORD="${{POSTGRES_PASSWORD:-}}" exec {psql}']


def _user_and_database(env: Mapping[str, str]) -> tuple[str, str]:
    user = env.get("POSTGRES_USER") or "postgres"
    return user, env.get("POSTGRES_DB") or user


def server_port(command: Sequence[str]) -> int:
    """The port a ``postgres`` command line sets with ``-p N`` or ``-c port=N``; 5432 otherwise."""
    port = 5432
    for flag, value in zip(command, command[1:]):
        if flag == "-p" and value.isdigit():
            port = int(value)
        elif flag == "-c" and value.replace(" ", "").startswith("port=") and value.split("=", 1)[1].strip().isdigit():
            port = int(value.split("=", 1)[1])
    return port


POSTGRES = Postgres()
