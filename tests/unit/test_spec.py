"""The frozen spec models: what they accept, what they refuse, and what their hash covers."""
from __future__ import annotations

import pydantic
import pytest

from reprokit.contract.models import (Case, EnvironmentSpec, Limits, Signature, Verdict, debian_package_name,
                           pip_requirement_name)


def env(**fields) -> EnvironmentSpec:
    return EnvironmentSpec(**{"name": "t", "os": "debian:bookworm", **fields})


def test_defaults_give_every_container_memory_and_pids_limits():
    spec = env()
    assert (spec.limits.memory, spec.limits.pids, spec.network, spec.python, spec.workdir) == \
        ("2g", 1024, "bridge", "system", "/work")


def test_specs_are_frozen():
    with pytest.raises(pydantic.ValidationError):
        env().os = "debian:bullseye"


@pytest.mark.parametrize("requirement, name", [("Jinja2==2.11.3", "jinja2"), ("markupsafe", "markupsafe"),
                                               ("zope.interface>=5", "zope-interface"),
                                               ("requests[socks]==2.31.0", "requests")])
def test_pip_requirement_names_are_normalized(requirement, name):
    assert pip_requirement_name(requirement) == name


@pytest.mark.parametrize("package, name", [("sqlite3", "sqlite3"), ("libsqlite3-0=3.34.1-3+deb11u1", "libsqlite3-0"),
                                           ("libc6:amd64", "libc6")])
def test_debian_package_names_drop_version_and_arch(package, name):
    assert debian_package_name(package) == name


@pytest.mark.parametrize("field, value", [
    ("os", "Debian Bookworm"), ("python", "3"), ("python", "python3.9"), ("user", "root; rm -rf /"),
    ("timezone", "Asia/Kolkata; true"), ("locale", "de_DE.UTF-8 && true"), ("workdir", "work"),
    ("workdir", "/work/../etc"), ("env", {"1BAD": "x"}), ("files", {"etc/x": "y"}), ("network", "host"),
    ("system_packages", ("sqlite3", "sqlite3=3.40")), ("python_packages", ("flask", "Flask==2.0")),
])
def test_values_that_would_break_a_dockerfile_or_a_container_are_refused(field, value):
    with pytest.raises(pydantic.ValidationError):
        env(**{field: value})


def test_unknown_fields_are_refused():
    with pytest.raises(pydantic.ValidationError, match="extra"):
        env(limts={})


@pytest.mark.parametrize("limits", [{"memory": "lots"}, {"pids": 0}, {"cpus": 0}, {"cpus": 1000}])
def test_bad_limits_are_refused(limits):
    with pytest.raises(pydantic.ValidationError):
        Limits(**limits)


def test_content_hash_ignores_name_description_and_source_but_not_content():
    assert env().content_hash() == env(name="other", description="d").content_hash()
    assert env().content_hash() != env(env={"A": "1"}).content_hash()
    assert env().content_hash() != env(limits=Limits(memory="1g")).content_hash()


def test_a_signature_needs_at_least_one_field_and_a_valid_regex():
    with pytest.raises(pydantic.ValidationError, match="at least one"):
        Signature()
    with pytest.raises(pydantic.ValidationError, match="not a regular expression"):
        Signature(output_matches="(")
    assert Signature(exit_code="nonzero").exit_code == "nonzero"


def test_case_files_must_stay_inside_the_workdir():
    for path in ("/etc/passwd", "../x", "a/../../x"):
        with pytest.raises(pydantic.ValidationError, match="inside the workdir"):
            Case(id="X", title="t", environment=env(), baseline=env(), files={path: ""}, steps=[{"run": "true"}],
                 expect={"exit_code": 1})


def test_every_verdict_describes_itself():
    assert all(v.describe() for v in Verdict)
