"""The python_packages aspect (moved; tests/unit/test_render.py and test_collect.py cover more): pip pins in a venv."""
from __future__ import annotations

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.python_packages import VENV, PythonPackages
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid

PYTHON_PACKAGES = PythonPackages()


def test_a_single_equals_pin_is_refused_at_its_index_with_the_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\npython_packages: [flask, 'requests=2.25']\n")
    assert message == ("environments/bad.yaml:2: python_packages[1]: 'requests=2.25' is not a pip requirement; "
                       "did you mean 'requests==2.25'?")


def test_a_childs_pin_replaces_the_parents_by_normalized_name(tmp_path):
    base = "os: debian:bookworm\npython_packages: ['MarkupSafe==2.0.1', flask]\n"
    child = load(tmp_path, base=base, child="extends: base\npython_packages: ['markupsafe==2.1.0']\n")
    assert child.python_packages == ("markupsafe==2.1.0", "flask")


def test_packages_go_into_a_venv_first_on_path():
    dockerfile = render(spec(python_packages=("flask",))).dockerfile
    assert f"{VENV}/bin/pip install" in dockerfile and f"PATH={VENV}/bin:" in dockerfile


def test_check_names_a_pin_that_pip_freeze_does_not_show():
    declared = spec(python_packages=("markupsafe==2.1.0", "flask"))
    facts = PYTHON_PACKAGES.read_facts({"pip_freeze": ["MarkupSafe==2.0.1", "Flask==3.0.0"]})
    assert PYTHON_PACKAGES.check(declared, facts) == "python package markupsafe==2.1.0: found 2.0.1"


def test_each_package_is_an_atom_that_needs_a_rebuild():
    baseline, customer = spec(python_packages=("markupsafe==2.0.1",)), spec(python_packages=("markupsafe==2.1.0",))
    atom = atom_named(baseline, customer, "python_packages.markupsafe")
    assert (atom.customer, atom.rebuild) == ("markupsafe==2.1.0", True)
    assert hybrid(baseline, [atom]).python_packages == ("markupsafe==2.1.0",)


def test_import_takes_the_freeze_and_lists_editable_installs():
    fields, lost = imported(PYTHON_PACKAGES, {"python": {"pip_freeze": ["Jinja2==2.11.3", "-e git+https://x/y#egg=y"]}})
    assert fields == {"python_packages": ["Jinja2==2.11.3"]}
    assert lost == ["python package '-e git+https://x/y#egg=y': a local path or editable install; copy it into "
                    "the case"]
