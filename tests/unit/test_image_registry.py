"""Images through a registry (reprokit/engine/registry.py), with fake engines sharing a fake registry: no Docker."""
from __future__ import annotations

import warnings

import pytest

from fakes import FakeEngine, FakeRegistry
from reprokit.engine import Moved, Transfer
from reprokit.errors import InvalidValue, ReprokitWarning, SpecError
from reprokit.engine import registry as registry_module
from reprokit.image.base import Provision, bootstrap
from reprokit.image.base import ensure_base
from reprokit.image.build import build
from reprokit.engine.registry import Registry, configured, parse_address, use_registry
from reprokit.contract.models import EnvironmentSpec

ADDRESS = "127.0.0.1:5000/reprokit"


def env(**fields) -> EnvironmentSpec:
    return EnvironmentSpec(**{"name": "acme", "os": "debian:bookworm", **fields})


@pytest.fixture
def remote() -> FakeRegistry:
    use_registry(ADDRESS, source="test")
    return FakeRegistry()


def engines(remote: FakeRegistry) -> tuple[FakeEngine, FakeEngine]:
    """Engine A with the base images, engine B with none: two machines sharing one registry."""
    return FakeEngine(registry=remote, endpoint="fake://a"), FakeEngine(images={}, registry=remote, endpoint="fake://b")


# -- the address and where it is set ------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1:5000", "127.0.0.1:5000/reprokit/cache", "localhost:5000/x",
                                     "ghcr.io/acme/reprokit-cache", "registry.example.com", "[::1]:5000/a",
                                     "docker.io/acme"])
def test_registry_addresses_of_every_usual_form_are_accepted(address):
    assert parse_address(address + "/", source="--registry") == address


def test_an_address_with_a_scheme_is_refused_with_the_address_to_write_instead():
    with pytest.raises(InvalidValue) as caught:
        parse_address("https://ghcr.io/acme/cache", source="--registry")
    assert "without a scheme" in caught.value.message and "'ghcr.io/acme/cache'" in caught.value.hint


def test_an_address_carrying_credentials_is_refused_and_the_secret_is_not_repeated():
    with pytest.raises(InvalidValue) as caught:
        parse_address("bob:hunter2@registry.example.com/cache", source="REPROKIT_REGISTRY")
    assert "hunter2" not in str(caught.value) and "bob" not in str(caught.value)
    assert "docker login registry.example.com" in caught.value.hint


def test_an_address_without_a_registry_host_says_how_to_name_one():
    with pytest.raises(InvalidValue) as caught:
        parse_address("acme/cache", source="--registry")
    assert "'127.0.0.1:5000/acme/cache'" in caught.value.hint and "docker.io/acme/cache" in caught.value.hint


def test_an_uppercase_path_is_refused_with_its_lowercase_spelling():
    with pytest.raises(InvalidValue) as caught:
        parse_address("127.0.0.1:5000/Cache", source="--registry")
    assert "'cache'" in caught.value.hint


def test_the_option_wins_over_the_variable_and_the_files(tmp_path):
    (tmp_path / "reprokit.toml").write_text('registry = "127.0.0.1:5001/file"\n')
    environ = {"REPROKIT_REGISTRY": "127.0.0.1:5002/variable"}
    assert configured("127.0.0.1:5003/option", project_root=tmp_path, environ=environ) == \
        ("127.0.0.1:5003/option", "--registry")
    assert configured(None, project_root=tmp_path, environ=environ) == ("127.0.0.1:5002/variable", "REPROKIT_REGISTRY")
    assert configured(None, project_root=tmp_path, environ={}) == ("127.0.0.1:5001/file",
                                                                    str(tmp_path / "reprokit.toml"))


def test_an_empty_variable_or_option_means_no_registry_whatever_the_files_say(tmp_path):
    (tmp_path / "reprokit.toml").write_text('registry = "127.0.0.1:5001/file"\n')
    assert configured(None, project_root=tmp_path, environ={"REPROKIT_REGISTRY": ""})[0] is None
    assert configured("", project_root=tmp_path, environ={})[0] is None


def test_pyproject_tool_reprokit_sets_the_registry_when_there_is_no_reprokit_toml(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.reprokit]\nregistry = "ghcr.io/acme/c"\n')
    assert configured(None, project_root=tmp_path, environ={})[0] == "ghcr.io/acme/c"
    assert configured(None, project_root=tmp_path / "elsewhere", environ={}) == (None, "")


def test_a_registry_that_is_not_a_string_in_a_file_names_the_file_and_key(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.reprokit]\nregistry = 5000\n")
    with pytest.raises(SpecError) as caught:
        configured(None, project_root=tmp_path, environ={})
    assert "pyproject.toml" in str(caught.value) and "tool.reprokit.registry" in str(caught.value)


def test_a_bad_address_in_a_file_names_the_file(tmp_path):
    (tmp_path / "reprokit.toml").write_text('registry = "cache"\n')
    with pytest.raises(InvalidValue) as caught:
        configured(None, project_root=tmp_path, environ={})
    assert "reprokit.toml: registry" in caught.value.message


def test_local_names_map_to_names_under_the_registry():
    shared = Registry(ADDRESS)
    assert shared.remote("reprokit/env:abc") == f"{ADDRESS}/env:abc"
    assert shared.remote("reprokit/service:postgres-15-x") == f"{ADDRESS}/service:postgres-15-x"
    assert shared.remote("debian:bookworm") == shared.remote("docker.io/library/debian:bookworm") == \
        f"{ADDRESS}/debian:bookworm"


