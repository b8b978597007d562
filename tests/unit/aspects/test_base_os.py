"""The os aspect (moved; tests/unit/test_collect.py covers more of import): the base image, the first layer."""
from __future__ import annotations

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.base_os import BaseOS
from reprokit.image.render import render

BASE_OS = BaseOS()


def test_an_image_reference_with_spaces_is_refused_naming_file_line_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: Debian Bookworm\n")
    assert message == ("environments/bad.yaml:1: os: 'Debian Bookworm' is not an image reference; write e.g. "
                       "'debian:bookworm'")


def test_os_is_required_but_may_come_from_the_parent(tmp_path):
    assert load(tmp_path, base="os: debian:bullseye\n", child="extends: base\ntimezone: UTC\n").os == "debian:bullseye"
    assert load_error(tmp_path, "timezone: UTC\n") == "environments/bad.yaml: os: required field is missing"


def test_the_image_starts_from_the_declared_os():
    assert render(spec(os="debian:bullseye")).dockerfile.startswith("FROM debian:bullseye\n")


def test_read_facts_reads_the_pretty_name_and_the_kernel():
    facts = BASE_OS.read_facts({"os_release": ['PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"', "ID=debian"],
                                "kernel": ["6.1.0-18-amd64"]})
    assert facts == {"os": "Debian GNU/Linux 12 (bookworm)", "kernel": "6.1.0-18-amd64"}


def test_the_os_is_an_atom_that_needs_a_rebuild():
    assert atom_named(spec(), spec(os="debian:bullseye"), "os").rebuild is True


def test_import_maps_a_debian_release_to_its_suite_and_its_python():
    assert imported(BASE_OS, {"os_release": {"ID": "debian", "VERSION_ID": "11"}, "python": {"version": "3.9.2"}}) == \
        ({"os": "debian:bullseye", "python": "3.9"}, [])


def test_import_of_another_distro_chooses_the_suite_with_its_python_and_says_so():
    fields, lost = imported(BASE_OS, {"os_release": {"ID": "rhel", "PRETTY_NAME": "RHEL 9"},
                                      "python": {"version": "3.11.4"}})
    assert fields == {"os": "debian:bookworm", "python": "3.11"}
    assert lost == ["os: RHEL 9 cannot be built here; debian:bookworm chosen for its Python 3.11"]
