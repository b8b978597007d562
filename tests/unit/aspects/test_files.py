"""The files aspect (moved; tests/unit/test_render.py and test_load.py cover more): files at absolute paths."""
from __future__ import annotations

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.files import Files
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid

FILES = Files()


def test_a_relative_file_path_is_refused_naming_file_line_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nfiles: {etc/app.ini: x}\n")
    assert message == ("environments/bad.yaml:2: files: 'etc/app.ini' is not an absolute path inside the container; "
                       "write e.g. '/etc/app.ini'")


def test_a_childs_files_merge_by_path_and_remove_drops_one(tmp_path):
    base = "os: debian:bookworm\nfiles: {/etc/a.ini: a, /etc/b.ini: b}\n"
    assert load(tmp_path, base=base, child="extends: base\nfiles: {/etc/a.ini: A}\n").files == \
        {"/etc/a.ini": "A", "/etc/b.ini": "b"}
    assert load(tmp_path, base=base, child="extends: base\nremove: [files./etc/a.ini]\n").files == {"/etc/b.ini": "b"}


def test_files_are_copied_one_folder_at_a_time_from_the_context_under_rootfs():
    rendering = render(spec(files={"/etc/acme/acme.ini": "timeout = 30\n", "/etc/acme/b.ini": "b\n", "/work/c": "c"}))
    # Files, not folders: a folder that exists (the workdir) keeps its owner and mode, as at container start.
    assert 'COPY ["rootfs/etc/acme/acme.ini", "rootfs/etc/acme/b.ini", "/etc/acme/"]\nCOPY ["rootfs/work/c", "/work/"]' \
        in rendering.dockerfile
    assert rendering.context == {"rootfs/etc/acme/acme.ini": b"timeout = 30\n", "rootfs/etc/acme/b.ini": b"b\n",
                                 "rootfs/work/c": b"c"}


def test_files_applied_at_start_get_the_owner_and_mode_the_image_copy_gives_them():
    from reprokit.aspects.files import Files
    from reprokit.engine import FileEntry

    entries = Files().start_files(spec(files={"/etc/acme/acme.ini": "x"}, user="app"))
    assert entries == {"/etc/acme/acme.ini": FileEntry(b"x", owner="0:0", mode=0o644)}
    assert Files().applied_at_start(spec(files={"/a": "x"})) and not Files().applied_at_start(
        spec(files={"/a": "x"}, read_only=True))


def test_a_file_is_an_atom_applied_at_container_start_without_a_rebuild():
    atom = atom_named(spec(), spec(files={"/etc/app.ini": "x"}), "files./etc/app.ini")
    assert (atom.customer, atom.rebuild, FILES.overlay) == ("x", False, True)
    assert hybrid(spec(), [atom]).files == {"/etc/app.ini": "x"}


def test_import_lists_a_file_the_collector_could_not_read_and_leaves_it_out():
    fields, lost = imported(FILES, {"files": {"/etc/app.ini": "x", "/etc/shadow": "<unreadable>"}})
    assert fields == {"files": {"/etc/app.ini": "x"}}
    assert lost == ["file /etc/shadow: the collector could not read it"]