# -- builds through the registry ----------------------------------------------------------------------------


def test_a_second_engine_pulls_what_the_first_built_and_builds_nothing(remote):
    a, b = engines(remote)
    built = build(env(), engine=a)
    assert built.built and remote.pushes == [f"{ADDRESS}/debian:bookworm", f"{ADDRESS}/env:{built.tag.split(':')[1]}"]
    fetched = build(env(), engine=b)
    assert b.builds == [] and fetched.pulled and not fetched.built
    assert (fetched.tag, fetched.id) == (built.tag, built.id)  # the same image under the usual local name


def test_the_registry_name_is_only_a_tag_while_the_image_moves(remote):
    a, b = engines(remote)
    build(env(), engine=a)
    image = build(env(), engine=b)
    assert [t for t, i in b.tags.items() if i == image.id] == [image.tag]
    assert [t for t, i in a.tags.items() if i == image.id] == [image.tag]


def test_an_image_reused_from_the_engine_is_pushed_when_the_registry_lacks_it_and_looked_up_once(remote):
    a, _ = engines(remote)
    use_registry(None)
    image = build(env(), engine=a)  # built before the team had a registry
    use_registry(ADDRESS)
    for _ in range(3):
        build(env(), engine=a)
    assert remote.lookups == remote.pushes == [f"{ADDRESS}/env:{image.tag.split(':')[1]}"]


def test_a_registry_that_does_not_answer_costs_one_warning_and_every_image_is_built_locally(remote):
    remote.up = False
    a, _ = engines(remote)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = [build(env(env={"N": str(n)}), engine=a) for n in range(3)]
    said = [w for w in caught if issubclass(w.category, ReprokitWarning)]
    assert len(said) == 1 and "does not answer the engine at fake://a" in str(said[0].message)
    assert "connection refused" in str(said[0].message)
    assert all(image.built for image in images) and len(a.builds) == 3
    assert len([p for p in a.pulls if p.startswith(ADDRESS)]) == 1  # it was not asked again


def test_a_registry_that_disappears_mid_push_leaves_the_local_build_standing(remote):
    remote.fail_pushes_after = 1  # the base goes through, then the registry is gone
    a, _ = engines(remote)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = build(env(), engine=a)
        second = build(env(env={"N": "2"}), engine=a)
    assert first.built and second.built and a.image_id(first.tag) == first.id and a.image_id(second.tag)
    assert len([w for w in caught if issubclass(w.category, ReprokitWarning)]) == 1
    assert not any(tag.startswith(ADDRESS) for tag in a.tags)  # no registry name left behind


def test_a_push_the_registry_refuses_stops_pushes_but_pulls_go_on(remote, monkeypatch):
    a, b = engines(remote)
    build(env(), engine=a)
    monkeypatch.setattr(FakeEngine, "push", lambda self, ref: Transfer(Moved.UNREACHABLE, "denied: access denied"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build(env(env={"N": "2"}), engine=a)
        pulled = build(env(), engine=b)
    assert ["refused a push" in str(w.message) for w in caught] == [True]
    assert pulled.pulled and b.builds == []


def test_no_registry_means_no_registry_call(tmp_path):
    a = FakeEngine(registry=FakeRegistry())
    build(env(), engine=a)
    assert a.registry.pushes == [] and a.registry.lookups == [] and not any(":5000" in p for p in a.pulls)


# -- base images and service images travel too ----------------------------------------------------------------


def test_a_base_image_comes_from_the_registry_to_an_engine_without_it(remote):
    a, b = engines(remote)
    assert bootstrap("debian:bookworm", engine=a) is Provision.PRESENT  # offered: the registry lacked it
    assert remote.pushes == [f"{ADDRESS}/debian:bookworm"]
    assert bootstrap("debian:bookworm", engine=b) is Provision.PULLED
    assert b.image_id("debian:bookworm") == a.image_id("debian:bookworm")


def test_an_engine_without_the_base_builds_on_the_one_from_the_registry(remote):
    a, b = engines(remote)
    ensure_base(a, "debian:trixie")
    image = build(env(os="debian:trixie"), engine=b)
    assert image.built and b.image_id("debian:trixie") == "sha256:trixie"


def test_a_service_image_built_from_a_debian_recipe_is_pulled_by_the_next_engine(remote):
    from reprokit.services.images import service_image

    a, b = engines(remote)
    first = service_image("postgres:15", engine=a)
    assert len(a.builds) == 1 and first.tag.startswith("reprokit/service:")
    second = service_image("postgres:15", engine=b)
    assert b.builds == [] and second.tag == first.tag and b.image_id(second.tag) == a.image_id(first.tag)


def test_the_registry_module_reads_reprokit_registry_when_nothing_chose_one(monkeypatch):
    monkeypatch.setattr(registry_module, "_chosen", False)
    monkeypatch.setenv("REPROKIT_REGISTRY", "127.0.0.1:5009/x")
    assert registry_module.current_registry().address == "127.0.0.1:5009/x"


def test_pytest_cases_share_images_as_the_project_file_says_decided_once_per_project(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_module, "_projects", set())
    (tmp_path / "reprokit.toml").write_text('registry = "127.0.0.1:5000/from-file"\n')
    assert registry_module.use_registry_of(tmp_path).address == "127.0.0.1:5000/from-file"
    (tmp_path / "reprokit.toml").write_text('registry = "127.0.0.1:5000/changed"\n')
    assert registry_module.use_registry_of(tmp_path).address == "127.0.0.1:5000/from-file"
