"""The ca_certificates aspect: extra CAs the customer's machine trusts, in the system store and in python."""
from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from aspect_support import PEM, atom_named, imported, load, load_error, project, spec
from reprokit.aspects.certs import STORE, Certificates, pem_certificates
from reprokit.errors import SpecError
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid
from reprokit.isolate.isolation import environment_yaml
from reprokit.run.facts import not_in_effect
from reprokit.contract.load import load_environment

CERTS = Certificates()
# A block that looks like PEM but holds no certificate.
NOT_A_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nZmFrZQ==\n-----END CERTIFICATE-----\n"


def test_the_fixture_is_one_real_certificate():
    assert pem_certificates(PEM) == [PEM.strip()]


# -- validation -------------------------------------------------------------------------------------------------


def test_a_ca_file_that_is_not_pem_is_refused_naming_file_line_field_and_how_to_convert_it(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nca_certificates:\n  corp-root: {source: corp-root.txt}\n",
                         **{"corp-root.txt": "ask IT for the certificate\n"})
    assert message == ("environments/bad.yaml:2: ca_certificates: corp-root: not a PEM certificate (no '-----BEGIN "
                       "CERTIFICATE-----' block); convert it with `openssl x509 -inform der -in corp-root.cer -out "
                       "corp-root.pem` and point `source:` at the .pem")


def test_a_pem_block_that_is_not_a_certificate_is_refused(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nca_certificates: {corp-root: {source: corp-root.pem}}\n",
                         **{"corp-root.pem": NOT_A_CERTIFICATE})
    assert message.startswith("environments/bad.yaml:2: ca_certificates: corp-root: not a PEM certificate (a "
                              "certificate block does not load")


def test_a_der_ca_file_is_converted_or_refused_with_the_command_that_converts_it(tmp_path):
    project(tmp_path, bad="os: debian:bookworm\nca_certificates: {corp-root: {source: corp-root.cer}}\n",
            **{"corp-root.cer": ssl.PEM_cert_to_DER_cert(PEM)})
    try:
        loaded = load_environment("bad", root=tmp_path)
    except SpecError as error:
        assert str(error).startswith("environments/bad.yaml:2: ca_certificates")
        assert "openssl x509 -inform der" in str(error)
    else:
        assert pem_certificates(loaded.ca_certificates["corp-root"]) == [PEM.strip()]


def test_a_certificate_name_that_cannot_be_a_file_name_is_refused(tmp_path):
    message = load_error(tmp_path, 'os: debian:bookworm\nca_certificates: {"corp root": {source: corp-root.pem}}\n',
                         **{"corp-root.pem": PEM})
    assert message == ("environments/bad.yaml:2: ca_certificates: 'corp root' is not a certificate name; use letters, "
                       "digits, '.', '_' and '-'")


def test_a_ca_source_is_read_relative_to_the_environment_file(tmp_path):
    acme = "os: debian:bookworm\nca_certificates: {corp-root: {source: corp-root.pem}}\n"
    loaded = load(tmp_path, name="acme", acme=acme, **{"corp-root.pem": PEM})
    assert loaded.ca_certificates == {"corp-root": PEM}


# -- extends and remove -------------------------------------------------------------------------------------------


def test_a_childs_cas_merge_with_the_parents_by_name_and_remove_drops_one(tmp_path):
    files = {"corp-root.pem": PEM,
             "base": "os: debian:bookworm\nca_certificates: {corp-root: {source: corp-root.pem}}\n"}
    child = load(tmp_path, child="extends: base\nca_certificates: {proxy: {source: corp-root.pem}}\n", **files)
    assert sorted(child.ca_certificates) == ["corp-root", "proxy"]
    assert load(tmp_path, child="extends: base\nremove: [ca_certificates.corp-root]\n", **files).ca_certificates == {}


# -- built -------------------------------------------------------------------------------------------------------


