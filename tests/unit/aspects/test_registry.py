"""The registry of aspects: what it promises (one owner per field, unique names and fact sections), and that a
dimension registered there reaches every stage of the pipeline with no other module edited."""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator

from aspect_support import PEM, atom_named, project, spec
from reprokit.aspects.base import Aspect, ImportContext, Layer, Merge, SpecField
from reprokit.aspects.registry import ASPECTS, aspect_of, spec_fields
from reprokit.case.compare import facts_diff, spec_diff
from reprokit.collect.importer import parse_collection, to_environment
from reprokit.errors import SpecError
from reprokit.image.render import render
from reprokit.aspects.atoms import atoms, hybrid
from reprokit.isolate.isolation import environment_yaml
from reprokit.run.facts import facts_script, not_in_effect, parse_facts, step_prelude
from reprokit.contract.load import dump_yaml, load_environment
from reprokit.contract.models import EnvironmentSpec, environment_model
from reprokit.contract.schema import environment_schema

LOADER_FIELDS = {"name", "description", "source"}
# Every dimension the second round added, declared at once, and the atoms they make.
NEW_DIMENSIONS = dict(limits={"nofile": 256, "shm": "16m"}, read_only=True, tmpfs={"/tmp": "16m"},
                      hostname="acme-app01", umask="0077", hosts={"billing.acme.internal": "10.1.2.3"},
                      clock="2028-01-01 00:00:00", arch="arm64", ca_certificates={"corp-root": PEM})
NEW_ATOMS = ["limits.nofile", "limits.shm", "read_only", "tmpfs./tmp", "hostname", "umask",
             "hosts.billing.acme.internal", "clock", "arch", "ca_certificates.corp-root"]


# -- what the registry promises -----------------------------------------------------------------------------------


def test_aspect_names_are_unique():
    names = [aspect.name for aspect in ASPECTS]
    assert len(names) == len(set(names)), names


def test_no_two_aspects_own_the_same_field():
    owned = [name for aspect in ASPECTS for name in aspect.fields]
    assert len(owned) == len(set(owned)), owned


def test_every_environment_field_but_name_description_and_source_is_owned_by_exactly_one_aspect():
    for name in set(EnvironmentSpec.model_fields) - LOADER_FIELDS:
        owners = [aspect.name for aspect in ASPECTS if name in aspect.fields]
        assert len(owners) == 1, f"{name} is owned by {owners or 'no aspect'}"
    assert set(spec_fields()) == set(EnvironmentSpec.model_fields) - LOADER_FIELDS


def test_aspect_of_names_the_owner_of_a_field():
    assert aspect_of("tmpfs").name == "read_only" and aspect_of("limits").name == "limits"
    with pytest.raises(KeyError):
        aspect_of("motd")


def test_every_package_list_says_how_to_read_a_package_name():
    for name, spec_field in spec_fields().items():
        if spec_field.merge is Merge.PACKAGES:
            assert callable(spec_field.name_of), name


def test_no_two_aspects_print_the_same_fact_section():
    sections = [section for aspect in ASPECTS for section in re.findall(r"\bsection (\w+)", aspect.fact_script)]
    assert len(sections) == len(set(sections)), sections


def test_the_json_schema_has_every_field_the_aspects_own():
    properties = environment_schema()["properties"]
    assert set(spec_fields()) <= set(properties)
    assert properties["ca_certificates"]["additionalProperties"]["anyOf"][1]["required"] == ["source"]


def test_atoms_list_every_new_dimension_and_only_the_image_changing_ones_need_a_rebuild():
    customer = spec(**NEW_DIMENSIONS)
    assert {a.name: a.rebuild for a in atoms(spec(), customer)} == {
        "limits.nofile": False, "limits.shm": False, "read_only": False, "tmpfs./tmp": False, "hostname": False,
        "umask": False, "hosts.billing.acme.internal": False,
        "clock": True, "arch": True, "ca_certificates.corp-root": True}


def test_a_hybrid_of_every_new_dimension_is_the_customer_environment_with_its_values_typed():
    customer = spec(**NEW_DIMENSIONS)
    applied = hybrid(spec(), atoms(spec(), customer))
    assert applied.content_hash() == customer.content_hash()
    assert type(applied.limits.nofile) is int and applied.read_only is True


@pytest.mark.parametrize("direction", ["added", "removed"])
@pytest.mark.parametrize("name", NEW_ATOMS)
def test_the_minimal_hybrid_file_of_a_new_dimension_atom_loads_back_as_that_hybrid(tmp_path, name, direction):
    """isolate writes the culprit as an environment file that extends the baseline: it must load, and be the
    hybrid the probe ran, whether the customer added the value or lacks the baseline's."""
    root = project(tmp_path, plain="os: debian:bookworm\n",
                   declared=dump_yaml({"os": "debian:bookworm", **NEW_DIMENSIONS}))
    plain, declared = load_environment("plain", root=root), load_environment("declared", root=root)
    baseline, customer = (plain, declared) if direction == "added" else (declared, plain)
    atom = atom_named(baseline, customer, name)
    project(root, minimal=environment_yaml(baseline, [atom], root=Path(root)))
    assert load_environment("minimal", root=root).content_hash() == hybrid(baseline, [atom]).content_hash()


# -- a toy aspect, registered by the test alone --------------------------------------------------------------------


def _one_line(value: str | None) -> str | None:
    if value is not None and "\n" in value:
        raise ValueError(f"{value!r} has a line break; a message of the day here is one line")
    return value


