"""The hostname aspect: the name the steps see, set when the container is created."""
from __future__ import annotations

import pytest

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.hostname import Hostname
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid
from reprokit.run.box import container_config
from reprokit.run.facts import not_in_effect

HOSTNAME = Hostname()


def test_a_hostname_with_an_underscore_is_refused_naming_file_line_field_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nhostname: acme_app01\n")
    assert message == ("environments/bad.yaml:2: hostname: 'acme_app01' is not a hostname; write letters, digits "
                       "and '-', e.g. 'acme-app01'")


def test_a_childs_hostname_replaces_the_parents_and_remove_drops_it(tmp_path):
    base = "os: debian:bookworm\nhostname: acme-app01\n"
    assert load(tmp_path, base=base, child="extends: base\nhostname: acme-app02\n").hostname == "acme-app02"
    assert load(tmp_path, base=base, child="extends: base\nremove: [hostname]\n").hostname is None


def test_the_container_is_created_with_the_declared_hostname():
    assert container_config(spec(hostname="acme-app01.example.com")).hostname == "acme-app01.example.com"
    assert container_config(spec()).hostname is None


def test_a_hostname_changes_nothing_in_the_image():
    assert render(spec(hostname="acme-app01")) == render(spec())


def test_read_facts_reads_the_kernels_hostname_and_hides_dockers_container_id():
    assert HOSTNAME.read_facts({"hostname": ["acme-app01"]}) == {"hostname": "acme-app01"}
    assert HOSTNAME.read_facts({"hostname": ["4f1c2d3e4a5b"]}) == {"hostname": "4f1c2d3e4a5b"}


def test_check_is_silent_when_the_hostname_took_effect_and_names_it_when_not():
    declared = spec(hostname="acme-app01")
    assert HOSTNAME.check(declared, HOSTNAME.read_facts({"hostname": ["acme-app01"]})) is None
    assert not_in_effect(declared, HOSTNAME.read_facts({"hostname": ["4f1c2d3e4a5b"]})) == \
        {"hostname": "'acme-app01' declared, the container's hostname is '4f1c2d3e4a5b'"}


def test_a_declared_hostname_that_looks_like_a_container_id_is_in_effect_when_the_container_has_it():
    fields, _ = imported(HOSTNAME, {"hostname": "3f4e5a6b7c8d"})  # a customer's app running in Docker
    declared = spec(**fields)
    assert HOSTNAME.check(declared, HOSTNAME.read_facts({"hostname": ["3f4e5a6b7c8d"]})) is None


def test_a_hostname_is_one_atom_that_needs_no_rebuild_and_a_hybrid_applies_it():
    customer = spec(hostname="acme-app01")
    atom = atom_named(spec(), customer, "hostname")
    assert (atom.baseline, atom.customer, atom.rebuild) == (None, "acme-app01", False)
    assert hybrid(spec(), [atom]).hostname == "acme-app01"


def test_import_takes_the_customers_hostname_unless_it_was_redacted():
    assert imported(HOSTNAME, {"hostname": "acme-app01"})[0] == {"hostname": "acme-app01"}
    assert imported(HOSTNAME, {"hostname": "<redacted:secret>"})[0] == {}
    assert imported(HOSTNAME, {})[0] == {}