def test_cas_are_copied_trusted_by_the_system_and_appended_to_certifi_after_the_pip_layer():
    rendering = render(spec(python_packages=("requests==2.31.0",), ca_certificates={"corp-root": PEM}))
    dockerfile = rendering.dockerfile
    copy, update, certifi = (dockerfile.index(marker) for marker in (
        f"COPY ca-certificates/ {STORE}/", "update-ca-certificates", "import certifi; print(certifi.where())"))
    assert dockerfile.index("pip install") < copy < update < certifi
    assert f'cat {STORE}/*.crt >> "$bundle"' in dockerfile
    assert rendering.context["ca-certificates/corp-root.crt"] == PEM.encode()


def test_cas_add_ca_certificates_to_the_platform_layer():
    [platform] = [line for line in render(spec(ca_certificates={"corp-root": PEM})).dockerfile.splitlines()
                  if "apt-get install" in line]
    assert "ca-certificates" in platform.split()


def test_adding_another_ca_leaves_every_layer_before_the_ca_layer_unchanged():
    packages = ("requests==2.31.0",)
    one, two = (render(spec(python_packages=packages, ca_certificates=cas)).dockerfile
                for cas in ({"corp-root": PEM}, {"corp-root": PEM, "proxy": PEM}))
    cut = one.index("COPY ca-certificates/")
    assert two[:cut] == one[:cut]


def test_no_cas_add_nothing():
    rendering = render(spec())
    assert "ca-certificates" not in rendering.dockerfile and rendering.context == {}


# -- observed -------------------------------------------------------------------------------------------------


def test_check_is_silent_when_the_system_store_and_certifi_trust_the_ca():
    declared = spec(ca_certificates={"corp-root": PEM})
    for line in ("corp-root system=yes certifi=yes", "corp-root system=yes certifi=absent"):
        assert CERTS.check(declared, CERTS.read_facts({"ca_certificates": [line]})) is None


def test_check_names_a_ca_missing_from_the_system_store_or_from_certifi():
    declared = spec(ca_certificates={"corp-root": PEM, "proxy": PEM})
    facts = CERTS.read_facts({"ca_certificates": ["corp-root system=no certifi=yes", "proxy system=yes certifi=no"]})
    assert not_in_effect(declared, facts) == {"ca_certificates": "not trusted inside: corp-root, proxy"}
    assert CERTS.check(declared, {}) == "not trusted inside: corp-root, proxy"


# -- atoms -------------------------------------------------------------------------------------------------------


def test_each_ca_is_an_atom_that_needs_a_rebuild_and_the_minimal_hybrid_file_loads_back(tmp_path):
    root = project(tmp_path, baseline="os: debian:bookworm\n")
    baseline = load_environment("baseline", root=root)
    atom = atom_named(baseline, spec(ca_certificates={"corp-root": PEM}), "ca_certificates.corp-root")
    assert (atom.baseline, atom.customer, atom.rebuild) == (None, PEM, True)
    assert hybrid(baseline, [atom]).ca_certificates == {"corp-root": PEM}
    project(root, minimal=environment_yaml(baseline, [atom], root=Path(root)))
    assert load_environment("minimal", root=root).ca_certificates == {"corp-root": PEM}


# -- import -------------------------------------------------------------------------------------------------------


def test_import_takes_the_customers_added_cas_under_file_safe_names():
    fields, lost = imported(CERTS, {"extra_ca_certificates": {"corp-root.crt": PEM, "acme/proxy ca.crt": PEM}})
    assert fields == {"ca_certificates": {"corp-root": PEM, "acme-proxy-ca": PEM}} and lost == []
    assert sorted(spec(**fields).ca_certificates) == ["acme-proxy-ca", "corp-root"]


def test_import_lists_a_ca_that_is_not_a_certificate_and_leaves_it_out():
    fields, lost = imported(CERTS, {"extra_ca_certificates": {"broken.crt": NOT_A_CERTIFICATE}})
    assert fields == {} and lost == ["CA certificate broken.crt: not a readable PEM certificate; not imported"]
