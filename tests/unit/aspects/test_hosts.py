"""The hosts aspect: extra /etc/hosts names the steps resolve, added when the container is created."""
from __future__ import annotations

from pathlib import Path

import pytest

from aspect_support import atom_named, imported, load, load_error, project, spec
from reprokit.aspects.hosts import Hosts
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid
from reprokit.isolate.isolation import environment_yaml
from reprokit.run.box import container_config
from reprokit.run.facts import not_in_effect, parse_facts
from reprokit.contract.load import load_environment

HOSTS = Hosts()

# /etc/hosts of a container created with --hostname acme-app01 --add-host billing.acme.internal:10.1.2.3.
ETC_HOSTS = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "10.1.2.3\tbilling.acme.internal", "172.17.0.2\tacme-app01"]
SECTIONS = {"etc_hosts": ETC_HOSTS, "own_hostname": ["acme-app01"]}


# -- validation -------------------------------------------------------------------------------------------------


def test_an_address_that_is_neither_an_ip_nor_a_service_is_refused_naming_file_line_field_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nhosts:\n  billing.acme.internal: '10.1.2.3.4/24'\n")
    assert message == ("environments/bad.yaml:2: hosts: billing.acme.internal: '10.1.2.3.4/24' is not an IP address "
                       "or a service name; write e.g. 10.1.2.3")


def test_a_name_that_is_not_a_hostname_is_refused(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nhosts: {'billing acme': 10.1.2.3}\n")
    assert message == ("environments/bad.yaml:2: hosts: 'billing acme' is not a hostname; write e.g. "
                       "'billing.acme.internal'")


# -- extends and remove -------------------------------------------------------------------------------------------


BASE = "os: debian:bookworm\nhosts: {billing.acme.internal: 10.1.2.3, ldap.acme.internal: 10.1.2.4}\n"


def test_a_childs_hosts_merge_with_the_parents_by_name(tmp_path):
    child = load(tmp_path, base=BASE,
                 child="extends: base\nhosts: {billing.acme.internal: 10.9.9.9, new.internal: ::1}\n")
    assert child.hosts == {"billing.acme.internal": "10.9.9.9", "ldap.acme.internal": "10.1.2.4", "new.internal": "::1"}


def test_remove_drops_one_inherited_name_even_though_it_has_dots(tmp_path):
    child = load(tmp_path, base=BASE, child="extends: base\nremove: [hosts.billing.acme.internal]\n")
    assert child.hosts == {"ldap.acme.internal": "10.1.2.4"}


# -- applied when the container is created -------------------------------------------------------------------------


def test_the_container_gets_the_names_that_point_at_an_ip():
    config = container_config(spec(hosts={"billing.acme.internal": "10.1.2.3", "v6.acme.internal": "fd00::1"}))
    assert config.hosts == {"billing.acme.internal": "10.1.2.3", "v6.acme.internal": "fd00::1"}
    assert container_config(spec()).hosts == {}


def test_hosts_change_nothing_in_the_image():
    assert render(spec(hosts={"billing.acme.internal": "10.1.2.3"})) == render(spec())


def test_a_host_naming_a_service_the_environment_lacks_is_refused_naming_field_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nhosts: {billing.acme.internal: db}\n")
    assert message.endswith("hosts.billing.acme.internal: 'db' is neither an IP address nor a service of this "
                            "environment (this environment has no services); write an IP such as 10.1.2.3 or a "
                            "service's name")


def test_a_host_naming_a_service_the_environment_lacks_is_refused_at_its_line(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nhosts: {billing.acme.internal: db}\n")
    assert message.startswith("environments/bad.yaml:2: hosts")


def test_a_host_naming_a_declared_service_is_left_to_the_services_network_not_to_etc_hosts():
    declared = spec(hosts={"billing.acme.internal": "db"}, services={"db": {"image": "postgres:15"}})
    assert container_config(declared).hosts == {}
    assert HOSTS.check(declared, HOSTS.read_facts(SECTIONS)) is None


# -- observed -------------------------------------------------------------------------------------------------


def test_read_facts_keeps_only_the_names_beyond_localhost_and_the_containers_own():
    assert HOSTS.read_facts(SECTIONS) == {"hosts": {"billing.acme.internal": "10.1.2.3"}}


def test_check_is_silent_when_etc_hosts_has_the_name_and_names_it_when_not():
    assert HOSTS.check(spec(hosts={"billing.acme.internal": "10.1.2.3"}), HOSTS.read_facts(SECTIONS)) is None
    declared = spec(hosts={"billing.acme.internal": "10.9.9.9", "ldap.acme.internal": "10.1.2.4"})
    assert not_in_effect(declared, HOSTS.read_facts(SECTIONS)) == \
        {"hosts": "/etc/hosts has billing.acme.internal -> 10.1.2.3, ldap.acme.internal -> absent"}


def test_a_declared_fqdn_of_the_containers_own_hostname_is_in_effect():
    declared = spec(hostname="app01", hosts={"app01.acme.internal": "10.0.0.5"})
    facts = parse_facts("\n@@reprokit-fact etc_hosts\n127.0.0.1\tlocalhost\n10.0.0.5\tapp01.acme.internal\n"
                        "172.17.0.2\tapp01\n@@reprokit-fact own_hostname\napp01\n@@reprokit-fact hostname\napp01\n")
    assert "hosts" not in not_in_effect(declared, facts)


# -- atoms -------------------------------------------------------------------------------------------------------


def test_each_name_is_an_atom_that_needs_no_rebuild_and_the_minimal_hybrid_file_loads_back(tmp_path):
    root = project(tmp_path, baseline="os: debian:bookworm\n")
    baseline = load_environment("baseline", root=root)
    atom = atom_named(baseline, spec(hosts={"billing.acme.internal": "10.1.2.3"}), "hosts.billing.acme.internal")
    assert (atom.field, atom.key, atom.customer, atom.rebuild) == ("hosts", "billing.acme.internal", "10.1.2.3", False)
    assert hybrid(baseline, [atom]).hosts == {"billing.acme.internal": "10.1.2.3"}
    project(root, minimal=environment_yaml(baseline, [atom], root=Path(root)))
    assert load_environment("minimal", root=root).hosts == {"billing.acme.internal": "10.1.2.3"}


def test_a_name_only_the_baseline_has_is_removed_in_the_minimal_hybrid_file(tmp_path):
    root = project(tmp_path, baseline=BASE)
    baseline = load_environment("baseline", root=root)
    atom = atom_named(baseline, spec(hosts={"ldap.acme.internal": "10.1.2.4"}), "hosts.billing.acme.internal")
    text = environment_yaml(baseline, [atom], root=Path(root))
    assert "remove:\n- hosts.billing.acme.internal\n" in text
    project(root, minimal=text)
    assert load_environment("minimal", root=root).hosts == {"ldap.acme.internal": "10.1.2.4"}


# -- import -------------------------------------------------------------------------------------------------------


def test_import_takes_the_customers_extra_names_but_not_loopback_or_localhost():
    fields, _ = imported(HOSTS, {"etc_hosts": {"billing.acme.internal": "10.1.2.3", "localhost": "10.0.0.1",
                                               "app.local": "127.0.1.1", "v6only": "::1", "bad name": "10.0.0.2"}})
    assert fields == {"hosts": {"billing.acme.internal": "10.1.2.3"}}
    assert imported(HOSTS, {"etc_hosts": {}})[0] == {}
