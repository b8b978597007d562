"""The limits aspect: memory, cpus, pids, and the new nofile (soft = hard) and shm (/dev/shm size)."""
from __future__ import annotations

import json

import pytest

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.limits import MAX_NOFILE, LimitsAspect
from reprokit.collect.importer import parse_collection, to_environment
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid
from reprokit.run.box import container_config
from reprokit.run.facts import not_in_effect, parse_facts

LIMITS = LimitsAspect()

# What the limits fact script prints in a container started with --ulimit nofile=1024 and Docker's /dev/shm.
SECTIONS = {"memory_limit": ["268435456"], "pids_limit": ["1024"], "cpu_limit": ["max 100000"],
            "nofile": ["1024", "1024"], "shm": ["65536"]}


# -- validation -------------------------------------------------------------------------------------------------


def test_a_negative_nofile_is_refused_naming_file_line_field_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nlimits: {memory: 256m, nofile: -1}\n")
    assert message == ("environments/bad.yaml:2: limits.nofile: -1 is not a number of open files; write a whole "
                       f"number from 1 to {MAX_NOFILE}, e.g. 1024")


@pytest.mark.parametrize("value", ["0", str(MAX_NOFILE + 1), "1.5", "'1024'", "true"])
def test_nofile_must_be_a_whole_number_the_kernel_accepts(tmp_path, value):
    message = load_error(tmp_path, f"os: debian:bookworm\nlimits:\n  nofile: {value}\n")
    assert message.startswith("environments/bad.yaml:3: limits.nofile: ")
    assert "is not a number of open files; write a whole number from 1 to" in message


def test_an_shm_size_that_is_not_a_size_is_refused_naming_file_line_field_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nlimits:\n  memory: 1g\n  shm: lots\n")
    assert message == "environments/bad.yaml:4: limits.shm: 'lots' is not a size for /dev/shm; write e.g. '64m' or '1g'"


