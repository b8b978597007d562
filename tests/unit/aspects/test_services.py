"""The services aspect: contract, merge and removal under extends, atoms and hybrids, cross-field checks."""
from __future__ import annotations

import textwrap

import pytest

from reprokit.errors import SpecError
from reprokit.aspects.atoms import atoms, hybrid
from reprokit.isolate.isolation import environment_yaml
from reprokit.contract.load import load_environment


def write(root, name, text):
    (root / "environments").mkdir(exist_ok=True)
    (root / "environments" / f"{name}.yaml").write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path):
    write(tmp_path, "baseline", """\
        os: debian:bookworm
        services:
          db:
            image: "postgres:13"
            env: {POSTGRES_PASSWORD: example, POSTGRES_USER: app}
            files: {/docker-entrypoint-initdb.d/seed.sql: {source: seed.sql}}
          cache: {image: "redis:7.0"}
        """)
    (tmp_path / "environments" / "seed.sql").write_text("CREATE TABLE t (id int);\n")
    write(tmp_path, "customer", """\
        extends: baseline
        services:
          db:
            image: "postgres:15"
            env: {POSTGRES_PASSWORD: example, POSTGRES_USER: app, POSTGRES_DB: billing}
            command: [postgres, -c, max_connections=20]
            files: {/docker-entrypoint-initdb.d/seed.sql: {source: seed.sql}}
          queue: {image: "redis:6.0"}
        remove: [services.cache]
        """)
    return tmp_path


def test_services_merge_by_name_and_an_inherited_one_can_be_removed(project):
    customer = load_environment("customer", root=project)
    assert sorted(customer.services) == ["db", "queue"]
    assert customer.services["db"].image == "postgres:15"
    assert customer.services["db"].files["/docker-entrypoint-initdb.d/seed.sql"] == "CREATE TABLE t (id int);\n"
    assert customer.services["db"].command == ("postgres", "-c", "max_connections=20")


def test_a_version_change_is_the_service_atom_and_each_part_is_an_atom_of_its_own(project):
    baseline, customer = load_environment("baseline", root=project), load_environment("customer", root=project)
    found = {a.name: a for a in atoms(baseline, customer)}
    assert found["services.db"].baseline == "postgres:13" and found["services.db"].customer == "postgres:15"
    assert found["services.db.env.POSTGRES_DB"].customer == "billing"
    assert found["services.db.command"].customer == '["postgres", "-c", "max_connections=20"]'
    assert "services.db.files./docker-entrypoint-initdb.d/seed.sql" not in found  # same on both sides
    assert found["services.cache"].customer is None  # on one side only: one atom for the whole service
    assert found["services.queue"].baseline is None
    assert not any(name.startswith(("services.cache.", "services.queue.")) for name in found)
    assert not any(a.rebuild for a in found.values() if a.field == "services")


def test_hybrids_apply_a_service_version_alone_and_whole_services(project):
    baseline, customer = load_environment("baseline", root=project), load_environment("customer", root=project)
    found = {a.name: a for a in atoms(baseline, customer)}
    only_version = hybrid(baseline, [found["services.db"]])
    assert only_version.services["db"].image == "postgres:15"
    assert only_version.services["db"].env == baseline.services["db"].env
    assert only_version.content_hash() != baseline.content_hash()
    everything = hybrid(baseline, list(found.values()))
    assert everything.services == customer.services
    without_cache = hybrid(baseline, [found["services.cache"], found["services.queue"]])
    assert sorted(without_cache.services) == ["db", "queue"]


def test_the_minimal_hybrid_file_with_a_service_atom_loads_back(project):
    baseline, customer = load_environment("baseline", root=project), load_environment("customer", root=project)
    found = {a.name: a for a in atoms(baseline, customer)}
    text = environment_yaml(baseline, [found["services.db"], found["services.cache"]], root=project)
    (project / "environments" / "minimal.yaml").write_text(text)
    minimal = load_environment("minimal", root=project)
    assert minimal.services["db"].image == "postgres:15" and "cache" not in minimal.services


@pytest.mark.parametrize("text, message", [
    ("services: {DB_1: {image: \"postgres:15\"}}", "'DB_1' is not a valid service name"),
    ("services: {db: {image: \"postgres:15\", ready: {port: 0}}}", "greater than or equal to 1"),
    ("services: {db: {image: \"postgres:15\", ready: {run: pg_isready, log: ok}}}", "ready gives log and run"),
    ("services: {db: {image: \"Postgres:15\"}}", "is not a valid repository name"),
    ("services: {db: {image: \"postgres:15\", env: {1BAD: x}}}", "'1BAD' is not an environment variable name"),
    ("network: none\nservices: {db: {image: \"postgres:15\"}}", "services need a network"),
    ("hosts: {billing: nowhere}", "neither an IP address nor a service of this environment"),
])
def test_bad_service_declarations_name_the_file_line_field_and_fix(tmp_path, text, message):
    write(tmp_path, "baseline", "os: debian:bookworm\n")
    write(tmp_path, "bad", f"extends: baseline\n{text}\n")
    with pytest.raises(SpecError) as raised:
        load_environment("bad", root=tmp_path)
    assert message in str(raised.value)
    assert "environments/bad.yaml:" in str(raised.value)
