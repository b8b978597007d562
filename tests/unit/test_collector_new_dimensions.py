"""The collector's facts for the second-round dimensions (limits, mounts, names, umask, arch, CAs, hosts, clock),
read on this host by the real Python and sh collectors, and what `env import` makes of them."""
from __future__ import annotations

import glob
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reprokit.aspects.arch import host_arch
from reprokit.aspects.clock import THRESHOLD_S
from reprokit.collect.collector import collector
from reprokit.collect.importer import collector_script, parse_collection, to_environment, write_environment
from reprokit.errors import InvalidValue
from reprokit.redact import marker
from reprokit.contract.load import load_environment

QUICK = ["--packages", "no-such-package"]  # no dpkg listing: these tests are about the other facts
PATH = "/usr/local/bin:/usr/bin:/bin"  # no version-manager shims: each one costs a second per python found
SYSTEM_TMPFS = re.compile(r"^/(dev|run|sys|proc)(/|$)")


def _python36() -> str | None:
    """A real Python 3.6 interpreter on this machine (pyenv's, say), or None."""
    for candidate in [shutil.which("python3.6"), *glob.glob(os.path.expanduser("~/.pyenv/versions/3.6*/bin/python3.6"))]:
        if candidate and subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 6)"],
                                        capture_output=True, timeout=30).returncode == 0:
            return candidate
    return None


PYTHONS = [pytest.param(sys.executable, id="this-python"),
           pytest.param(_python36(), id="python3.6",
                        marks=pytest.mark.skipif(_python36() is None, reason="no Python 3.6 on this machine"))]


def run_collector(command: list[str], *, umask: str = "027", env: dict | None = None) -> tuple[dict, float, float]:
    """Run a collector under ``umask`` (so the fact is read, not assumed); its document, and the clock around it."""
    before = time.time()
    done = subprocess.run(["sh", "-c", f'umask {umask}; exec "$@"', "sh", *command], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PATH": PATH, **(env or {})})
    after = time.time()
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), before, after


@pytest.fixture(scope="module", params=PYTHONS)
def python_collection(request, tmp_path_factory):
    script = tmp_path_factory.mktemp("collector") / "reprokit-collect.py"
    script.write_text(collector_script())
    return run_collector([request.param, str(script), *QUICK])


@pytest.fixture(scope="module")
def sh_collection(tmp_path_factory):
    script = tmp_path_factory.mktemp("collector") / "reprokit-collect.sh"
    script.write_text(collector_script(sh=True))
    return run_collector(["sh", str(script), *QUICK])


def proc_mounts() -> list[tuple[str, str, list[str]]]:
    """This host's mounts, read here independently of the collector (mount points still escaped: \\040)."""
    lines = Path("/proc/mounts").read_text().splitlines()
    return [(p[1], p[2], p[3].split(",")) for p in (line.split() for line in lines)]


