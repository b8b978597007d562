"""handoff/export.py: the .devcontainer/ folder and the Compose file an environment is exported as (no engine)."""
from __future__ import annotations

import json

import pytest
from ruamel.yaml import YAML

from reprokit.contract.load import load_environment
from reprokit.handoff import export
from reprokit.run.box import container_config

APP_ENV = """\
os: debian:bookworm
user: "1000:1000"
workdir: /srv/app
limits: {memory: 512m, nofile: 1024, shm: 64m}
read_only: true
tmpfs: {/tmp: 16m}
hostname: acme-app01
umask: "0077"
clock: "+400d"
hosts: {billing.acme.internal: db, legacy.acme.internal: 10.1.2.3}
services:
  db:
    image: "postgres:15"
    env: {POSTGRES_PASSWORD: example}
    command: [postgres, -c, max_connections=20]
    files: {/docker-entrypoint-initdb.d/seed.sql: "create table t (id int);\\n"}
  cache:
    image: "redis:7.0"
    ready: {log: "Ready to accept"}
"""


@pytest.fixture
def spec(tmp_path):
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "acme.yaml").write_text(APP_ENV)
    (tmp_path / "environments" / "plain.yaml").write_text("os: debian:bookworm\nlimits: {memory: 1g}\n")
    return load_environment("acme", root=tmp_path)


def write(spec, folder):
    return export.write_devcontainer(spec, folder, service_images={"db": "postgres:15", "cache": "redis:7.0"},
                                     ready={"db": "pg_isready -q"}, dockerfile="FROM debian:bookworm\n",
                                     context={"rootfs/etc/a.ini": b"x=1\n"}, config=container_config(spec))


def test_services_make_a_compose_devcontainer_whose_app_runs_as_reprokit_runs_it(spec, tmp_path):
    write(spec, tmp_path)
    document = json.loads((tmp_path / "devcontainer.json").read_text())
    assert document["dockerComposeFile"] == "compose.yaml" and document["service"] == "app"
    assert document["runServices"] == ["app", "db", "cache"] and document["workspaceFolder"] == "/srv/app"
    assert document["containerUser"] == "1000:1000"
    app = YAML(typ="safe").load((tmp_path / "compose.yaml").read_text())["services"]["app"]
    assert app["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert app["mem_limit"] == app["memswap_limit"] == "512m" and app["shm_size"] == "64m"
    assert app["ulimits"] == {"nofile": {"soft": 1024, "hard": 1024}}
    assert app["read_only"] is True and app["volumes"] == ["/srv/app"] and app["tmpfs"] == ["/tmp:size=16m,exec"]
    assert app["hostname"] == "acme-app01" and app["extra_hosts"] == ["legacy.acme.internal:10.1.2.3"]
    assert app["depends_on"] == {"db": {"condition": "service_healthy"}, "cache": {"condition": "service_started"}}


def test_a_service_answers_to_its_name_and_the_hosts_names_pointing_at_it(spec, tmp_path):
    write(spec, tmp_path)
    services = YAML(typ="safe").load((tmp_path / "compose.yaml").read_text())["services"]
    assert services["db"]["networks"]["default"]["aliases"] == ["db", "billing.acme.internal"]
    assert services["db"]["command"] == ["postgres", "-c", "max_connections=20"]
    assert services["db"]["healthcheck"]["test"] == ["CMD-SHELL", "pg_isready -q"]
    assert "healthcheck" not in services["cache"]  # a log regex is nothing Compose can check


def test_service_files_are_written_next_to_the_compose_file_and_mounted_read_only(spec, tmp_path):
    write(spec, tmp_path)
    services = YAML(typ="safe").load((tmp_path / "compose.yaml").read_text())["services"]
    source = "./services/db/docker-entrypoint-initdb.d/seed.sql"
    assert services["db"]["volumes"] == [f"{source}:/docker-entrypoint-initdb.d/seed.sql:ro"]
    assert (tmp_path / source).read_text() == "create table t (id int);\n"


def test_the_dockerfile_and_its_context_are_written_as_rendered(spec, tmp_path):
    written = write(spec, tmp_path)
    assert (tmp_path / "Dockerfile").read_text() == "FROM debian:bookworm\n"
    assert (tmp_path / "rootfs" / "etc" / "a.ini").read_bytes() == b"x=1\n"
    assert tmp_path / "devcontainer.json" in written and tmp_path / "compose.yaml" in written


def test_what_applies_per_step_only_is_written_to_source_in_a_terminal(spec, tmp_path):
    write(spec, tmp_path)
    prelude = (tmp_path / export.PRELUDE_FILE).read_text()
    assert "umask 0077" in prelude and "FAKETIME=" in prelude and "libfaketime" in prelude


def test_without_services_the_devcontainer_builds_the_dockerfile_with_reprokits_run_options(tmp_path, spec):
    plain = load_environment("plain", root=spec.source.parent.parent)
    export.write_devcontainer(plain, tmp_path, service_images={}, ready={}, dockerfile="FROM debian:bookworm\n",
                              context={}, config=container_config(plain))
    document = json.loads((tmp_path / "devcontainer.json").read_text())
    assert document["build"] == {"dockerfile": "Dockerfile", "context": "."} and document["init"] is True
    assert document["runArgs"][:4] == ["--network", "bridge", "--memory", "1g"]
    assert not (tmp_path / "compose.yaml").exists() and not (tmp_path / export.PRELUDE_FILE).exists()


def test_the_compose_export_runs_reprokits_image_and_puts_service_files_beside_it(spec, tmp_path):
    path = tmp_path / "out" / "acme.yaml"
    export.write_compose(spec, path, image="reprokit/env:abc", service_images={"db": "postgres:15", "cache": "r"},
                         ready={}, config=container_config(spec))
    services = YAML(typ="safe").load(path.read_text())["services"]
    assert services["app"]["image"] == "reprokit/env:abc" and "build" not in services["app"]
    assert (tmp_path / "out" / "acme-files" / "db" / "docker-entrypoint-initdb.d" / "seed.sql").is_file()
    assert services["db"]["volumes"][0].startswith("./acme-files/db/")


def test_a_port_or_run_readiness_becomes_the_healthcheck(spec):
    from reprokit.aspects.services import Ready

    updated = {"db": spec.services["db"].model_copy(update={"ready": Ready(port=5432)}),
               "cache": spec.services["cache"].model_copy(update={"ready": Ready(run="redis-cli ping")})}
    ready = export.ready_commands(spec.model_copy(update={"services": updated}), images={})
    assert ":1538 " in ready["db"] and "/proc/net/tcp" in ready["db"]  # 5432 in hex, as reprokit checks it
    assert ready["cache"] == "redis-cli ping"


def test_the_command_says_what_to_write_and_which_sides_a_case_has(tmp_path):
    import subprocess
    import sys

    (tmp_path / "environments").mkdir(exist_ok=True)
    (tmp_path / "environments" / "baseline.yaml").write_text("os: debian:bookworm\n")

    def run(*args):
        done = subprocess.run([sys.executable, "-m", "reprokit", "env", "export", *args, "-C", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        return done.stderr

    assert "hint: reprokit env export baseline --devcontainer ." in run("baseline")
    assert "'other' is not a side of a case" in run("SUP-1/other", "--compose", str(tmp_path / "c.yaml"))
    assert not (tmp_path / "c.yaml").exists()
