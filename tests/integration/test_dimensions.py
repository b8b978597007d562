"""Each new dimension of a machine, declared only through the file contract, reproduces a real failure inside
real containers, and its fact is read back from inside; isolate names a new-dimension culprit."""
from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from reprokit.case.reproduce import run_case
from reprokit.engine import SESSION
from reprokit.contract.load import Project, load_case

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

# One baseline for every case below: Debian 12 with python3 (and openssl), the image shared by all of them.
BASELINE = "os: debian:bookworm\nsystem_packages: [openssl]\n"

# dimension -> (what the customer declares, what the baseline declares, steps, signature, fact that proves it)
CASES = {
    "nofile": (
        "limits: {nofile: 256}", "limits: {nofile: 4096}",
        ["python3 -c \"files = [open('/dev/null') for _ in range(300)]; print('opened', len(files))\""],
        {"stderr_contains": "Too many open files"}, ("nofile", "256/256")),
    "shm": (
        "limits: {shm: 16m}", "limits: {shm: 256m}",
        ["dd if=/dev/zero of=/dev/shm/segment bs=1M count=32"],
        {"stderr_contains": "No space left on device"}, ("shm_kib", "16384")),
    "read_only": (
        "read_only: true\nuser: \"1000:1000\"", "user: \"1000:1000\"",
        ["cat input.txt > copy.txt && cat copy.txt", "echo 4242 > /var/tmp/app.pid"],
        {"stderr_contains": "Read-only file system", "stdout_contains": "from the case"},
        ("root_filesystem", "ro")),
    "tmpfs": (
        "tmpfs: {/tmp: 1m}", "",
        ["dd if=/dev/zero of=/tmp/spool bs=1M count=4"],
        {"stderr_contains": "No space left on device"}, ("tmpfs", {"/tmp": "1024k"})),
    "hostname": (
        "hostname: acme-app01", "",
        ["case \"$(hostname)\" in *-app[0-9]*) echo \"$(hostname) is a cluster member: refusing a standalone "
         "start\" >&2; exit 3;; esac; echo standalone"],
        {"exit_code": 3, "stderr_contains": "acme-app01 is a cluster member"}, ("hostname", "acme-app01")),
    "umask": (
        "umask: \"0077\"", "",
        ["echo total > report.csv && mode=$(stat -c %a report.csv) && [ \"$mode\" = 644 ] || "
         "{ echo \"report.csv has mode $mode: the web server user cannot read it\" >&2; exit 1; }"],
        {"stderr_contains": "report.csv has mode 600"}, ("umask", "0077")),
    "clock_offset": (
        "clock: \"+400d\"", "",
        ["env -u LD_PRELOAD -u FAKETIME python3 -c 'import time; print(int(time.time()) + 30 * 86400)' > expiry",
         "python3 -c 'import sys, time; sys.exit(\"license expired\" if time.time() > int(open(\"expiry\").read()) "
         "else 0)'"],
        {"stderr_contains": "license expired"}, ("clock_offset_h", "+9600")),
    "clock_absolute": (
        "clock: \"2040-02-29 12:00:00\"", "",
        ["python3 -c 'import datetime, sys; d = datetime.datetime.utcnow(); print(d); "
         "sys.exit(\"the year 2040 is not supported\" if d.year == 2040 else 0)'"],
        {"stderr_contains": "2040 is not supported", "stdout_contains": "2040-02-29 12:00"},
        ("clock", "faked: 2040-02-29 12:00 UTC")),
    "hosts": (
        "hosts: {billing.acme.internal: 10.1.2.3}", "",
        ["getent hosts billing.acme.internal && { echo 'billing resolves: using the on-premise endpoint' >&2; "
         "exit 3; }; echo 'using the cloud endpoint'"],
        {"exit_code": 3, "stdout_contains": "10.1.2.3"}, ("hosts", {"billing.acme.internal": "10.1.2.3"})),
}


def _case_yaml(dimension: str, customer: str, baseline: str, steps: list[str], expect: dict) -> str:
    indent = lambda text: textwrap.indent(text, "  ") if text else ""  # noqa: E731
    lines = [f"id: DIM-{dimension.replace('_', '-')}", f"title: {dimension} reproduces", "environment:",
             "  extends: baseline", indent(customer), "baseline:", "  extends: baseline", indent(baseline),
             "files:", "  input.txt: \"from the case\\n\"", "steps:"]
    lines += [f"  - {_quoted(step)}" for step in steps]
    lines += ["expect:"] + [f"  {key}: {_quoted(value) if isinstance(value, str) else value}"
                            for key, value in expect.items()]
    return "\n".join(line for line in lines if line) + "\n"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    root = tmp_path_factory.mktemp("dimensions")
    (root / "environments").mkdir()
    (root / "environments" / "baseline.yaml").write_text(BASELINE)
    for dimension, (customer, baseline, steps, expect, _) in CASES.items():
        folder = root / "cases" / f"DIM-{dimension.replace('_', '-')}"
        folder.mkdir(parents=True)
        (folder / "case.yaml").write_text(_case_yaml(dimension, customer, baseline, steps, expect))
    return Project(root)