def check_host_facts(facts: dict, before: float, after: float) -> None:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert facts["ulimits"]["nofile"] == ("unlimited" if soft == resource.RLIM_INFINITY else str(soft))
    shm = os.statvfs("/dev/shm")
    assert facts["shm_kib"] == shm.f_blocks * shm.f_frsize // 1024 and isinstance(facts["shm_kib"], int)
    root = [options for point, _, options in proc_mounts() if point == "/"][-1]
    assert facts["root_read_only"] is ("ro" in root)
    expected_tmpfs = {point for point, kind, _ in proc_mounts() if kind == "tmpfs" and not SYSTEM_TMPFS.match(point)
                      and "\\" not in point}
    assert expected_tmpfs <= set(facts["tmpfs_mounts"]) and not any(SYSTEM_TMPFS.match(p) for p in facts["tmpfs_mounts"])
    assert all(re.fullmatch(r"\d+[kmgKMG]?", size) for size in facts["tmpfs_mounts"].values()), facts["tmpfs_mounts"]
    assert facts["hostname"] == socket.gethostname()
    assert facts["umask"] == "0027"
    assert facts["arch"] == platform.machine()
    assert isinstance(facts["time_epoch"], (int, float)) and int(before) <= facts["time_epoch"] <= after + 1
    assert isinstance(facts["etc_hosts"], dict)
    assert all(not address.startswith("127.") and address != "::1" and name != socket.gethostname()
               for name, address in facts["etc_hosts"].items())
    folder = Path(collector.CA_FOLDER)
    crt = {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.crt")) if p.is_file()} \
        if folder.is_dir() else {}
    assert facts["extra_ca_certificates"] == crt  # this host's CAs are small: every one, byte for byte


def test_the_python_collector_records_the_new_dimensions_of_this_host(python_collection):
    document, before, after = python_collection
    check_host_facts(document["facts"], before, after)
    assert document["redactions"] == [] or all("extra_ca" not in r["where"] for r in document["redactions"])


def test_the_sh_collector_records_the_same_new_dimensions(sh_collection):
    document, before, after = sh_collection
    check_host_facts(document["facts"], before, after)
    assert isinstance(document["facts"]["time_epoch"], int)


ENGINE_MOUNTS = ("/var/lib/containers/", "/var/lib/docker/", "/run/containers/", "/run/docker/")


def test_the_sh_and_python_collectors_agree_on_the_new_dimensions(python_collection, sh_collection):
    keys = ("shm_kib", "root_read_only", "tmpfs_mounts", "hostname", "umask", "arch", "etc_hosts",
            "extra_ca_certificates")
    # Container engines' mounts come and go between the two collections (other tests' containers).
    python, sh = ({**facts, "tmpfs_mounts": {path: size for path, size in facts["tmpfs_mounts"].items()
                                             if not path.startswith(ENGINE_MOUNTS)}}
                  for facts in (python_collection[0]["facts"], sh_collection[0]["facts"]))
    assert {k: python[k] for k in keys} == {k: sh[k] for k in keys}
    assert python["ulimits"]["nofile"] == sh["ulimits"]["nofile"]


def test_a_collection_of_this_host_imports_and_loads_back(python_collection, tmp_path):
    document, _, _ = python_collection
    result = to_environment(parse_collection(json.dumps(document), source="c.json"), name="here")
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY:
        assert result.data["limits"]["nofile"] == soft
        assert not any("nofile" in line for line in result.unreproducible)
    write_environment(result, name="here", root=tmp_path)
    spec = load_environment("here", root=tmp_path)
    assert spec.hostname == socket.gethostname() and spec.umask == "0027"


# -- readers, fed with planted files -------------------------------------------------------------------------


def fake_files(monkeypatch, files: dict[str, str]) -> None:
    monkeypatch.setattr(collector, "read", lambda path, limit=256 * 1024: files.get(path))


def test_tmpfs_mounts_leave_out_the_systems_and_take_the_size_from_the_mount_options(monkeypatch, tmp_path):
    fake_files(monkeypatch, {"/proc/mounts": "\n".join([
        "overlay / overlay ro,relatime,lowerdir=/l 0 0",
        "tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0",
        "shm /dev/shm tmpfs rw,nosuid,size=65536k 0 0",
        "tmpfs /run/user/1000 tmpfs rw,size=812k 0 0",
        "tmpfs /sys/fs/cgroup tmpfs rw,mode=755 0 0",
        "tmpfs /proc/acpi tmpfs ro,relatime 0 0",
        "tmpfs /tmp tmpfs rw,nosuid,nodev,size=16384k,inode64 0 0",
        "tmpfs /var/cache/my\\040app tmpfs rw,size=4k 0 0",
        "tmpfs /running tmpfs rw,size=1g 0 0",
        f"tmpfs {tmp_path} tmpfs rw,relatime 0 0",  # no size= option: statvfs says
        "tmpfs /no/such/mount tmpfs rw 0 0"])})
    assert collector.tmpfs_mounts() == {"/tmp": "16384k", "/var/cache/my app": "4k", "/running": "1g",
                                        str(tmp_path): "%dk" % collector.size_kib(str(tmp_path)), "/no/such/mount": ""}
    assert collector.root_read_only() is True


def test_the_last_mount_on_root_decides_and_no_root_mount_says_nothing(monkeypatch):
    fake_files(monkeypatch, {"/proc/mounts": "rootfs / rootfs ro 0 0\n/dev/vda / ext4 rw,relatime 0 0\n"})
    assert collector.root_read_only() is False
    fake_files(monkeypatch, {})
    assert collector.root_read_only() is None and collector.tmpfs_mounts() == {}


def test_etc_hosts_keeps_the_machines_own_entries_and_leaves_out_boilerplate(monkeypatch):
    fake_files(monkeypatch, {"/etc/hosts": "\n".join([
        "127.0.0.1 localhost localhost.localdomain", "127.0.1.1 app01.acme.internal app01",
        "::1 localhost ip6-localhost ip6-loopback", "ff02::1 ip6-allnodes",
        "10.0.0.5 app01.acme.internal app01 self-alias  # this machine", "10.1.2.3 billing.acme.internal billing",
        "10.9.9.9 billing.acme.internal  # a later line loses, as in the resolver",
        "10.1.2.4 auth.acme.internal", "fd00::7 vault.acme.internal", "# 10.0.0.1 commented.out", ""])})
    assert collector.etc_hosts(own="app01") == {"self-alias": "10.0.0.5", "billing.acme.internal": "10.1.2.3",
                                                "billing": "10.1.2.3", "auth.acme.internal": "10.1.2.4",
                                                "vault.acme.internal": "fd00::7"}
    assert collector.etc_hosts(own="app01.acme.internal")["self-alias"] == "10.0.0.5"
    assert "app01" not in collector.etc_hosts(own="app01.acme.internal")


def test_host_names_and_mount_points_that_look_secret_keep_their_values():
    facts = {"etc_hosts": {"auth.acme.internal": "10.1.2.4", "secrets-store": "10.1.2.5"},
             "tmpfs_mounts": {"/var/lib/app/secrets": "4k"}}
    assert collector.redact_document(facts) == (facts, [])


def test_the_umask_is_read_and_left_as_it_was():
    old = os.umask(0o077)
    try:
        assert collector.current_umask() == "0077" and os.umask(0o077) == 0o077
    finally:
        os.umask(old)


def test_a_failing_reader_empties_only_its_own_fact(monkeypatch):
    monkeypatch.setattr(collector, "shm_kib", lambda: 1 // 0)
    monkeypatch.setattr(collector, "etc_hosts", lambda: {}["missing"])
    monkeypatch.setattr(collector, "run", lambda command, timeout=60: None)  # no dpkg, rpm, pip: fast
    options = collector.argparse.Namespace(python="/bin/false", venv=None, packages="*", file=[], allow=[])
    facts = collector.collect(options)["facts"]
    assert facts["shm_kib"] is None and facts["etc_hosts"] == {}
    assert facts["umask"] and isinstance(facts["time_epoch"], float) and facts["hostname"] == platform.node()


# -- certificates: public, kept byte for byte; private keys still redacted -------------------------------------


@pytest.fixture(scope="module")
def pem(tmp_path_factory) -> dict[str, str]:
    """A real self-signed CA and its private key, made by openssl now."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "ca.pem"), "-days", "30",
                    "-subj", "/CN=reprokit corp root"], check=True, capture_output=True, timeout=60)
    return {"certificate": (folder / "ca.pem").read_text(), "key": (folder / "key.pem").read_text()}


def test_extra_cas_are_read_recursively_bounded_and_only_from_crt_files(pem, tmp_path):
    (tmp_path / "corp").mkdir()
    (tmp_path / "corp" / "proxy.crt").write_text(pem["certificate"])
    (tmp_path / "auth-root.crt").write_text(pem["certificate"])  # a secret-looking name: still a public CA
    (tmp_path / "notes.txt").write_text("not a certificate")
    (tmp_path / "huge.crt").write_text(pem["certificate"] * 200)
    found = collector.extra_ca_certificates(str(tmp_path))
    assert set(found) == {"auth-root.crt", "corp/proxy.crt", "huge.crt"}
    assert found["corp/proxy.crt"] == pem["certificate"] and len(found["huge.crt"]) == collector.CA_FILE_LIMIT
    redacted, notes = collector.redact_document({"extra_ca_certificates": found})
    assert redacted["extra_ca_certificates"]["auth-root.crt"] == pem["certificate"] and notes == []


def test_a_private_key_planted_among_the_cas_is_redacted_and_the_certificate_kept(pem, tmp_path):
    (tmp_path / "bundle.crt").write_text(pem["certificate"] + pem["key"])
    found = collector.extra_ca_certificates(str(tmp_path))
    redacted, notes = collector.redact_document({"extra_ca_certificates": found})
    text = redacted["extra_ca_certificates"]["bundle.crt"]
    assert text == pem["certificate"] + marker(pem["key"].rstrip("\n")) + "\n"
    assert notes == [{"where": "extra_ca_certificates.bundle.crt", "why": "pem-private-key"}]
    # and again on import, from a hand-made collection that never went through the collector
    collection = parse_collection(json.dumps({"format": "reprokit-collection", "version": 1, "facts": {
        "extra_ca_certificates": {"bundle.crt": pem["certificate"] + pem["key"]}}}), source="c.json")
    assert collection.facts["extra_ca_certificates"]["bundle.crt"] == text
    result = to_environment(collection, name="x")
    assert result.data["ca_certificates"] == {"bundle": text} and "PRIVATE KEY-----\nMI" not in json.dumps(result.data)


# 'AKIA' + 16 capitals inside a certificate's base64 (it happens by chance), after a line with a real token.
LUCKY_BLOCK = "-----BEGIN CERTIFICATE-----\nMIIBAKIA" + "ABCDEFGHIJKLMNOP" + "QRST\n-----END CERTIFICATE-----\n"
LUCKY = "# fetched with Authorization: Bearer abc.def-ghi\n" + LUCKY_BLOCK


def test_value_patterns_skip_certificate_blocks_but_not_the_text_around_them():
    block, text = LUCKY_BLOCK, LUCKY
    redacted, notes = collector.redact_document({"extra_ca_certificates": {"x.crt": text}})
    assert redacted["extra_ca_certificates"]["x.crt"].endswith(block)  # 'AKIA' + 16 capitals, by chance, stays
    assert "abc.def-ghi" not in redacted["extra_ca_certificates"]["x.crt"]
    assert [n["why"] for n in notes] == ["bearer-token"]
    assert collector.redact_text(block, "env.X", []) != block  # elsewhere the same text is a cloud key


def test_a_private_key_in_an_env_var_is_still_redacted_by_both_collectors(pem, tmp_path):
    script_py, script_sh = tmp_path / "c.py", tmp_path / "c.sh"
    script_py.write_text(collector_script())
    script_sh.write_text(collector_script(sh=True))
    for command in ([sys.executable, str(script_py), "--python", "/bin/false"], ["sh", str(script_sh)]):
        document, _, _ = run_collector([*command, *QUICK], env={"TLS_MATERIAL": pem["key"]})
        assert "PRIVATE KEY-----\nMI" not in json.dumps(document), command
        assert document["facts"]["env"]["TLS_MATERIAL"].startswith("<redacted:")
        assert {"where": "env.TLS_MATERIAL", "why": "pem-private-key"} in document["redactions"]


def test_the_sh_collectors_awk_keeps_certificates_and_redacts_a_planted_key(pem, tmp_path):
    """The CA folder of the sh collector is fixed (/usr/local/share/ca-certificates), so its awk is fed directly."""
    rendered = collector_script(sh=True)
    (tmp_path / "redact.awk").write_text(rendered.split("<<'AWK'\n", 1)[1].split("\nAWK\n", 1)[0])
    sections = (f"@@reprokit-section pem corp/bundle.crt\n{pem['certificate']}{pem['key']}"
                f"@@reprokit-section pem auth-root.crt\n{pem['certificate']}"
                f"@@reprokit-section pem lucky.crt\n{LUCKY}"
                "@@reprokit-section number time_epoch\n1700000000\n@@reprokit-section bool root_read_only\nyes\n"
                "@@reprokit-section kv etc_hosts\nauth.acme.internal=10.1.2.4\n")
    done = subprocess.run(["awk", "-v", f"hashfile={tmp_path / 'hash'}", "-v", "allow_list=", "-v", "collected_at=x",
                           "-f", str(tmp_path / "redact.awk")], input=sections, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "LC_ALL": "C"})
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    expected, notes = collector.redact_document({"extra_ca_certificates": {
        "corp/bundle.crt": pem["certificate"] + pem["key"].rstrip("\n"), "auth-root.crt": pem["certificate"].rstrip("\n"),
        "lucky.crt": LUCKY.rstrip("\n")}})
    assert document["facts"]["extra_ca_certificates"] == expected["extra_ca_certificates"]
    assert document["facts"]["time_epoch"] == 1700000000 and document["facts"]["root_read_only"] is None
    assert document["facts"]["etc_hosts"] == {"auth.acme.internal": "10.1.2.4"}
    assert document["redactions"] == notes


# -- import: the spec fields the new facts become --------------------------------------------------------------

FOREIGN = {"amd64": ("aarch64", "arm64"), "arm64": ("x86_64", "amd64")}[host_arch()]


def customer(pem: str, **extra) -> str:
    facts = {"os_release": {"ID": "debian", "VERSION_CODENAME": "bookworm"}, "arch": FOREIGN[0],
             "ulimits": {"nofile": "256", "nproc": "4096", "stack_kib": "8192"}, "shm_kib": 16384,
             "root_read_only": True, "tmpfs_mounts": {"/tmp": "16384k", "/dev/shm": "16384k", "/var/run": "4k"},
             "hostname": "acme-app01", "umask": "0077", "extra_ca_certificates": {"corp/proxy root.crt": pem},
             "etc_hosts": {"billing.acme.internal": "10.1.2.3"}, "time_epoch": 1796032800.0, **extra}
    return json.dumps({"format": "reprokit-collection", "version": 1, "collector": "python",
                       "collected_at": "2026-11-30T10:00:00+0000", "facts": facts})


TICKET = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)  # == time_epoch above


def test_the_new_facts_become_the_new_spec_fields(pem):
    result = to_environment(parse_collection(customer(pem["certificate"]), source="c.json"), name="acme")
    data = result.data
    assert data["limits"]["nofile"] == 256 and data["limits"]["shm"] == "16m"
    assert data["read_only"] is True and data["tmpfs"] == {"/tmp": "16m", "/var/run": "4k"}
    assert data["hostname"] == "acme-app01" and data["umask"] == "0077" and data["arch"] == FOREIGN[1]
    assert data["ca_certificates"] == {"corp-proxy-root": pem["certificate"]}
    assert data["hosts"] == {"billing.acme.internal": "10.1.2.3"}
    assert "clock" not in data  # no --collected-at: nothing to compare the machine's clock with
    assert not any("ulimit nofile" in line for line in result.unreproducible)
    assert any("ulimit nproc=4096" in line for line in result.unreproducible)


def test_a_clock_further_off_than_the_threshold_becomes_clock(pem):
    collection = parse_collection(customer(pem["certificate"]), source="c.json")
    off = to_environment(collection, name="acme", collected_at=TICKET + timedelta(days=400))
    assert off.data["clock"] == "-400d"
    assert f"more than {THRESHOLD_S} s from --collected-at" in off.data["description"]
    near = to_environment(collection, name="acme", collected_at=TICKET + timedelta(seconds=THRESHOLD_S - 60))
    assert "clock" not in near.data
    with pytest.raises(InvalidValue, match="has no time zone"):
        to_environment(collection, name="acme", collected_at=datetime(2026, 11, 30, 10, 0))


def test_the_imported_environment_is_written_and_loads_back_with_every_new_field(pem, tmp_path):
    collection = parse_collection(customer(pem["certificate"]), source="c.json")
    path = write_environment(to_environment(collection, name="acme", collected_at=TICKET - timedelta(days=2)),
                             name="acme", root=tmp_path)
    assert "-----BEGIN CERTIFICATE-----\n" in path.read_text()  # a literal block, readable in a review
    spec = load_environment("acme", root=tmp_path)
    assert (spec.limits.nofile, spec.limits.shm, spec.read_only, dict(spec.tmpfs)) == \
        (256, "16m", True, {"/tmp": "16m", "/var/run": "4k"})
    assert (spec.hostname, spec.umask, spec.arch, spec.clock) == ("acme-app01", "0077", FOREIGN[1], "+2d")
    assert list(spec.ca_certificates.values()) == [pem["certificate"]]
    assert dict(spec.hosts) == {"billing.acme.internal": "10.1.2.3"}


def reprokit(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    offline = ["--no-mirror-check"] if arguments[:2] == ("env", "import") else []  # unit tests need no engine
    return subprocess.run([sys.executable, "-m", "reprokit", *arguments, *offline, "-C", str(cwd)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_env_import_compares_the_clock_with_collected_at_and_says_so(pem, tmp_path):
    (tmp_path / "c.json").write_text(customer(pem["certificate"]))
    far = reprokit("env", "import", str(tmp_path / "c.json"), "--name", "far", "--collected-at",
                   "2027-01-04T15:30:00+05:30", cwd=tmp_path)
    assert far.returncode == 0, far.stderr
    assert load_environment("far", root=tmp_path).clock == "-35d" and f"more than {THRESHOLD_S} s" in far.stdout
    near = reprokit("env", "import", str(tmp_path / "c.json"), "--name", "near", "--collected-at",
                    "2026-11-30T10:05:00Z", cwd=tmp_path)
    assert near.returncode == 0 and load_environment("near", root=tmp_path).clock is None
    assert f"clock: -300 s from --collected-at, within {THRESHOLD_S} s: not set" in near.stdout
    plain = reprokit("env", "import", str(tmp_path / "c.json"), "--name", "plain", cwd=tmp_path)
    assert plain.returncode == 0 and "give --collected-at" in plain.stdout


@pytest.mark.parametrize("value", ["yesterday", "2026-11-30T10:00:00", "2026-13-01T00:00:00Z"])
def test_a_bad_collected_at_is_refused_naming_the_option_the_value_and_an_example(value, pem, tmp_path):
    (tmp_path / "c.json").write_text(customer(pem["certificate"]))
    bad = reprokit("env", "import", str(tmp_path / "c.json"), "--name", "x", "--collected-at", value, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert f"--collected-at {value!r}" in bad.stderr and "2026-11-30T10:00:00Z" in bad.stderr
    assert not (tmp_path / "environments" / "x.yaml").exists()
