"""The workdir aspect (moved): where the steps run and the case's files are copied."""
from __future__ import annotations

from aspect_support import atom_named, load, load_error, spec
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid
from reprokit.run.box import container_config


def test_a_relative_workdir_is_refused_naming_file_line_and_value(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nworkdir: work\n")
    assert message.startswith("environments/bad.yaml:2: workdir: 'work' is not an absolute path inside the container")


def test_a_childs_workdir_replaces_the_parents(tmp_path):
    base = "os: debian:bookworm\nworkdir: /srv/app\n"
    assert load(tmp_path, base=base, child="extends: base\nworkdir: /opt/app\n").workdir == "/opt/app"


def test_the_workdir_is_set_in_the_image_and_stays_writable_on_a_read_only_root():
    assert render(spec(workdir="/srv/app")).dockerfile.rstrip().endswith("WORKDIR /srv/app")
    assert container_config(spec(workdir="/srv/app", read_only=True)).writable == ("/srv/app",)


def test_a_workdir_is_one_atom_and_a_hybrid_applies_it():
    atom = atom_named(spec(), spec(workdir="/srv/app"), "workdir")
    assert (atom.baseline, atom.customer, atom.rebuild) == ("/work", "/srv/app", True)
    assert hybrid(spec(), [atom]).workdir == "/srv/app"
