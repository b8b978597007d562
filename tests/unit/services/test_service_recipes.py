"""Service recipes: image reference -> Debian suite and package, Dockerfile, commands; no Docker."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from reprokit.errors import InvalidValue, ReprokitError
from reprokit.contract.reference import parse_reference
from reprokit.services import KINDS, ServiceKind, available_images, get_kind, kind_for, recipe_for, version_in

AVAILABLE = ("postgres:13, postgres:15, postgres:17, mariadb:10.5, mariadb:10.11, mariadb:11.8, "
             "redis:6.0, redis:7.0, redis:8.0")


# --- references -------------------------------------------------------------------------------------------

def test_a_bare_name_means_latest_of_an_official_image():
    reference = parse_reference("postgres")
    assert (reference.repository, reference.tag, reference.version, reference.variant) == (
        "postgres", "latest", None, None)
    assert reference.official


def test_registry_and_library_namespace_are_read_off_a_full_reference():
    reference = parse_reference("docker.io/library/postgres:15")
    assert (reference.registry, reference.namespace, reference.repository, reference.version) == (
        "docker.io", ("library",), "postgres", "15")
    assert reference.official


def test_a_tag_splits_into_version_and_variant():
    reference = parse_reference("postgres:15.4-bookworm")
    assert (reference.version, reference.variant) == ("15.4", "bookworm")
    assert parse_reference("postgres:bookworm").variant == "bookworm"
    assert parse_reference("postgres:bookworm").version is None


def test_a_registry_port_is_not_mistaken_for_a_tag():
    reference = parse_reference("localhost:5000/postgres")
    assert (reference.registry, reference.repository, reference.tag) == ("localhost:5000", "postgres", "latest")


def test_a_digest_is_kept_apart_from_the_tag():
    reference = parse_reference("redis:7.0@sha256:" + "a" * 64)
    assert (reference.tag, reference.digest) == ("7.0", "sha256:" + "a" * 64)


def test_an_image_of_another_namespace_is_not_official():
    assert not parse_reference("bitnami/postgresql:15").official
    assert parse_reference("public.ecr.aws/docker/library/redis:7.0").official


@pytest.mark.parametrize("bad", ["", "Postgres:15", "postgres:15:x", "postgres:!"])
def test_a_malformed_reference_is_an_invalid_value_naming_it(bad):
    with pytest.raises(InvalidValue, match="image: "):
        parse_reference(bad)


# --- which suite ships which release ----------------------------------------------------------------------

@pytest.mark.parametrize("image, kind_, suite, package, series", [
    ("postgres:13", ServiceKind.POSTGRES, "bullseye", "postgresql-13", "13"),
    ("postgres:15", ServiceKind.POSTGRES, "bookworm", "postgresql-15", "15"),
    ("postgres:15.4", ServiceKind.POSTGRES, "bookworm", "postgresql-15", "15"),
    ("postgres:15-bookworm", ServiceKind.POSTGRES, "bookworm", "postgresql-15", "15"),
    ("postgres:17", ServiceKind.POSTGRES, "trixie", "postgresql-17", "17"),
    ("library/postgres:15", ServiceKind.POSTGRES, "bookworm", "postgresql-15", "15"),
    ("docker.io/library/postgres:15", ServiceKind.POSTGRES, "bookworm", "postgresql-15", "15"),
    ("mariadb:10.5", ServiceKind.MARIADB, "bullseye", "mariadb-server", "10.5"),
    ("mariadb:10.11", ServiceKind.MARIADB, "bookworm", "mariadb-server", "10.11"),
    ("mariadb:11", ServiceKind.MARIADB, "trixie", "mariadb-server", "11.8"),
    ("redis:6.0", ServiceKind.REDIS, "bullseye", "redis-server", "6.0"),
    ("redis:6", ServiceKind.REDIS, "bullseye", "redis-server", "6.0"),
    ("redis:7.0", ServiceKind.REDIS, "bookworm", "redis-server", "7.0"),
    ("redis:7", ServiceKind.REDIS, "bookworm", "redis-server", "7.0"),
    ("redis:8.0", ServiceKind.REDIS, "trixie", "redis-server", "8.0"),
])
def test_an_official_reference_maps_to_the_suite_that_ships_its_release(image, kind_, suite, package, series):
    recipe = recipe_for(image)
    assert (recipe.kind, recipe.suite, recipe.package, recipe.series) == (kind_, suite, package, series)
    assert recipe.image == image
    assert recipe.dockerfile.count(f"FROM debian:{suite}\n") == 1


def test_provenance_says_what_was_built_instead_of_what():
    assert recipe_for("postgres:15").provenance() == "postgres:15 -> built from Debian bookworm postgresql-15 15.20"


def test_provenance_uses_the_version_the_built_server_reported_when_given():
    assert recipe_for("redis:7.0").provenance("7.0.99").endswith("redis-server 7.0.99")


@pytest.mark.parametrize("output, version", [
    ("PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc", "15.20"),
    ("10.11.19-MariaDB-0+deb12u1", "10.11.19"),
    ("redis_version:7.0.15", "7.0.15"),
    ("no version here", None),
])
def test_the_version_is_read_off_a_version_commands_output(output, version):
    assert version_in(output) == version


def test_a_minor_version_debian_does_not_have_is_built_from_the_same_major_and_says_so():
    recipe = recipe_for("postgres:15.4")
    assert recipe.series == "15"
    assert "customer asked 15.4, Debian bookworm has 15.20" in recipe.provenance()


def test_the_version_debian_has_needs_no_note():
    assert recipe_for("postgres:15.20").notes == ()


def test_a_tag_naming_only_a_major_takes_the_newest_line_under_it_and_says_upstream_may_be_newer():
    recipe = recipe_for("redis:6")
    assert recipe.series == "6.0"
    assert "'6' follows the newest Redis 6.x release upstream" in recipe.provenance()
    assert recipe_for("mariadb:10").series == "10.11"


def test_latest_is_the_newest_release_here_and_says_so():
    recipe = recipe_for("postgres:latest")
    assert recipe.series == "17"
    assert "'latest' follows the newest PostgreSQL release upstream" in recipe.provenance()


def test_a_variant_built_on_another_distribution_is_noted():
    assert "not Debian" in recipe_for("postgres:15-alpine").provenance()


def test_a_debian_variant_whose_suite_lacks_the_release_says_where_it_was_built():
    recipe = recipe_for("postgres:13-bookworm")
    assert recipe.suite == "bullseye"
    assert "built on bullseye" in recipe.provenance()


@pytest.mark.parametrize("image, reason", [
    ("postgres:9.6", "no Debian suite ships PostgreSQL 9.6"),
    ("redis:5", "no Debian suite ships Redis 5"),
    ("mariadb:10.6", "no Debian suite ships MariaDB 10.6"),
    ("mongo:7", "reprokit has no Debian recipe for 'mongo'"),
    ("bitnami/postgresql:15", "'bitnami/postgresql' is not a Docker official image, the only images recipes "
                              "stand in for"),
])
def test_a_release_no_source_can_provide_is_an_error_listing_what_is_available(image, reason):
    with pytest.raises(InvalidValue) as raised:
        recipe_for(image)
    message = str(raised.value)
    assert message.startswith(f"{image}: no source can provide it (no registry answers, and {reason})")
    assert f"available here: {AVAILABLE}" in message
    assert isinstance(raised.value, ReprokitError) and isinstance(raised.value, ValueError)


def test_a_digest_alone_names_no_version():
    with pytest.raises(InvalidValue, match="a digest alone names no version"):
        recipe_for("postgres@sha256:" + "a" * 64)


def test_a_tag_with_a_digest_is_built_from_the_tag_and_says_the_digest_cannot_be_matched():
    assert "cannot be matched" in recipe_for("postgres:15@sha256:" + "a" * 64).provenance()


# --- mysql: only on request -------------------------------------------------------------------------------

def test_mysql_is_refused_without_opting_in_and_the_message_names_the_nearest_mariadb():
    with pytest.raises(InvalidValue) as raised:
        recipe_for("mysql:8.0")
    assert "Debian ships no MySQL server; the nearest here is MariaDB 10.11 (mariadb:10.11)" in str(raised.value)
    assert "stand_in: true" in raised.value.hint


@pytest.mark.parametrize("image, series", [("mysql:5.7", "10.5"), ("mysql:8.0", "10.11"), ("mysql:8.4", "11.8"),
                                           ("mysql:8", "11.8"), ("mysql:9", "11.8"), ("mysql", "11.8")])
def test_mysql_on_request_builds_the_nearest_mariadb_and_says_it_is_not_the_same_server(image, series):
    recipe = recipe_for(image, allow_mysql=True)
    assert (recipe.kind, recipe.series) == (ServiceKind.MARIADB, series)
    assert "not the same server" in recipe.provenance()


def test_the_mysql_stand_in_turns_unknown_server_options_into_warnings_and_plain_mariadb_does_not():
    assert "ENV REPROKIT_LOOSE_OPTIONS=1" in recipe_for("mysql:8.0", allow_mysql=True).dockerfile
    assert "REPROKIT_LOOSE_OPTIONS" not in recipe_for("mariadb:10.11").dockerfile


# --- the Dockerfile and its context -----------------------------------------------------------------------

@pytest.mark.parametrize("image", ["postgres:13", "mariadb:10.11", "redis:8.0"])
def test_the_dockerfile_installs_without_recommends_and_leaves_no_apt_lists_or_debs(image):
    recipe = recipe_for(image)
    assert "apt-get install -y --no-install-recommends" in recipe.dockerfile
    assert recipe.package in recipe.dockerfile
    assert "apt-get clean; rm -rf /var/lib/apt/lists/*" in recipe.dockerfile
    assert "/usr/sbin/policy-rc.d" in recipe.dockerfile  # no daemon started during the build


@pytest.mark.parametrize("image", ["postgres:15", "mariadb:10.5", "redis:6.0"])
def test_the_context_ships_the_posix_entry_point_the_dockerfile_copies(image):
    recipe = recipe_for(image)
    assert set(recipe.context) == {"docker-entrypoint.sh"}
    assert recipe.context["docker-entrypoint.sh"].startswith(b"#!/bin/sh\n")
    assert "COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" in recipe.dockerfile
    assert 'ENTRYPOINT ["docker-entrypoint.sh"]' in recipe.dockerfile


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh to parse the scripts")
@pytest.mark.parametrize("image", ["postgres:15", "mariadb:10.11", "redis:7.0"])
def test_every_entry_point_parses_as_posix_sh(image, tmp_path):
    script = tmp_path / "entrypoint.sh"
    script.write_bytes(recipe_for(image).context["docker-entrypoint.sh"])
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0


def test_each_kind_runs_the_official_default_command_and_port():
    assert 'CMD ["postgres"]' in recipe_for("postgres:17").dockerfile
    assert "STOPSIGNAL SIGINT" in recipe_for("postgres:17").dockerfile
    assert 'CMD ["mariadbd"]' in recipe_for("mariadb:11").dockerfile
    assert 'CMD ["redis-server"]' in recipe_for("redis:7").dockerfile
    assert [recipe_for(i).port for i in ("postgres:15", "mariadb:10.11", "redis:7.0")] == [5432, 3306, 6379]


def test_postgres_listens_on_every_address_and_initialises_in_en_us_utf8():
    dockerfile = recipe_for("postgres:15").dockerfile
    assert "listen_addresses = '*'" in dockerfile
    assert "ENV LANG=en_US.utf8" in dockerfile


def test_labels_come_last_so_every_tag_of_a_release_shares_the_package_layer():
    mariadb = recipe_for("mariadb:10.11").dockerfile
    mysql = recipe_for("mysql:8.0", allow_mysql=True).dockerfile
    body = mariadb.split("\n", 1)[1]  # the first line is a comment naming the image
    shared = body[:body.index("LABEL")]
    assert shared in mysql and mysql.index("apt-get install") < mysql.index("LABEL")
    assert "reprokit.session" not in mariadb  # containers inherit image labels; that one is per process


# --- ready, version, env ----------------------------------------------------------------------------------

ENV_PG = {"POSTGRES_PASSWORD": "s3cret", "POSTGRES_USER": "app", "POSTGRES_DB": "appdb"}
ENV_MARIADB = {"MARIADB_ROOT_PASSWORD": "s3cret", "MARIADB_USER": "app", "MARIADB_PASSWORD": "s3cret-too"}


def test_postgres_is_ready_when_pg_isready_answers_over_tcp_as_the_configured_user():
    recipe = recipe_for("postgres:15")
    assert recipe.ready_command(ENV_PG) == ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432", "-U", "app",
                                            "-d", "appdb"]
    assert recipe.ready_command({})[-4:] == ["-U", "postgres", "-d", "postgres"]


def test_postgres_ready_command_follows_a_port_set_in_the_command():
    recipe = recipe_for("postgres:15")
    assert "5433" in recipe.ready_command(ENV_PG, ["postgres", "-c", "port=5433"])
    assert "5434" in recipe.ready_command(ENV_PG, ["postgres", "-p", "5434"])


def test_postgres_version_command_selects_version_without_putting_the_password_in_argv():
    argv = recipe_for("postgres:15").version_command(ENV_PG)
    assert argv[:2] == ["sh", "-c"] and "SELECT version()" in argv[2] and "-U app -d appdb" in argv[2]
    assert "s3cret" not in " ".join(argv) and 'PGPASSWORD="${POSTGRES_PASSWORD:-}"' in argv[2]


def test_mariadb_is_ready_when_mariadb_admin_or_mysqladmin_pings_over_tcp():
    argv = recipe_for("mariadb:10.11").ready_command(ENV_MARIADB)
    assert argv[:2] == ["sh", "-c"]
    assert "command -v mariadb-admin || command -v mysqladmin" in argv[2]
    assert "ping --protocol=tcp -h 127.0.0.1 -P 3306" in argv[2] and "-u root" in argv[2]
    assert "s3cret" not in argv[2]


def test_mariadb_logs_in_as_the_user_when_root_has_a_random_password():
    env = {"MARIADB_RANDOM_ROOT_PASSWORD": "1", "MYSQL_USER": "app", "MYSQL_PASSWORD": "x"}
    argv = recipe_for("mariadb:10.5").version_command(env)
    assert "-u app" in argv[2] and "SELECT VERSION()" in argv[2] and "MARIADB_PASSWORD" in argv[2]


def test_redis_is_ready_when_ping_says_pong_even_with_a_password_and_port_in_the_command():
    recipe = recipe_for("redis:7.0")
    assert recipe.ready_command({}) == ["sh", "-c", 'test "$(redis-cli -h 127.0.0.1 -p 6379 ping)" = PONG']
    with_password = recipe.ready_command({}, ["redis-server", "--requirepass", "pw", "--port", "6380"])[2]
    assert "$(REDISCLI_AUTH=pw redis-cli -h 127.0.0.1 -p 6380 ping)" in with_password


def test_redis_version_command_reads_info_server_from_the_running_server():
    assert "INFO server | grep '^redis_version:'" in recipe_for("redis:6.0").version_command({})[2]


def test_postgres_without_a_password_or_trust_is_a_problem_before_anything_starts():
    recipe = recipe_for("postgres:15")
    assert "POSTGRES_PASSWORD is not set" in recipe.env_problems({})[0]
    assert recipe.env_problems({"POSTGRES_HOST_AUTH_METHOD": "trust"}) == ()
    assert recipe.env_problems(ENV_PG) == ()


def test_mariadb_refuses_a_missing_root_password_option_and_variables_it_does_not_implement():
    recipe = recipe_for("mariadb:10.11")
    assert "no root password option is set" in recipe.env_problems({})[0]
    assert recipe.env_problems({"MYSQL_ALLOW_EMPTY_PASSWORD": "yes"}) == ()
    problems = recipe.env_problems({**ENV_MARIADB, "MARIADB_REPLICATION_USER": "repl"})
    assert problems == ("MARIADB_REPLICATION_USER is not implemented by reprokit's Debian-built MariaDB; remove "
                        "it, or make the official image available (docker load, or a registry mirror)",)


# --- the registry -----------------------------------------------------------------------------------------

def test_kind_for_recognises_official_images_and_the_mysql_stand_in_only():
    assert kind_for("postgres:15") == (get_kind(ServiceKind.POSTGRES), None)
    found = kind_for("mysql:8.0")
    assert found is not None and found[0] is get_kind(ServiceKind.MARIADB) and found[1].repository == "mysql"
    assert kind_for("bitnami/postgresql:15") is None
    assert kind_for("mongo:7") is None


def test_available_images_list_every_release_oldest_first_per_kind():
    assert ", ".join(available_images()) == AVAILABLE


def test_every_kind_is_registered_once_with_one_release_per_suite_oldest_first():
    assert sorted(k.kind.value for k in KINDS) == sorted(member.value for member in ServiceKind)
    for registered in KINDS:
        assert [r.suite for r in registered.releases] == ["bullseye", "bookworm", "trixie"]
        assert all(r.debian_version.split(":")[-1].startswith(r.version) for r in registered.releases)


def test_every_service_kind_describes_itself():
    descriptions = [member.describe() for member in ServiceKind]
    assert all(descriptions) and len(set(descriptions)) == len(descriptions)
