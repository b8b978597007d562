"""The system_packages aspect (moved; tests/unit/test_load.py covers merging): Debian packages, pins honoured."""
from __future__ import annotations

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.system_packages import SystemPackages
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid

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


def test_all_system_packages_pins_what_was_added_to_the_base_system_and_lists_machine_packages():
    fields, lost = imported(SYSTEM_PACKAGES, all_system_packages=True, facts={
        "os_release": {"ID": "debian"},
        "debian_packages": {"bash": "5.1-2", "sqlite3": "3.34.1-3", "linux-image-amd64": "5.10"},
        "debian_priorities": {"bash": "required", "sqlite3": "optional", "linux-image-amd64": "optional"}})
    assert fields == {"system_packages": ["sqlite3=3.34.1-3"]}
    assert lost == ["machine packages (kernel, firmware, boot): linux-image-amd64"]


# -- import: what the app can feel, where it came from, what the mirror serves (issue 15) --------------------

from reprokit.aspects.base import ImportContext  # noqa: E402
from reprokit.collect.mirror import PackageIndex  # noqa: E402
from reprokit.collect.settle import Settled  # noqa: E402

HOST = {
    "os_release": {"ID": "debian", "VERSION_CODENAME": "bookworm"},
    "debian_packages": {"libpq5": "15.6-0+deb12u1", "libffi8": "3.4.4-1", "python3.11": "3.11.2-6+deb12u1",
                        "libssl-dev": "3.0.11-1~deb12u2", "gimp": "2.10.34-1", "nodejs": "20.11.0-1nodesource1",
                        "kubectl": "1.29.0-1.1", "zlib1g": "1:1.2.13.dfsg-1", "tzdata": "2024a-0+deb12u1"},
    "debian_origins": {"libpq5": [], "libffi8": ["Debian/bookworm@deb.debian.org"], "python3.11": [],
                       "libssl-dev": [], "gimp": ["Debian/bookworm@deb.debian.org"],
                       "nodejs": ["Node Source/nodistro@deb.nodesource.com"], "kubectl": [],
                       "zlib1g": ["Debian/bookworm@deb.debian.org"], "tzdata": []},
    "native_libraries": {"extensions": {"/venv/psycopg2/_psycopg.so": ["/lib/x86_64-linux-gnu/libpq.so.5"]},
                         "library_owners": {"/lib/x86_64-linux-gnu/libpq.so.5": "libpq5",
                                            "/lib/x86_64-linux-gnu/libffi.so.8": "libffi8",
                                            "/venv/numpy.libs/libopenblas.so": "",
                                            "/usr/lib/node/libnode.so.115": "nodejs"}}}
MIRROR = PackageIndex("debian:bookworm", {
    "libpq5": {"15.6-0+deb12u1": "bookworm", "15.8-0+deb12u1": "bookworm-security"},
    "libffi8": {"3.4.4-1": "bookworm"}, "python3.11": {"3.11.2-6+deb12u6": "bookworm-security"},
    "gimp": {"2.10.34-1": "bookworm"}, "nodejs": {"18.19.0+dfsg-6~deb12u2": "bookworm-security"},
    "zlib1g": {"1:1.2.13.dfsg-1": "bookworm"}, "tzdata": {"2023c-5+deb12u1": "bookworm"}})


def imported_host(facts=HOST, **options) -> tuple[dict, ImportContext]:
    context = ImportContext(facts, "collection", {"name": "acme", **options}, data={"os": "debian:bookworm"})
    return SYSTEM_PACKAGES.from_collection(context), context


def test_by_default_only_library_owners_and_behaviour_packages_are_pinned_and_the_rest_is_in_the_side_file():
    fields, context = imported_host()
    assert fields["system_packages"] == ["libffi8=3.4.4-1", "libpq5=15.6-0+deb12u1", "python3.11=3.11.2-6+deb12u1",
                                         "tzdata=2024a-0+deb12u1"]
    side = context.side_files["system-packages.txt"]
    assert "not pinned\tgimp=2.10.34-1\tthe app's python does not load it" in side
    assert "pinned\tlibpq5=15.6-0+deb12u1\towns libpq.so.5, which python extensions load" in side
    assert "not pinned\tlibssl-dev=3.0.11-1~deb12u2" in side  # headers: not felt at run time
    assert "4 of 9 installed pinned, 5 not" in context.notes[0] and "environments/acme.system-packages.txt" in \
        context.notes[0]


