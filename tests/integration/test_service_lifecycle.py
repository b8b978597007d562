"""Services on the real engine: each kind starts from a Debian recipe and answers, a case with a service
reproduces, readiness failures carry the service's log, and nothing is left behind however a run ends."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from reprokit.case.reproduce import run_case
from reprokit.engine import SESSION
from reprokit.errors import ReprokitError
from reprokit.contract.load import Project, load_case, load_environment

from conftest import REPROKIT, containers_of, wait_for

pytestmark = pytest.mark.integration

PG = {"POSTGRES_PASSWORD": "example", "POSTGRES_USER": "app", "POSTGRES_DB": "app"}


def _project(root: Path, environments: dict[str, str], cases: dict[str, str] = {}) -> Project:
    (root / "environments").mkdir(exist_ok=True)
    for name, text in environments.items():
        (root / "environments" / f"{name}.yaml").write_text(textwrap.dedent(text))
    for case_id, text in cases.items():
        (root / "cases" / case_id).mkdir(parents=True, exist_ok=True)
        (root / "cases" / case_id / "case.yaml").write_text(textwrap.dedent(text))
    return Project(root)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    return _project(tmp_path_factory.mktemp("services"), {
        "baseline": "os: debian:bookworm\nsystem_packages: [postgresql-client, redis-tools]\n",
        "pg15": """\
            extends: baseline
            services:
              db:
                image: "postgres:15"
                env: {POSTGRES_PASSWORD: example, POSTGRES_USER: app, POSTGRES_DB: app}
                files:
                  /docker-entrypoint-initdb.d/seed.sql: "CREATE TABLE seeded (id int); INSERT INTO seeded VALUES (42);"
            hosts: {billing.acme.internal: db}
            """,
        "redis6": "extends: baseline\nservices: {cache: {image: \"redis:6.0\"}}\n",
        "mariadb": """\
            extends: baseline
            services:
              sql:
                image: "mariadb:10.11"
                env: {MARIADB_ROOT_PASSWORD: root, MARIADB_DATABASE: shop, MARIADB_USER: shop, MARIADB_PASSWORD: pw}
            """,
        "slow": """\
            extends: baseline
            services:
              db:
                image: "postgres:15"
                env: {POSTGRES_PASSWORD: example}
                ready: {port: 6543, timeout: 3}
            """,
    }, {"SVC-1": """\
            id: SVC-1
            title: the seeded row is there, by the service's name and by a hosts alias
            environment: pg15
            steps:
              - PGPASSWORD=example psql -h db -U app -d app -At -c 'SELECT id FROM seeded'
              - PGPASSWORD=example psql -h billing.acme.internal -U app -d app -At -c 'SELECT 1'
            expect: {stdout_contains: "42"}
            """})


def test_a_postgres_service_starts_seeded_and_answers_by_name_and_by_alias(project, docker_engine):
    result = run_case(load_case("SVC-1", root=project.root), project=project, record=False)
    run = result.runs["environment"]
    assert run.error is None, run.error
    assert run.attempts[0].steps[0].stdout.strip() == "42"
    assert run.attempts[0].steps[1].stdout.strip() == "1"
    db = run.services["db"]
    assert db["version"].startswith("PostgreSQL 15.")
    assert "built from Debian bookworm postgresql-15" in db["provenance"] or "present" in db["provenance"]
    assert db["died"] is False
    assert run.facts["services"]["db"].startswith("PostgreSQL 15.")


@pytest.mark.parametrize("environment, name, expected", [("redis6", "cache", "6.0."), ("mariadb", "sql", "10.11.")])
def test_each_service_kind_starts_and_reports_its_version_to_a_box(environment, name, expected, project,
                                                                    docker_engine):
    spec = load_environment(environment, root=project.root)
    with spec.start(engine=docker_engine) as box:
        service = box.services[name]
        assert expected in service.version
        assert service.host == name and service.port in (6379, 3306)
        probe = "redis-cli -h cache PING" if name == "cache" else "getent hosts sql"
        assert box.run(probe, timeout=30).exit_code == 0


def test_a_service_that_is_never_ready_fails_with_its_last_log_lines(project, docker_engine, api):
    spec = load_environment("slow", root=project.root)
    with pytest.raises(ReprokitError) as raised:
        with spec.start(engine=docker_engine):
            pass
    message = str(raised.value)
    assert "service db (postgres:15) was not ready after 3 s (ready: {port: 6543})" in message
    log = message.split("its last log lines:\n", 1)[1].split("\nhint:", 1)[0]
    assert log.strip()  # what the service printed before the timeout, e.g. its initdb progress
    assert containers_of(api, session=SESSION) == []
    assert api.networks(filters={"label": f"reprokit.session={SESSION}"}) == []


def test_two_cases_with_a_service_named_db_run_at_once_without_collision(project, docker_engine, api):
    case = load_case("SVC-1", root=project.root)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_case(case, project=project, record=False), range(2)))
    assert [r.runs["environment"].attempts[0].steps[0].stdout.strip() for r in results] == ["42", "42"]
    assert containers_of(api, session=SESSION) == []
    assert api.networks(filters={"label": f"reprokit.session={SESSION}"}) == []


def test_an_unknown_service_version_is_a_clear_error_and_nothing_starts(tmp_path, docker_engine, api):
    project = _project(tmp_path, {"baseline": "os: debian:bookworm\n",
                                  "old": "extends: baseline\nservices: {db: {image: \"postgres:9.6\"}}\n"},
                       {"OLD-1": "id: OLD-1\ntitle: old\nenvironment: old\nsteps: [\"true\"]\nexpect: {exit_code: 0}\n"})
    done = subprocess.run([str(REPROKIT), "case", "run", "OLD-1", "-C", str(project.root)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "COLUMNS": "400"})
    assert done.returncode == 3, done.stdout + done.stderr
    assert "postgres:9.6: no source can provide it" in done.stdout + done.stderr
    assert "available here: postgres:13, postgres:15, postgres:17" in done.stdout + done.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_or_killed_run_leaves_nothing_once_gc_ran(sig, project, docker_engine, api):
    env = {**os.environ, "REPROKIT_PROJECT": str(project.root)}
    process = subprocess.Popen([str(REPROKIT), "env", "run", "pg15", "--", "sleep", "300"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: containers_of(api, owner_pid=str(process.pid)) and len(
            [c for c in containers_of(api, owner_pid=str(process.pid)) if c["State"] == "running"]) >= 2,
            timeout=300, what="the service and the box to run")
        process.send_signal(sig)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    if sig == signal.SIGKILL:
        assert containers_of(api, owner_pid=str(process.pid))  # a killed process cannot clean up...
        subprocess.run([str(REPROKIT), "gc"], check=True, capture_output=True, timeout=120)  # ...gc does
    wait_for(lambda: not containers_of(api, owner_pid=str(process.pid)), timeout=30, what="containers removed")
    assert api.networks(filters={"label": f"reprokit.owner-pid={process.pid}"}) == []


def test_bad_service_declarations_are_refused_with_the_field_and_the_fix(tmp_path):
    from reprokit.errors import SpecError

    bad = {
        "name": ("services: {DB_1: {image: \"postgres:15\"}}", "'DB_1' is not a valid service name"),
        "port": ("services: {db: {image: \"postgres:15\", ready: {port: 70000}}}", "less than or equal to 65535"),
        "kinds": ("services: {db: {image: \"postgres:15\", ready: {port: 5432, log: ready}}}",
                  "ready gives port and log; give one of port, log, run"),
        "network": ("network: none\nservices: {db: {image: \"postgres:15\"}}", "services need a network"),
        "hosts": ("hosts: {billing: dbx}\nservices: {db: {image: \"postgres:15\"}}", "neither an IP address nor a "
                  "service of this environment (services here: db)"),
    }
    for name, (text, message) in bad.items():
        _project(tmp_path, {"baseline": "os: debian:bookworm\n", name: f"extends: baseline\n{text}\n"})
        with pytest.raises(SpecError) as raised:
            load_environment(name, root=tmp_path)
        assert message in str(raised.value), (name, str(raised.value))
        assert f"environments/{name}.yaml:" in str(raised.value)