class Motd(Aspect):
    """`motd: text`: /etc/motd, and $MOTD in each step. Exists only in this test."""

    name = "motd"
    fields = {"motd": SpecField(Annotated[str | None, AfterValidator(_one_line)], None,
                                description="the message of the day")}
    layer = Layer.FILES
    fact_script = "section motd; cat /etc/motd 2>/dev/null"

    def render(self, spec, options) -> str:
        return f"RUN echo {shlex.quote(spec.motd)} > /etc/motd" if spec.motd else ""

    def step_prelude(self, spec) -> str:
        return f"export MOTD={shlex.quote(spec.motd)}" if spec.motd else ""

    def read_facts(self, sections) -> dict[str, Any]:
        return {"motd": " ".join(sections.get("motd", []))}

    def check(self, spec, facts) -> str | None:
        if spec.motd and facts.get("motd") != spec.motd:
            return f"{spec.motd!r} declared, /etc/motd says {facts.get('motd')!r}"
        return None

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        return {"motd": str(context.facts["motd"])} if context.facts.get("motd") else {}


@pytest.fixture
def motd():
    """The toy aspect in the registry for one test. Every stage imported the registry's list object itself, so
    registering means adding to that list (rebinding `registry.ASPECTS` would reach only some stages)."""
    aspect = Motd()
    ASPECTS.append(aspect)
    try:
        yield aspect
    finally:
        ASPECTS.remove(aspect)


def facts_printed(motd_text: str) -> str:
    """What facts_script() prints in a container whose /etc/motd holds ``motd_text`` (other sections empty)."""
    return f"\n@@reprokit-fact umask\n0022\n\n@@reprokit-fact motd\n{motd_text}\n"


def test_a_toy_aspect_registered_in_a_test_is_picked_up_by_the_whole_pipeline(tmp_path, motd):
    # load: the model has the field, YAML fills it, extends merges it, remove drops it
    root = project(tmp_path, baseline="os: debian:bookworm\n", acme="os: debian:bookworm\nmotd: Welcome to ACME\n",
                   night="extends: acme\nmotd: Closed for the night\n", plain="extends: acme\nremove: [motd]\n")
    assert "motd" in environment_model().model_fields
    baseline, customer = load_environment("baseline", root=root), load_environment("acme", root=root)
    assert customer.motd == "Welcome to ACME" and baseline.motd is None
    assert load_environment("night", root=root).motd == "Closed for the night"
    assert load_environment("plain", root=root).motd is None
    assert customer.content_hash() != load_environment("night", root=root).content_hash()

    # render: the fragment at its layer, after the files and before the workdir
    dockerfile = render(customer).dockerfile
    assert "RUN echo 'Welcome to ACME' > /etc/motd" in dockerfile
    assert dockerfile.index("/etc/motd") < dockerfile.index("WORKDIR /work")

    # run: each step's prelude; facts: its section printed, read back, and checked
    assert step_prelude(customer) == "export MOTD='Welcome to ACME'\n"
    assert "section motd; cat /etc/motd" in facts_script()
    assert parse_facts(facts_printed("Welcome to ACME"))["motd"] == "Welcome to ACME"
    assert "motd" not in not_in_effect(customer, parse_facts(facts_printed("Welcome to ACME")))
    assert not_in_effect(customer, parse_facts(facts_printed("Debian GNU/Linux"))) == \
        {"motd": "'Welcome to ACME' declared, /etc/motd says 'Debian GNU/Linux'"}
    assert {"fact": "motd", "baseline": "Debian GNU/Linux", "environment": "Welcome to ACME"} in \
        facts_diff(parse_facts(facts_printed("Debian GNU/Linux")), parse_facts(facts_printed("Welcome to ACME")))

    # isolate: an atom, in the declared diff, applied by a hybrid, written back as a loadable minimal file
    atom = atom_named(baseline, customer, "motd")
    assert (atom.baseline, atom.customer, atom.rebuild) == (None, "Welcome to ACME", True)
    assert spec_diff(baseline, customer) == \
        [{"field": "motd", "baseline": "(absent)", "environment": "Welcome to ACME"}]
    assert hybrid(baseline, [atom]).motd == "Welcome to ACME"
    project(root, minimal=environment_yaml(baseline, [atom], root=Path(root)))
    assert load_environment("minimal", root=root).content_hash() == hybrid(baseline, [atom]).content_hash()

    # schema and import
    assert environment_schema()["properties"]["motd"]["description"] == "the message of the day"
    collection = parse_collection('{"format": "reprokit-collection", "version": 1, "facts": {"motd": "Hello"}}',
                                  source="c.json")
    assert to_environment(collection, name="acme", os="debian:bookworm").data["motd"] == "Hello"


def test_a_toy_aspects_validation_errors_name_file_line_and_field(tmp_path, motd):
    root = project(tmp_path, bad='os: debian:bookworm\nmotd: "one\\ntwo"\n')
    with pytest.raises(SpecError) as caught:
        load_environment("bad", root=root)
    assert str(caught.value) == ("environments/bad.yaml:2: motd: 'one\\ntwo' has a line break; a message of the day "
                                 "here is one line")


def test_a_toy_aspect_is_gone_once_its_test_ends():
    assert "motd" not in spec_fields() and "motd" not in environment_model().model_fields
    assert "motd" not in facts_script() and all(aspect.name != "motd" for aspect in ASPECTS)
