"""The python aspect (moved; tests/unit/test_render.py covers the version checks): system or X.Y, the platform layer."""
from __future__ import annotations

from aspect_support import atom_named, load, load_error, spec
from reprokit.aspects.python import Python, python_version
from reprokit.image.render import render

PYTHON = Python()


def test_a_version_that_is_not_x_y_is_refused_naming_file_line_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\npython: '3'\n")
    assert message == "environments/bad.yaml:2: python: '3' is not 'system' or a version like '3.9'"


def test_a_childs_python_replaces_the_parents(tmp_path):
    base = "os: debian:bullseye\npython: '3.9'\n"
    assert load(tmp_path, base=base, child="extends: base\npython: system\n").python == "system"


def test_the_platform_layer_installs_python3_and_every_aspects_packages_once():
    [platform] = [line for line in render(spec(timezone="UTC", clock="+1d", python_packages=("flask",))).dockerfile
                  .splitlines() if "apt-get install" in line]
    assert "--allow-downgrades python3 python3-venv tzdata faketime " in platform


def test_the_version_of_system_python_is_the_suites():
    assert python_version(spec(os="debian:bullseye")) == "3.9" and python_version(spec(os="ubuntu:jammy")) is None


def test_check_names_the_python_found_when_it_is_not_the_declared_one():
    declared = spec(os="debian:bullseye", python="3.9")
    assert PYTHON.check(declared, PYTHON.read_facts({"python": ["3.9.2"]})) is None
    assert PYTHON.check(declared, PYTHON.read_facts({"python": ["3.11.2"]})) == "python 3.9: found 3.11.2"
    assert PYTHON.check(spec(), {"python": ""}) is None


def test_python_is_an_atom_that_needs_a_rebuild():
    assert atom_named(spec(os="debian:bullseye"), spec(os="debian:bullseye", python="3.9"), "python").rebuild is True