def test_a_package_from_another_repository_is_not_reproduced_and_says_how_to_have_it():
    fields, context = imported_host(system_packages=["nodejs,kubectl"], debian_index=lambda image: MIRROR)
    assert not any(p.startswith(("nodejs", "kubectl")) for p in fields["system_packages"])
    outside = next(line for line in context.lost if "from outside Debian" in line)
    assert "nodejs 20.11.0-1nodesource1 (other repository deb.nodesource.com)" in outside
    assert "kubectl 1.29.0-1.1 (local: no configured repository serves this version" in outside
    assert "install them in a case step or a base image that adds their repository" in outside


def test_the_mirror_check_pins_what_the_mirror_serves_and_keeps_the_customers_version_in_a_comment():
    fields, context = imported_host(debian_index=lambda image: MIRROR)
    assert "python3.11=3.11.2-6+deb12u6" in fields["system_packages"]  # deb12u1 is gone from the mirror
    assert "tzdata=2023c-5+deb12u1" in fields["system_packages"]  # the customer's is newer than the mirror's
    assert "system package python3.11: customer has 3.11.2-6+deb12u1 (no longer served by the mirror); pinned " \
           "3.11.2-6+deb12u6" in context.inexact
    assert "system package tzdata: customer has 2024a-0+deb12u1 (newer than the mirror's); pinned " \
           "2023c-5+deb12u1" in context.inexact
    assert context.comments["system_packages"]["python3.11"] == "customer: 3.11.2-6+deb12u1 (no longer served by " \
                                                                "the mirror)"
    assert "libpq5=15.6-0+deb12u1" in fields["system_packages"]  # still served: exactly the customer's


def test_a_debian_package_the_suite_does_not_have_is_listed_not_pinned():
    facts = {**HOST, "debian_packages": {**HOST["debian_packages"], "libpq5": "13.4-0+deb11u1"},
             "debian_origins": {**HOST["debian_origins"], "libpq5": ["Debian/bullseye@deb.debian.org"]}}
    index = PackageIndex("debian:bookworm", {k: v for k, v in MIRROR.versions.items() if k != "libpq5"})
    fields, context = imported_host(facts, debian_index=lambda image: index)
    assert not any(p.startswith("libpq5") for p in fields["system_packages"])
    assert "system package libpq5 13.4-0+deb11u1: debian:bookworm's suite has no such package" in context.lost


def test_a_local_build_newer_than_debians_is_not_taken_for_debians():
    facts = {**HOST, "debian_origins": {**HOST["debian_origins"], "nodejs": []}}
    fields, context = imported_host(facts, system_packages=["nodejs"], debian_index=lambda image: MIRROR)
    assert not any(p.startswith("nodejs") for p in fields["system_packages"])
    assert any("nodejs 20.11.0-1nodesource1 (local:" in line for line in context.lost)


def test_what_apts_simulation_settles_on_is_pinned_with_its_reason():
    def settle(image, pins, installed, index):
        return Settled([p for p in pins if not p.startswith("libffi8")] + ["libffi8=3.4.6-1"],
                       changed={"libffi8": ("3.4.4-1", "3.4.6-1", "libffi-dev needs libffi8 (= 3.4.6-1) but 3.4.4-1 "
                                                "is to be installed")})
    fields, context = imported_host(debian_index=lambda image: MIRROR, debian_settle=settle)
    assert "libffi8=3.4.6-1" in fields["system_packages"] and fields["system_packages"] == \
        sorted(fields["system_packages"])
    assert context.comments["system_packages"]["libffi8"] == "customer: 3.4.4-1, because libffi-dev needs libffi8 " \
                                                             "(= 3.4.6-1) but 3.4.4-1 is to be installed"
    assert "system package libffi8: customer has 3.4.4-1; pinned 3.4.6-1, because libffi-dev needs libffi8 " \
           "(= 3.4.6-1) but 3.4.4-1 is to be installed" in context.inexact


def test_many_packages_of_one_vendor_are_folded_so_every_other_one_is_still_named():
    cloud = {f"google-cloud-cli-{i}": "528.0.0-0" for i in range(14)}
    facts = {**HOST, "debian_packages": {**HOST["debian_packages"], "google-cloud-cli": "528.0.0-0", **cloud},
             "debian_origins": {**HOST["debian_origins"], "google-cloud-cli": [], **{k: [] for k in cloud}}}
    fields, context = imported_host(facts, debian_index=lambda image: MIRROR)
    line = next(line for line in context.lost if "other installed package(s)" in line)
    assert line == ("17 other installed package(s) from outside Debian, not pinned: google-cloud-cli (+14 "
                    "google-cloud-cli-*), kubectl, libssl-dev")  # nodejs, chosen (an extension loads its library), is listed apart
    assert any(line.startswith("1 chosen system package(s) from outside Debian: nodejs") for line in context.lost)
