"""Import side of collect: collections, pip freezes and dpkg listings become environment specs."""
from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager

import pytest

from reprokit.collect.importer import (Collection, collector_script, from_image, parse_collection, reproducible_facts,
                              to_environment, write_environment)
from reprokit.engine import RunResult
from reprokit.errors import ReprokitError, SpecError
from reprokit.contract.load import load_environment
from reprokit.redact import marker


def collection(**facts) -> str:
    base = {"os_release": {"ID": "debian", "VERSION_CODENAME": "bullseye", "PRETTY_NAME": "Debian GNU/Linux 11"},
            "kernel": "5.10.0-21-amd64", "arch": "x86_64",
            "python": {"executable": "/usr/bin/python3", "version": "3.9.2", "pip_freeze": ["Jinja2==2.11.3"],
                       "distributions": {"jinja2": {"version": "2.11.3", "requires": ["markupsafe"]}}},
            "debian_packages": {"sqlite3": "3.34.1-3", "bash": "5.1-2"},
            "debian_priorities": {"sqlite3": "optional", "bash": "required"},
            "env": {"ACME_MODE": "strict", "HOME": "/root", "DB_PASSWORD": "hunter2"},
            "timezone": {"name": "Asia/Kolkata"}, "locale": {"LANG": "de_DE.UTF-8"},
            "user": {"name": "app", "uid": 1001, "gid": 1001},
            "cgroup": {"memory": str(256 << 20), "cpus": "1.5", "pids": "max"},
            "host": {"cpu_model": "Xeon", "cpu_count": 8, "selinux": "enforcing", "in_container": False}}
    base.update(facts)
    return json.dumps({"format": "reprokit-collection", "version": 1, "collector": "python", "facts": base})


def imported(text: str, **options):
    return to_environment(parse_collection(text, source="c.json"), name="acme", **options)


def test_a_collection_becomes_a_normalized_environment():
    data = imported(collection()).data
    assert data["os"] == "debian:bullseye" and data["python"] == "3.9"
    assert data["system_packages"] == ["sqlite3=3.34.1-3"]  # bash: nothing the app's python loads
    assert data["python_packages"] == ["Jinja2==2.11.3"]
    assert data["timezone"] == "Asia/Kolkata" and data["locale"] == "de_DE.UTF-8" and data["user"] == "1001:1001"
    assert data["limits"] == {"memory": "256m", "cpus": 1.5, "pids": None}
    assert "HOME" not in data["env"] and data["env"]["ACME_MODE"] == "strict"


def test_a_hand_made_collection_is_redacted_again_on_import():
    result = imported(collection())
    assert result.data["env"]["DB_PASSWORD"] == marker("hunter2") and "hunter2" not in json.dumps(result.data)
    assert result.placeholders == ("env.DB_PASSWORD",)
    assert [x.describe() for x in result.redactions.redactions] == ["env.DB_PASSWORD (secret name, on import)"]


def test_what_a_container_cannot_reproduce_is_listed_in_the_description():
    result = imported(collection())
    for fact in ("kernel 5.10.0-21-amd64", "CPU Xeon", "SELinux enforcing", "collected on a host"):
        assert any(fact in line for line in result.unreproducible), fact
        assert fact in result.data["description"]


def test_a_foreign_distro_is_listed_and_its_packages_not_pinned():
    text = collection(os_release={"ID": "ubuntu", "PRETTY_NAME": "Ubuntu 22.04 LTS"},
                      python={"version": "3.11.4", "pip_freeze": []})
    result = imported(text)
    assert result.data["os"] == "debian:bookworm" and "system_packages" not in result.data
    assert any("Ubuntu 22.04 LTS cannot be built here" in line for line in result.unreproducible)


def test_a_python_the_suite_does_not_provide_becomes_system_with_a_note():
    result = imported(collection(python={"executable": "/usr/local/bin/python3.10", "version": "3.10.12"}))
    assert result.data["python"] == "system"
    assert any("Python 3.10.12" in line for line in result.unreproducible)


def test_only_pins_the_dependency_closure_of_one_package():
    text = collection(python={"version": "3.9.2", "pip_freeze": ["Jinja2==2.11.3", "MarkupSafe==1.1.1", "six==1.16.0"],
                              "distributions": {"jinja2": {"requires": ["markupsafe"]}, "markupsafe": {"requires": []},
                                                "six": {"requires": []}}})
    assert imported(text, only="jinja2").data["python_packages"] == ["Jinja2==2.11.3", "MarkupSafe==1.1.1"]
    with pytest.raises(ReprokitError, match="has no 'flask'"):
        imported(text, only="Flask")


def test_named_system_packages_are_pinned_besides_what_the_app_feels():
    assert imported(collection(), system_packages=["ba*"]).data["system_packages"] == ["bash=5.1-2", "sqlite3=3.34.1-3"]
    listing = collection(debian_packages={"sqlite3": "3.34.1-3", "bash": "5.1-2", "curl": "7.74.0-1.3"})
    assert imported(listing, system_packages=["bash,curl"]).data["system_packages"] == \
        ["bash=5.1-2", "curl=7.74.0-1.3", "sqlite3=3.34.1-3"]