def test_an_shm_size_without_a_unit_or_quotes_is_refused_rather_than_read_as_bytes(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nlimits: {shm: 64}\n")
    assert message == "environments/bad.yaml:2: limits.shm: 64 is not a size for /dev/shm; write e.g. '64m' or '1g'"


def test_nofile_and_shm_are_unset_by_default_so_the_engine_decides():
    assert (spec().limits.nofile, spec().limits.shm) == (None, None)


# -- extends and remove -------------------------------------------------------------------------------------------


def test_a_childs_nofile_merges_with_the_parents_memory(tmp_path):
    child = load(tmp_path, base="os: debian:bookworm\nlimits: {memory: 256m, shm: 16m}\n",
                 child="extends: base\nlimits: {nofile: 256}\n")
    assert (child.limits.memory, child.limits.shm, child.limits.nofile) == ("256m", "16m", 256)


def test_remove_drops_an_inherited_nofile_and_keeps_the_other_limits(tmp_path):
    child = load(tmp_path, base="os: debian:bookworm\nlimits: {memory: 256m, nofile: 1024}\n",
                 child="extends: base\nremove: [limits.nofile]\n")
    assert (child.limits.memory, child.limits.nofile) == ("256m", None)


# -- applied when the container is created -------------------------------------------------------------------------


def test_the_container_gets_nofile_and_shm_beside_memory_and_pids():
    config = container_config(spec(limits={"memory": "256m", "nofile": 256, "shm": "16m"}))
    assert (config.memory, config.pids, config.nofile, config.shm) == ("256m", 1024, 256, "16m")


def test_undeclared_nofile_and_shm_leave_the_engines_defaults():
    config = container_config(spec())
    assert (config.nofile, config.shm) == (None, None)


def test_nofile_and_shm_change_nothing_in_the_image():
    assert render(spec(limits={"nofile": 256, "shm": "16m"})) == render(spec())


# -- observed -------------------------------------------------------------------------------------------------


def test_read_facts_reads_soft_and_hard_open_files_and_the_shm_size():
    facts = LIMITS.read_facts(SECTIONS)
    assert (facts["nofile"], facts["shm_kib"], facts["memory_limit"], facts["cpu_limit"]) == \
        ("1024/1024", "65536", "268435456", "max")


def test_check_is_silent_when_nofile_and_shm_took_effect():
    facts = LIMITS.read_facts({**SECTIONS, "nofile": ["256", "256"], "shm": ["16384"]})
    assert LIMITS.check(spec(limits={"memory": "256m", "nofile": 256, "shm": "16m"}), facts) is None


def test_check_names_the_open_files_limit_the_container_really_has():
    declared = spec(limits={"memory": "256m", "nofile": 256})
    assert LIMITS.check(declared, LIMITS.read_facts(SECTIONS)) == "nofile 256: `ulimit -n`/`ulimit -Hn` say 1024/1024"


def test_a_soft_limit_alone_is_not_the_declared_nofile_since_soft_and_hard_must_both_hold():
    declared = spec(limits={"memory": "256m", "nofile": 256})
    facts = LIMITS.read_facts({**SECTIONS, "nofile": ["256", "4096"]})
    assert LIMITS.check(declared, facts) == "nofile 256: `ulimit -n`/`ulimit -Hn` say 256/4096"


def test_check_names_the_shm_size_the_container_really_has():
    declared = spec(limits={"memory": "256m", "shm": "16m"})
    assert LIMITS.check(declared, LIMITS.read_facts(SECTIONS)) == "shm 16m: /dev/shm is 65536 KiB"


def test_a_nofile_that_did_not_take_effect_is_reported_under_the_limits_aspect():
    printed = "\n@@reprokit-fact nofile\n1024\n1024\n\n@@reprokit-fact shm\n65536\n"  # as facts_script() prints
    declared = spec(limits={"memory": "256m", "nofile": 256})
    assert not_in_effect(declared, parse_facts(printed)) == \
        {"limits": "nofile 256: `ulimit -n`/`ulimit -Hn` say 1024/1024"}


# -- atoms -------------------------------------------------------------------------------------------------------


def test_nofile_and_shm_are_atoms_of_their_own_that_need_no_rebuild():
    customer = spec(limits={"nofile": 256, "shm": "16m"})
    nofile, shm = atom_named(spec(), customer, "limits.nofile"), atom_named(spec(), customer, "limits.shm")
    assert (nofile.baseline, nofile.customer, nofile.rebuild) == (None, "256", False)
    assert (shm.baseline, shm.customer, shm.rebuild) == (None, "16m", False)


def test_a_hybrid_takes_the_customers_nofile_as_a_number_and_keeps_the_baselines_memory():
    baseline = spec(limits={"memory": "512m"})
    customer = spec(limits={"memory": "256m", "nofile": 256})
    applied = hybrid(baseline, [atom_named(baseline, customer, "limits.nofile")])
    assert (applied.limits.nofile, applied.limits.memory) == (256, "512m")
    assert type(applied.limits.nofile) is int


def test_a_limit_the_customer_lacks_is_no_limit_in_the_hybrid_not_the_default():
    baseline = spec(limits={"memory": "256m", "nofile": 4096})
    customer = spec(limits={"memory": "256m"})
    applied = hybrid(baseline, [atom_named(baseline, customer, "limits.nofile")])
    assert applied.limits.nofile is None


# -- import -------------------------------------------------------------------------------------------------------


def test_import_takes_the_customers_open_files_and_a_non_default_shm():
    fields, _ = imported(LIMITS, {"ulimits": {"nofile": "256", "nproc": "4096"}, "shm_kib": 16384})
    assert fields == {"limits": {"nofile": 256, "shm": "16m"}}


def test_import_leaves_out_unlimited_open_files_and_dockers_default_shm():
    fields, _ = imported(LIMITS, {"ulimits": {"nofile": "unlimited"}, "shm_kib": "65536"})
    assert fields == {"limits": {}}


def test_an_shm_that_is_not_whole_mebibytes_is_imported_in_kibibytes_and_loads():
    fields, _ = imported(LIMITS, {"shm_kib": "1000"})
    assert fields == {"limits": {"shm": "1000k"}}
    assert spec(**fields).limits.shm == "1000k"


def test_an_image_carries_no_limits_so_import_keeps_the_defaults():
    fields, _ = imported(LIMITS, {"ulimits": {"nofile": "256"}, "cgroup": {"memory": "268435456"}}, kind="image")
    assert fields == {"limits": {}}


def test_an_imported_nofile_is_not_also_listed_as_unreproducible():
    text = json.dumps({"format": "reprokit-collection", "version": 1, "facts": {
        "os_release": {"ID": "debian", "VERSION_CODENAME": "bookworm"}, "ulimits": {"nofile": "256"}}})
    result = to_environment(parse_collection(text, source="c.json"), name="acme")
    assert result.data["limits"]["nofile"] == 256
    assert not any("nofile" in line for line in result.unreproducible), result.unreproducible