@pytest.mark.parametrize("dimension", list(CASES))
def test_a_new_dimension_declared_in_the_contract_reproduces_and_is_observed(dimension, project, docker_engine):
    fact, expected = CASES[dimension][4]
    result = run_case(load_case(f"DIM-{dimension.replace('_', '-')}", root=project.root), project=project,
                      record=False)
    runs = result.runs
    assert result.verdict.value == "REPRODUCED", (result.explain(), runs["environment"].attempts)
    observed = runs["environment"].facts[fact]
    assert observed == expected or (isinstance(expected, dict) and expected.items() <= observed.items())
    assert runs["baseline"].facts.get(fact) != observed
    assert any(row["fact"].startswith(fact) for row in result.diffs["facts"])


def test_a_read_only_run_leaves_no_container_or_volume(project, docker_engine, api):
    run_case(load_case("DIM-read-only", root=project.root), project=project, record=False)
    selector = {"label": f"reprokit.session={SESSION}"}
    assert api.containers(all=True, filters=selector) == []
    assert (api.volumes(filters=selector) or {}).get("Volumes") in (None, [])


def test_a_declared_value_the_engine_did_not_apply_makes_the_run_error(project, docker_engine):
    from reprokit.case.reproduce import observe
    from reprokit.run.launch import launch

    case = load_case("DIM-umask", root=project.root)
    # Facts read from a container whose steps' shell was not given the umask: simulate an engine that drops
    # the prelude by observing with a spec whose umask the facts cannot show.
    run = observe(case, launch(case.environment), role="environment", engine=docker_engine)
    assert run.error is None
    from reprokit.run.facts import not_in_effect

    lying = case.environment.model_copy(update={"umask": "0027"})
    assert "umask" in not_in_effect(lying, run.facts)
    assert "0027 declared" in not_in_effect(lying, run.facts)["umask"]


def test_certificates_are_trusted_by_the_system_store_and_by_certifi_in_the_venv(tmp_path, docker_engine):
    """A customer behind a TLS-inspecting proxy: their machine trusts the proxy's CA, so a certificate it signed
    verifies (openssl, python's ssl and requests' certifi); the baseline refuses it."""
    ca, leaf = tmp_path / "proxy-ca.pem", tmp_path / "api.pem"
    key, csr = tmp_path / "ca.key", tmp_path / "leaf.csr"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
                    "/CN=Initech Inspection CA", "-keyout", str(key), "-out", str(ca)], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=api.example.test", "-keyout",
                    str(tmp_path / "leaf.key"), "-out", str(csr)], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(key),
                    "-CAcreateserial", "-days", "30", "-out", str(leaf)], check=True, capture_output=True)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / ca.name).write_text(ca.read_text())
    (tmp_path / "environments" / "baseline.yaml").write_text(
        "os: debian:bookworm\nsystem_packages: [openssl]\npython_packages: [\"certifi==2024.8.30\"]\n")
    (tmp_path / "environments" / "proxied.yaml").write_text(
        f"extends: baseline\nca_certificates: {{inspection: {{source: {ca.name}}}}}\n")
    folder = tmp_path / "cases" / "CA-1"
    folder.mkdir(parents=True)
    (folder / "api.pem").write_text(leaf.read_text())
    (folder / "case.yaml").write_text(textwrap.dedent("""\
        id: CA-1
        title: a re-signed certificate is accepted
        environment: proxied
        files: {api.pem: {source: api.pem}}
        steps:
          - openssl verify api.pem
          - python3 -c "import certifi, ssl; c = ssl.create_default_context(cafile=certifi.where()); print('certifi trusts', [dict(x[0] for x in ca['subject'])['commonName'] for ca in c.get_ca_certs() if 'Inspection' in str(ca)])"
        expect:
          stdout_contains: "certifi trusts ['Initech Inspection CA']"
        """))
    project = Project(tmp_path)
    result = run_case(load_case("CA-1", root=tmp_path), project=project, record=False)
    assert result.verdict.value == "REPRODUCED", result.explain()
    assert "api.pem: OK" in result.runs["environment"].attempts[0].steps[0].stdout
    assert result.runs["environment"].facts["ca_certificates"] == {"inspection": "system=yes certifi=yes"}


def test_isolate_names_the_read_only_root_among_eight_differences(docker_engine):
    from reprokit.isolate.isolation import isolate

    project = Project(ROOT)
    result = isolate(load_case("SUP-5102", root=ROOT), project=project, jobs=2, fresh=True, record=False)
    assert [atom.name for atom in result.minimal] == ["read_only"]
    assert len(result.atoms) == 8
    assert not any(atom.rebuild for atom in result.atoms)  # every probe reuses the endpoints' images
    assert not [r for r in result.report.records if r.phase != "endpoint" and r.build == "built"]