def test_a_pip_freeze_file_becomes_pinned_python_packages():
    result = imported("# pinned\nrequests==2.25.1\nidna==2.10  # via requests\n-e git+https://u:tok@git/x#egg=x\n")
    assert result.data["python_packages"] == ["requests==2.25.1", "idna==2.10"]
    assert "tok" not in json.dumps(result.data) + " ".join(result.unreproducible)
    assert result.data["os"] == "debian:bookworm" and any("editable" in line for line in result.unreproducible)


def test_a_dpkg_listing_names_its_debian_release():
    listing = ("Desired=Unknown/Install/Remove/Purge/Hold\n||/ Name Version Architecture Description\n"
               "+++-====-=======-============-===========\n"
               "ii  libsqlite3-0:amd64  3.34.1-3+deb11u1  amd64  SQLite 3 shared library\n"
               "ii  sqlite3  3.34.1-3+deb11u1  amd64  Command line interface for SQLite 3\n")
    result = imported(listing, system_packages=["sqlite3", "libsqlite3*"])
    assert result.data["os"] == "debian:bullseye"
    assert result.data["system_packages"] == ["libsqlite3-0=3.34.1-3+deb11u1", "sqlite3=3.34.1-3+deb11u1"]
    assert any("guessed" in line for line in result.unreproducible)


def test_an_unknown_format_version_is_a_spec_error_naming_the_field():
    with pytest.raises(SpecError, match="c.json: version: 9 is not a collection format"):
        parse_collection(json.dumps({"format": "reprokit-collection", "version": 9, "facts": {}}), source="c.json")


def test_the_written_spec_loads_and_marks_placeholders(tmp_path):
    path = write_environment(imported(collection()), name="acme", root=tmp_path)
    text = path.read_text()
    assert "DB_PASSWORD: <redacted:" in text and "# REDACTED by the collector" in text
    spec = load_environment("acme", root=tmp_path)
    assert spec.python_packages == ("Jinja2==2.11.3",) and "kernel" in spec.description
    with pytest.raises(ReprokitError, match="exists"):
        write_environment(imported(collection()), name="acme", root=tmp_path)


def test_reproducible_facts_ignore_what_containers_set_themselves():
    a = json.loads(collection())["facts"]
    b = {**a, "env": {**a["env"], "HOME": "/home/other"}, "kernel": "6.1"}
    assert reproducible_facts(a) == reproducible_facts(b)
    assert reproducible_facts(a) != reproducible_facts({**a, "timezone": {"name": "UTC"}})


class FakeContainer:
    id = "fake"

    def __init__(self, stdout):
        self.stdout, self.files, self.commands = stdout, {}, []

    def put_files(self, folder, files, *, owner=None):
        self.files.update({f"{folder}/{k}": v for k, v in files.items()})

    def exec(self, command, *, timeout, user=None, workdir=None, env=None):
        self.commands.append(command)
        return RunResult("collector", 0, self.stdout, "", 0.1)


class FakeEngine:
    def __init__(self, stdout):
        self.container, self.configs = FakeContainer(stdout), []

    def image_id(self, reference):
        return "sha256:1" if reference == "acme/app:1" else None

    def pull(self, reference):
        return False

    @contextmanager
    def start(self, image, config):
        self.configs.append((image, config))
        yield self.container


def test_from_image_runs_both_collectors_offline_in_a_container_of_the_image():
    engine = FakeEngine(collection())
    result = from_image("acme/app:1", files=["/etc/acme.ini"], engine=engine)
    assert isinstance(result, Collection) and result.kind == "image" and result.facts["kernel"]
    assert engine.configs[0][0] == "acme/app:1" and engine.configs[0][1].network == "none"
    assert set(engine.container.files) == {"/tmp/reprokit-collect.py", "/tmp/reprokit-collect.sh"}
    assert "--file /etc/acme.ini" in engine.container.commands[0]
    assert to_environment(result, name="x").data["limits"] == {}
    with pytest.raises(ReprokitError, match="not present"):
        from_image("missing:1", engine=engine)


def test_from_image_drops_what_describes_the_throwaway_container_rather_than_the_image():
    container = {"hostname": "3f4e5a6b7c8d", "etc_hosts": {"db": "172.17.0.3"}, "umask": "0077", "shm_kib": 65536,
                 "time_epoch": 1.0, "root_read_only": False, "tmpfs_mounts": {"/tmp": "4k"}}
    engine = FakeEngine(collection(**container, extra_ca_certificates={}))
    result = from_image("acme/app:1", engine=engine)
    assert not set(container) & set(result.facts) and "extra_ca_certificates" in result.facts
    data = to_environment(result, name="x").data
    assert not {"hostname", "hosts", "umask", "tmpfs", "read_only", "clock"} & set(data)


def test_the_cli_writes_a_runnable_collector_and_reports_user_mistakes_with_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "reprokit", "collect", "--script", str(tmp_path / "c.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and (tmp_path / "c.py").read_text() == collector_script()
    bad = subprocess.run([sys.executable, "-m", "reprokit", "env", "import", str(tmp_path / "none.json"), "--name", "x",
                          "-C", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "cannot read the file" in bad.stderr and "Traceback" not in bad.stderr


def test_what_a_customer_sent_is_a_kind_that_describes_itself():
    from reprokit.aspects.python_packages import Installer
    from reprokit.collect.importer import CollectionKind, parse_collection

    assert parse_collection("jinja2==3.1.4\n", source="freeze.txt").kind is CollectionKind.PIP_FREEZE
    assert all(kind.describe() for kind in (*CollectionKind, *Installer))
