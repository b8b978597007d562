"""The network aspect (moved): bridge or none, set when the container is created."""
from __future__ import annotations

from aspect_support import atom_named, load, load_error, spec
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid
from reprokit.run.box import container_config


def test_a_network_other_than_bridge_or_none_is_refused_naming_file_line_and_the_choices(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nnetwork: host\n")
    assert message == "environments/bad.yaml:2: network: 'host': input should be 'bridge' or 'none'"


def test_a_childs_network_replaces_the_parents(tmp_path):
    base = "os: debian:bookworm\nnetwork: none\n"
    assert load(tmp_path, base=base, child="extends: base\nnetwork: bridge\n").network == "bridge"


def test_the_network_is_a_container_setting_not_part_of_the_image():
    assert container_config(spec(network="none")).network == "none"
    assert render(spec(network="none")) == render(spec())


def test_a_network_is_one_atom_that_needs_no_rebuild():
    atom = atom_named(spec(), spec(network="none"), "network")
    assert (atom.baseline, atom.customer, atom.rebuild) == ("bridge", "none", False)
    assert hybrid(spec(), [atom]).network == "none"
