"""The arch aspect: the CPU architecture, emulated with qemu-user where the host's differs."""
from __future__ import annotations

import pytest

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects import arch as arch_module
from reprokit.aspects.arch import Arch
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid
from reprokit.run.box import container_config
from reprokit.run.facts import not_in_effect

ARCH = Arch()


@pytest.fixture
def amd64_host(monkeypatch):
    """These tests mean the same on any build host: it is an amd64 one."""
    monkeypatch.setattr(arch_module, "host_arch", lambda: "amd64")


# -- validation -------------------------------------------------------------------------------------------------


def test_an_architecture_reprokit_cannot_build_is_refused_naming_file_line_field_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\narch: sparc\n")
    assert message == ("environments/bad.yaml:2: arch: 'sparc' is not an architecture reprokit can build; "
                       "write amd64 or arm64")


@pytest.mark.parametrize("written, meant", [("aarch64", "arm64"), ("ARM64", "arm64"), ("x86_64", "amd64")])
def test_uname_names_are_read_as_dockers(written, meant):
    assert spec(arch=written).arch == meant


def test_a_childs_arch_replaces_the_parents_and_remove_drops_it(tmp_path):
    base = "os: debian:bookworm\narch: arm64\n"
    assert load(tmp_path, base=base, child="extends: base\narch: amd64\n").arch == "amd64"
    assert load(tmp_path, base=base, child="extends: base\nremove: [arch]\n").arch is None


# -- built and applied ---------------------------------------------------------------------------------------------


def test_a_foreign_arch_builds_from_the_official_per_architecture_image(amd64_host):
    assert render(spec(arch="arm64")).dockerfile.startswith("FROM arm64v8/debian:bookworm\n")
    assert render(spec(os="docker.io/library/debian:bookworm", arch="arm64")).dockerfile.startswith(
        "FROM arm64v8/debian:bookworm\n")


@pytest.mark.parametrize("image, arch, reference", [
    ("debian:bookworm", "arm64", "arm64v8/debian:bookworm"),
    ("debian:bullseye", "arm64", "arm64v8/debian:bullseye"),
    ("docker.io/library/debian:trixie", "arm64", "arm64v8/debian:trixie"),
    ("debian:bookworm", "amd64", "debian:bookworm"),
    ("debian:bookworm", None, "debian:bookworm"),
])
def test_base_reference_maps_os_and_arch_to_a_tag_of_that_architecture(amd64_host, image, arch, reference):
    assert arch_module.base_reference(spec(os=image, arch=arch)) == reference


def test_on_an_arm64_host_the_foreign_architecture_is_amd64(monkeypatch):
    monkeypatch.setattr(arch_module, "host_arch", lambda: "arm64")
    assert arch_module.base_reference(spec(arch="amd64")) == "amd64/debian:bookworm"
    assert arch_module.base_reference(spec(arch="arm64")) == "debian:bookworm"


def test_the_hosts_own_arch_builds_from_the_image_as_declared(amd64_host):
    assert render(spec(arch="amd64")) == render(spec())


def test_a_foreign_arch_runs_its_containers_on_that_platform(amd64_host):
    assert container_config(spec(arch="arm64")).platform == "linux/arm64"
    assert container_config(spec(arch="amd64")).platform is None
    assert container_config(spec()).platform is None


def test_env_show_says_a_foreign_arch_runs_under_emulation_and_what_that_cannot_reproduce(amd64_host):
    [note] = ARCH.notes(spec(arch="arm64"))
    assert "this host is amd64" in note and "qemu-user emulation" in note and "arm64v8/debian:bookworm" in note
    assert "static binaries of the host's architecture run natively" in note and "page size" in note
    assert ARCH.notes(spec(arch="amd64")) == []


# -- observed -------------------------------------------------------------------------------------------------


def test_read_facts_says_emulated_when_the_shell_runs_inside_qemu():
    emulated = ARCH.read_facts({"arch": ["aarch64"], "emulator": ["/usr/bin/qemu-aarch64-static"]})
    assert emulated == {"arch": "aarch64", "emulated": "qemu-user"}
    # The host's interpreter, wherever it is installed (tonistiigi/binfmt's is /usr/bin/qemu-aarch64).
    assert ARCH.read_facts({"arch": ["aarch64"], "emulator": ["/usr/bin/qemu-aarch64"]}) \
        == {"arch": "aarch64", "emulated": "qemu-user"}


def test_read_facts_on_a_native_machine_has_no_emulated_fact():
    assert ARCH.read_facts({"arch": ["x86_64"], "emulator": ["/usr/bin/dash"]}) == {"arch": "x86_64"}
    assert ARCH.read_facts({"arch": ["aarch64"], "emulator": ["/bin/bash"]}) == {"arch": "aarch64"}
    assert ARCH.read_facts({"arch": ["x86_64"]}) == {"arch": "x86_64"}  # no readlink in the image


def test_the_emulator_is_read_by_a_child_of_the_shell_it_names():
    """qemu answers /proc/self/exe with the guest program; only another process's exe shows qemu, and `; :`
    keeps sh from exec'ing readlink in place of itself (which would make $$ readlink's own pid)."""
    assert "sh -c 'readlink /proc/$$/exe; :'" in ARCH.fact_script


def test_check_is_silent_when_uname_matches_and_names_it_when_not():
    assert ARCH.check(spec(arch="arm64"), ARCH.read_facts({"arch": ["aarch64"]})) is None
    assert not_in_effect(spec(arch="arm64"), ARCH.read_facts({"arch": ["x86_64"]})) == \
        {"arch": "arm64 declared, but `uname -m` says x86_64"}


# -- atoms -------------------------------------------------------------------------------------------------------


def test_an_arch_is_one_atom_that_needs_a_rebuild_and_a_hybrid_applies_it():
    atom = atom_named(spec(), spec(arch="arm64"), "arch")
    assert (atom.baseline, atom.customer, atom.rebuild) == (None, "arm64", True)
    assert hybrid(spec(), [atom]).arch == "arm64"


# -- import -------------------------------------------------------------------------------------------------------


def test_import_sets_a_foreign_arch_and_leaves_the_hosts_own_unset(amd64_host):
    assert imported(ARCH, {"arch": "aarch64"}) == ({"arch": "arm64"}, [])
    assert imported(ARCH, {"arch": "x86_64"}) == ({}, [])


def test_import_lists_an_architecture_that_cannot_be_built(amd64_host):
    assert imported(ARCH, {"arch": "ppc64le"}) == ({}, ["architecture ppc64le: only amd64 and arm64 can be built here"])
