"""Collect for real: the generated collectors run inside Debian containers with planted secrets; the
import builds; collect -> import -> build -> collect gives the same reproducible facts."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reprokit.collect.importer import (collector_script, from_image, parse_collection, read_collection, reproducible_facts,
                              to_environment, write_environment)
from reprokit.engine import ContainerConfig, get_engine
from reprokit.contract.load import load_environment
from reprokit.contract.models import EnvironmentSpec

# The planted secrets: none of these strings may appear in anything reprokit prints or writes.
SECRET_ENV = {
    "DB_PASSWORD": "envpass-4242-planted",
    "ACME_API_TOKEN": "tok-planted-9f8e7d",
    "SERVICE_URL": "https://bob:urlsecret77planted@api.example.com/v1",
    "UPSTREAM_HEADER": "Bearer bearerplanted1234567",
    "AWS_ACCESS_KEY_ID": "AKIAPLANTEDKEY123456",
}
PEM_BODY = "MIIEpAIBAAKCAQEAplantedkeymaterialAAAA"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlcGxhbnRlZA"
CONFIG = f"""[db]
host = db.internal
password = "inipass-planted-31337"
dsn: postgres://acme:dsnpass-planted@db.internal/acme
timeout = 30
session_cookie = 'cookieplanted-abc'
-----BEGIN RSA PRIVATE KEY-----
{PEM_BODY}
ZZZplantedsecondline
-----END RSA PRIVATE KEY-----
[client]
login_token_seen_in_logs = see below
last_request = {JWT}
"""
SECRETS = [*SECRET_ENV.values(), "envpass-4242", "urlsecret77planted", "bearerplanted1234567", "PLANTEDKEY123456",
           "inipass-planted-31337", "dsnpass-planted", "cookieplanted-abc", PEM_BODY, "ZZZplantedsecondline", JWT,
           "c2lnbmF0dXJlcGxhbnRlZA"]


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def leaked_in_folder(folder: Path) -> dict[str, list[str]]:
    found = {}
    for path in folder.rglob("*"):
        if path.is_file():
            hits = leaked(path.read_text(errors="replace"))
            if hits:
                found[str(path)] = hits
    return found


def run_python_collector(box) -> dict:
    box.put_files({"reprokit-collect.py": collector_script(), "acme.ini": CONFIG})
    result = box.run("python3 reprokit-collect.py --file /work/acme.ini", env=SECRET_ENV, timeout=180)
    assert result.exit_code == 0, result.stderr
    assert leaked(result.stdout + result.stderr) == []
    return json.loads(result.stdout)


CUSTOMER = EnvironmentSpec(
    name="collect-customer-bullseye", os="debian:bullseye", system_packages=("sqlite3",),
    python_packages=("six==1.16.0", "idna==3.4"), env={"ACME_MODE": "strict"}, timezone="Asia/Kolkata",
    locale="de_DE.UTF-8", user="1000:1000", limits={"memory": "512m", "pids": 300})


def test_bullseye_collection_imports_into_a_spec_that_rebuilds_the_same_facts_without_leaking(tmp_path):
    build_log: list[str] = []
    with CUSTOMER.start(on_line=build_log.append) as box:
        first = run_python_collector(box)
    facts = first["facts"]
    assert first["format"] == "reprokit-collection" and first["version"] == 1
    assert facts["python"]["version"].startswith("3.9.")
    assert "six==1.16.0" in facts["python"]["pip_freeze"] and "idna==3.4" in facts["python"]["pip_freeze"]
    assert facts["env"]["DB_PASSWORD"].startswith("<redacted:") and facts["env"]["ACME_MODE"] == "strict"
    places = {r["where"] for r in first["redactions"]}
    assert {"env.DB_PASSWORD", "env.ACME_API_TOKEN", "env.SERVICE_URL", "env.UPSTREAM_HEADER"} <= places
    assert all("planted" not in json.dumps(r) for r in first["redactions"])

    (tmp_path / "environments").mkdir()
    (tmp_path / "collection.json").write_text(json.dumps(first))
    cli = subprocess.run([sys.executable, "-m", "reprokit", "env", "import", "collection.json", "--name", "acme-imported",
                          "-C", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert "placeholder to fill: env.DB_PASSWORD" in cli.stdout and "kernel" in cli.stdout
    imported = load_environment("acme-imported", root=tmp_path)
    assert imported.os == "debian:bullseye" and imported.python == "3.9"
    assert imported.timezone == "Asia/Kolkata" and imported.locale == "de_DE.UTF-8" and imported.user == "1000:1000"
    assert imported.limits.memory == "512m" and imported.limits.pids == 300
    assert f"sqlite3={facts['debian_packages']['sqlite3']}" in imported.system_packages
    assert "Not reproduced in a container" in imported.description and "kernel" in imported.description
    assert imported.env["DB_PASSWORD"] == facts["env"]["DB_PASSWORD"]  # a marked placeholder, not dropped

    with imported.start(on_line=build_log.append) as box:
        second = run_python_collector(box)
    assert reproducible_facts(second["facts"]) == reproducible_facts(facts)
    again = second["facts"]["debian_packages"]
    assert {p: again.get(p.split("=")[0]) for p in imported.system_packages} == \
        {p: p.split("=", 1)[1] for p in imported.system_packages}
    assert leaked_in_folder(tmp_path) == {}
    assert leaked("\n".join(build_log) + cli.stdout + cli.stderr) == []


def test_the_same_facts_are_read_from_the_customer_image(tmp_path):
    with CUSTOMER.start() as box:
        inside = run_python_collector(box)
        tag = box.image.tag
    outside = from_image(tag)
    assert outside.kind == "image" and outside.collector == "python"
    same = reproducible_facts(outside.facts)
    # The image's own facts: only what `box.run(env=...)` and put_files added differ.
    assert same["python"] == reproducible_facts(inside["facts"])["python"]
    assert same["pip_freeze"] == reproducible_facts(inside["facts"])["pip_freeze"]
    assert same["timezone"] == "Asia/Kolkata" and same["user"] == "1000:1000"
    spec = to_environment(outside, name="from-image")
    assert spec.data["limits"] == {} and spec.data["os"] == "debian:bullseye"


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_python_collector_runs_on_newer_debian_and_redacts_every_planted_secret(suite, tmp_path):
    spec = EnvironmentSpec(name=f"collect-{suite}", os=f"debian:{suite}", python_packages=("six==1.16.0",),
                           env={"ACME_MODE": "strict"})
    with spec.start() as box:
        document = run_python_collector(box)
    facts = document["facts"]
    assert facts["os_release"]["VERSION_CODENAME"] == suite
    assert facts["python"]["version"].startswith({"bookworm": "3.11.", "trixie": "3.13."}[suite])
    assert "six==1.16.0" in facts["python"]["pip_freeze"]
    config = facts["files"]["/work/acme.ini"]
    assert "host = db.internal" in config and "timeout = 30" in config and config.count("<redacted:") == 6
    (tmp_path / "environments").mkdir()
    collection = parse_collection(json.dumps(document), source="collection.json")
    path = write_environment(to_environment(collection, name="imported"), name="imported", root=tmp_path)
    assert load_environment("imported", root=tmp_path).os == f"debian:{suite}"
    assert leaked(path.read_text()) == []


def test_sh_collector_runs_where_there_is_no_python_and_redacts_the_same_way(tmp_path):
    engine = get_engine()
    with engine.start("debian:bookworm", ContainerConfig(network="none")) as container:
        assert container.exec("command -v python3", timeout=30).exit_code != 0
        container.put_files("/tmp", {"c.sh": collector_script(sh=True).encode(), "acme.ini": CONFIG.encode()})
        result = container.exec("sh /tmp/c.sh --file /tmp/acme.ini --allow ACME_MODE", timeout=300,
                                env={**SECRET_ENV, "ACME_MODE": "strict"})
    assert result.exit_code == 0, result.stderr
    assert leaked(result.stdout + result.stderr) == []
    document = json.loads(result.stdout)
    facts = document["facts"]
    assert document["collector"] == "sh" and facts["os_release"]["VERSION_CODENAME"] == "bookworm"
    assert "dpkg" in facts["debian_packages"] and facts["python"] == {} and facts["pip_freeze"] == []
    assert facts["env"]["ACME_MODE"] == "strict" and facts["env"]["DB_PASSWORD"].startswith("<redacted:")
    assert facts["files"]["/tmp/acme.ini"].count("<redacted:") == 6
    (tmp_path / "collection.json").write_text(result.stdout)
    imported = to_environment(read_collection(tmp_path / "collection.json"), name="sh-only")
    assert imported.data["os"] == "debian:bookworm" and imported.data["python"] == "system"
    assert "env.DB_PASSWORD" in imported.placeholders and leaked(json.dumps(imported.data)) == []


def _self_signed_ca(folder: Path) -> str:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "ca.pem"), "-days", "30",
                    "-subj", "/CN=collect corp root"], check=True, capture_output=True, timeout=60)
    return (folder / "ca.pem").read_text()


def test_both_collectors_read_back_the_new_dimensions_a_container_was_given_and_import_restores_them(tmp_path):
    from datetime import datetime, timezone

    pem = _self_signed_ca(tmp_path)
    declared = EnvironmentSpec(
        name="collect-dimensions", os="debian:bookworm", python_packages=("six==1.16.0",),
        limits={"nofile": 256, "shm": "32m"}, read_only=True, tmpfs={"/scratch": "16m"}, hostname="acme-app01",
        umask="0077", clock="+400d", ca_certificates={"corp-root": pem}, hosts={"billing.acme.internal": "10.1.2.3"})
    with declared.start() as box:
        box.put_files({"c.py": collector_script(), "c.sh": collector_script(sh=True)})
        documents = {}
        for name, command in (("python", "python3 c.py --packages dpkg"), ("sh", "sh c.sh --packages dpkg")):
            result = box.run(command, timeout=300)
            assert result.exit_code == 0, result.stderr
            documents[name] = json.loads(result.stdout)
    now = datetime.now(timezone.utc)
    for name, document in documents.items():
        facts = document["facts"]
        assert facts["root_read_only"] is True and facts["tmpfs_mounts"] == {"/scratch": "16384k"}, name
        assert (facts["ulimits"]["nofile"], facts["shm_kib"], facts["hostname"], facts["umask"]) == \
            ("256", 32768, "acme-app01", "0077"), name
        assert facts["etc_hosts"] == {"billing.acme.internal": "10.1.2.3"}, name
        assert facts["extra_ca_certificates"] == {"reprokit/corp-root.crt": pem}, name
        assert abs(facts["time_epoch"] - now.timestamp() - 400 * 86400) < 600, name  # libfaketime reached it
        imported = to_environment(parse_collection(json.dumps(document), source=f"{name}.json"), name="back",
                                  collected_at=now)
        data = imported.data
        assert (data["limits"]["nofile"], data["limits"]["shm"], data["read_only"], data["tmpfs"]) == \
            (256, "32m", True, {"/scratch": "16m"}), name
        assert (data["hostname"], data["umask"], data["hosts"]) == \
            ("acme-app01", "0077", {"billing.acme.internal": "10.1.2.3"}), name
        assert list(data["ca_certificates"].values()) == [pem], name
        assert data["clock"] == "+400d", name
        write_environment(imported, name=f"back-{name}", root=tmp_path)
        assert load_environment(f"back-{name}", root=tmp_path).read_only is True
