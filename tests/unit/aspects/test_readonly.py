"""The read_only aspect: a read-only root filesystem and writable tmpfs mounts, as in a hardened pod."""
from __future__ import annotations

from pathlib import Path

import pytest

from aspect_support import atom_named, imported, load, load_error, project, spec
from reprokit.aspects.readonly import ReadOnly
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid
from reprokit.isolate.isolation import environment_yaml
from reprokit.run.box import container_config
from reprokit.contract.load import load_environment

READ_ONLY = ReadOnly()

# /proc/mounts of a container started with --read-only --tmpfs /tmp:size=16m, as the fact script prints it.
SECTIONS = {"root_mount": ["ro"],
            "tmpfs": ["/dev rw,nosuid,size=65536k,mode=755", "/dev/shm rw,nosuid,nodev,noexec,relatime,size=65536k",
                      "/tmp rw,nosuid,nodev,relatime,size=16384k"]}


# -- validation -------------------------------------------------------------------------------------------------


def test_a_tmpfs_path_that_is_not_absolute_is_refused_naming_file_line_field_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nread_only: true\ntmpfs: {tmp: 16m}\n")
    assert message == "environments/bad.yaml:3: tmpfs: 'tmp' is not an absolute path; write e.g. '/tmp: 16m'"


def test_a_tmpfs_path_that_climbs_out_with_dotdot_is_refused(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\ntmpfs: {/tmp/../etc: 16m}\n")
    assert message.startswith("environments/bad.yaml:2: tmpfs: '/tmp/../etc' is not an absolute path inside the "
                              "container")


def test_a_tmpfs_size_that_is_not_a_size_is_refused_naming_the_path(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\ntmpfs:\n  /tmp: big\n")
    assert message == "environments/bad.yaml:2: tmpfs: /tmp: 'big' is not a size; write e.g. '16m' or '1g'"


def test_read_only_must_be_a_boolean(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nread_only: maybe\n")
    assert message.startswith("environments/bad.yaml:2: read_only: 'maybe': input should be a valid boolean")


# -- extends and remove -------------------------------------------------------------------------------------------


BASE = "os: debian:bookworm\nread_only: true\ntmpfs: {/tmp: 16m, /var/cache/app: 8m}\n"


def test_a_childs_tmpfs_merges_with_the_parents_by_path(tmp_path):
    child = load(tmp_path, base=BASE, child="extends: base\ntmpfs: {/tmp: 64m, /run/app: 1m}\n")
    assert child.read_only is True
    assert child.tmpfs == {"/tmp": "64m", "/var/cache/app": "8m", "/run/app": "1m"}


def test_remove_drops_one_inherited_tmpfs_mount(tmp_path):
    child = load(tmp_path, base=BASE, child="extends: base\nremove: [tmpfs./tmp]\n")
    assert child.tmpfs == {"/var/cache/app": "8m"}


def test_remove_of_read_only_gives_a_writable_root_again(tmp_path):
    assert load(tmp_path, base=BASE, child="extends: base\nremove: [read_only]\n").read_only is False


# -- applied when the container is created -------------------------------------------------------------------------


def test_a_read_only_root_keeps_the_workdir_writable_and_mounts_the_tmpfs():
    config = container_config(spec(read_only=True, tmpfs={"/tmp": "16m"}, workdir="/srv/app"))
    assert (config.read_only, config.writable, config.tmpfs) == (True, ("/srv/app",), {"/tmp": "16m"})


def test_tmpfs_mounts_alone_leave_the_root_writable():
    config = container_config(spec(tmpfs={"/tmp": "16m"}))
    assert (config.read_only, config.writable, config.tmpfs) == (False, (), {"/tmp": "16m"})


def test_read_only_and_tmpfs_change_nothing_in_the_image():
    assert render(spec(read_only=True, tmpfs={"/tmp": "16m"})) == render(spec())


def test_env_show_says_where_steps_can_write_on_a_read_only_root():
    [note] = READ_ONLY.notes(spec(read_only=True, tmpfs={"/tmp": "16m"}, workdir="/srv/app"))
    assert "the workdir /srv/app" in note and "except the tmpfs mounts /tmp" in note
    assert READ_ONLY.notes(spec()) == []


# -- observed -------------------------------------------------------------------------------------------------


def test_read_facts_reads_the_root_mount_and_only_the_tmpfs_mounts_a_spec_can_declare():
    facts = READ_ONLY.read_facts(SECTIONS)
    assert facts["root_filesystem"] == "ro" and facts["tmpfs"]["/tmp"] == "16384k"
    assert not [path for path in facts["tmpfs"] if path == "/dev" or path.startswith(("/proc/", "/sys/"))]


def test_check_is_silent_when_the_root_is_read_only_and_the_tmpfs_has_its_size():
    assert READ_ONLY.check(spec(read_only=True, tmpfs={"/tmp": "16m"}), READ_ONLY.read_facts(SECTIONS)) is None


def test_check_names_a_root_that_is_still_writable():
    facts = READ_ONLY.read_facts({**SECTIONS, "root_mount": ["rw"]})
    assert READ_ONLY.check(spec(read_only=True), facts) == "read_only declared, but / is mounted 'rw'"


def test_check_names_a_missing_tmpfs_and_one_of_another_size():
    facts = READ_ONLY.read_facts(SECTIONS)
    assert READ_ONLY.check(spec(tmpfs={"/tmp": "8m", "/var/cache/app": "1m"}), facts) == \
        "tmpfs /tmp: 8m declared, mounted with size 16384k; tmpfs /var/cache/app: not mounted"


def test_a_declared_tmpfs_at_run_that_is_mounted_is_in_effect():
    facts = READ_ONLY.read_facts({**SECTIONS, "tmpfs": [*SECTIONS["tmpfs"], "/run rw,nosuid,nodev,size=16384k"]})
    assert READ_ONLY.check(spec(read_only=True, tmpfs={"/run": "16m", "/tmp": "16m"}), facts) is None


# -- atoms -------------------------------------------------------------------------------------------------------


def test_read_only_and_each_tmpfs_are_atoms_that_need_no_rebuild():
    customer = spec(read_only=True, tmpfs={"/tmp": "16m"})
    read_only, tmp = atom_named(spec(), customer, "read_only"), atom_named(spec(), customer, "tmpfs./tmp")
    assert (read_only.baseline, read_only.customer, read_only.rebuild) == ("False", "True", False)
    assert (tmp.baseline, tmp.customer, tmp.rebuild) == (None, "16m", False)


def test_a_hybrid_gets_a_read_only_root_as_a_boolean():
    customer = spec(read_only=True, tmpfs={"/tmp": "16m"})
    applied = hybrid(spec(), [atom_named(spec(), customer, "read_only")])
    assert applied.read_only is True and applied.tmpfs == {}


def test_the_minimal_hybrid_file_declares_read_only_and_the_tmpfs_and_loads_back(tmp_path):
    root = project(tmp_path, baseline="os: debian:bookworm\n")
    baseline = load_environment("baseline", root=root)
    customer = spec(read_only=True, tmpfs={"/tmp": "16m"})
    found = [atom_named(baseline, customer, "read_only"), atom_named(baseline, customer, "tmpfs./tmp")]
    project(root, minimal=environment_yaml(baseline, found, root=Path(root)))
    loaded = load_environment("minimal", root=root)
    assert (loaded.read_only, loaded.tmpfs) == (True, {"/tmp": "16m"})
    assert loaded.content_hash() == hybrid(baseline, found).content_hash()


# -- import -------------------------------------------------------------------------------------------------------


def test_import_takes_a_read_only_root_and_the_applications_tmpfs_mounts_in_mebibytes():
    fields, _ = imported(READ_ONLY, {"root_read_only": True,
                                     "tmpfs_mounts": {"/tmp": "16384k", "/var/cache/app": "4k", "/dev/shm": "65536k",
                                                      "/run": "1638400k"}})
    assert fields == {"read_only": True, "tmpfs": {"/tmp": "16m", "/var/cache/app": "4k"}}
    assert spec(**fields).tmpfs == {"/tmp": "16m", "/var/cache/app": "4k"}


def test_import_of_a_writable_root_sets_no_read_only():
    fields, _ = imported(READ_ONLY, {"root_read_only": False, "tmpfs_mounts": {}})
    assert fields == {"tmpfs": {}}
