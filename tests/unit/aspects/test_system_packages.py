"""The system_packages aspect (moved; tests/unit/test_load.py covers merging): Debian packages, pins honoured."""
from __future__ import annotations

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.system_packages import SystemPackages
from reprokit.image.render import render
from reprokit.isolate.atoms import hybrid

SYSTEM_PACKAGES = SystemPackages()


def test_a_pip_style_pin_is_refused_at_its_index_with_the_apt_style_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nsystem_packages: [sqlite3, 'curl==7.88']\n")
    assert message == ("environments/bad.yaml:2: system_packages[1]: 'curl==7.88' is not a Debian package spec; "
                       "did you mean 'curl=7.88'?")


def test_a_childs_pin_replaces_the_parents_by_package_name_and_remove_drops_one(tmp_path):
    base = "os: debian:bookworm\nsystem_packages: [sqlite3, curl]\n"
    assert load(tmp_path, base=base, child="extends: base\nsystem_packages: ['curl=7.88.1-10']\n").system_packages == \
        ("sqlite3", "curl=7.88.1-10")
    assert load(tmp_path, base=base, child="extends: base\nremove: [system_packages.curl]\n").system_packages == \
        ("sqlite3",)


def test_packages_are_installed_after_the_platform_layer_with_downgrades_allowed():
    dockerfile = render(spec(system_packages=("libsqlite3-0=3.34.1-3",))).dockerfile
    assert dockerfile.index("python3 \\") < dockerfile.index("--allow-downgrades libsqlite3-0=3.34.1-3")


def test_check_names_a_pin_the_image_does_not_have():
    declared = spec(system_packages=("sqlite3", "libsqlite3-0=3.34.1-3"))
    facts = SYSTEM_PACKAGES.read_facts({"dpkg": ["sqlite3=3.40.1-2", "libsqlite3-0=3.40.1-2"]})
    assert SYSTEM_PACKAGES.check(declared, facts) == "system package libsqlite3-0=3.34.1-3: found 3.40.1-2"


def test_each_package_is_an_atom_and_a_hybrid_replaces_the_pin_in_place():
    baseline, customer = spec(system_packages=("sqlite3", "curl")), spec(system_packages=("sqlite3=3.34.1-3", "curl"))
    atom = atom_named(baseline, customer, "system_packages.sqlite3")
    assert (atom.baseline, atom.customer, atom.rebuild) == ("sqlite3", "sqlite3=3.34.1-3", True)
    assert hybrid(baseline, [atom]).system_packages == ("sqlite3=3.34.1-3", "curl")


def test_import_pins_what_was_added_to_the_base_system_and_lists_machine_packages():
    fields, lost = imported(SYSTEM_PACKAGES, {
        "os_release": {"ID": "debian"},
        "debian_packages": {"bash": "5.1-2", "sqlite3": "3.34.1-3", "linux-image-amd64": "5.10"},
        "debian_priorities": {"bash": "required", "sqlite3": "optional", "linux-image-amd64": "optional"}})
    assert fields == {"system_packages": ["sqlite3=3.34.1-3"]}
    assert lost == ["machine packages (kernel, firmware, boot): linux-image-amd64"]
