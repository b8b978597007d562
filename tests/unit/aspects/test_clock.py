"""The clock aspect: the time the steps see, an offset or an absolute start, faked with libfaketime."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from aspect_support import atom_named, imported, load, load_error, project, sh, spec
from reprokit.aspects.clock import THRESHOLD_S, Clock, faketime_shell, offset_seconds
from reprokit.collect.importer import parse_collection, to_environment
from reprokit.errors import SpecError
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid
from reprokit.run.facts import not_in_effect, step_prelude
from reprokit.contract.load import load_environment

CLOCK = Clock()
REAL = 1_700_000_000  # what `date -u +%s` says in these tests (2023-11-14 22:13:20 UTC)
START_2028 = 1_830_297_600  # 2028-01-01 00:00:00 UTC


def clock_sections(faked: int, real: int = REAL) -> dict:
    """What the clock fact script prints: the step's (faked) time, then the real one."""
    return {"clock": [str(faked), str(real)]}


def faketime_value(declared: str, *, now: int | None = REAL) -> str:
    """FAKETIME as a step's shell works it out, with `date` answering ``now`` (None: the host's real date)."""
    fake_date = f"date() {{ echo {now}; }}\n" if now is not None else ""
    return sh(fake_date + step_prelude(spec(clock=declared)) + 'printf %s "$FAKETIME"')


# -- validation -------------------------------------------------------------------------------------------------


def test_a_clock_that_is_neither_an_offset_nor_a_date_is_refused_naming_file_line_field_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nclock: tomorrow-ish\n")
    assert message == ("environments/bad.yaml:2: clock: 'tomorrow-ish' is not a clock; write an offset like "
                       "\"+400d\", \"-2h\", \"+90m\" (s, m, h, d, y) or an absolute start like "
                       "\"2028-01-01 00:00:00\" (UTC)")


def test_a_date_that_does_not_exist_is_refused(tmp_path):
    message = load_error(tmp_path, 'os: debian:bookworm\nclock: "2028-02-30 12:00:00"\n')
    assert message == ("environments/bad.yaml:2: clock: '2028-02-30 12:00:00' is not a real date and time "
                       "(day is out of range for month)")


def test_an_unquoted_absolute_clock_is_read_as_written_or_refused_naming_the_value_and_how_to_quote_it(tmp_path):
    project(tmp_path, bad="os: debian:bookworm\nclock: 2028-01-01 00:00:00\n")
    try:
        loaded = load_environment("bad", root=tmp_path)
    except SpecError as error:
        message = str(error)
        assert message.startswith("environments/bad.yaml:2: clock: ")
        assert "2028-01-01 00:00:00" in message and 'clock: "2028-01-01 00:00:00"' in message
    else:
        assert loaded.clock == "2028-01-01 00:00:00"


@pytest.mark.parametrize("declared, seconds", [("+400d", 400 * 86400), ("-2h", -7200), ("+90m", 5400),
                                               ("+30s", 30), ("+1y", 365 * 86400)])
def test_offsets_are_seconds_in_the_units_libfaketime_reads(declared, seconds):
    assert spec(clock=declared).clock == declared and offset_seconds(declared) == seconds


@pytest.mark.parametrize("declared", ["2028-01-01 00:00:00", "2028-01-01 08:30", "2028-01-01"])
def test_absolute_starts_are_kept_as_written_and_have_no_offset(declared):
    assert spec(clock=declared).clock == declared and offset_seconds(declared) is None


def test_a_childs_clock_replaces_the_parents_and_remove_drops_it(tmp_path):
    base = 'os: debian:bookworm\nclock: "+400d"\n'
    assert load(tmp_path, base=base, child='extends: base\nclock: "-2h"\n').clock == "-2h"
    assert load(tmp_path, base=base, child="extends: base\nremove: [clock]\n").clock is None


# -- built and applied ---------------------------------------------------------------------------------------------


def test_a_clock_adds_faketime_to_the_platform_layer():
    [platform] = [line for line in render(spec(clock="+400d")).dockerfile.splitlines() if "apt-get install" in line]
    assert "--allow-downgrades python3 faketime " in platform
    assert "faketime" not in render(spec()).dockerfile


def test_an_offset_is_handed_to_libfaketime_as_written_in_each_steps_shell():
    prelude = step_prelude(spec(clock="+400d"))
    assert "/faketime/libfaketime.so.1" in prelude and "FAKETIME='+400d'" in prelude
    assert faketime_value("+400d") == "+400d"


def test_an_absolute_start_becomes_the_offset_from_now_worked_out_when_the_step_starts():
    assert faketime_value("2028-01-01 00:00:00") == f"+{START_2028 - REAL}"


def test_an_absolute_start_in_the_past_becomes_a_negative_offset():
    assert faketime_value("2020-01-01") == f"-{REAL - 1_577_836_800}"


def test_an_absolute_start_against_the_hosts_real_date_is_the_seconds_until_that_start():
    before = int(time.time())
    offset = int(faketime_value("2028-01-01 00:00:00", now=None))
    assert START_2028 - int(time.time()) <= offset <= START_2028 - before


def test_the_absolute_offset_expression_is_plain_posix_arithmetic():
    assert faketime_shell("2028-01-01 00:00:00").startswith(f'"$(o=$(( {START_2028} - $(date -u +%s) ));')


def test_env_show_says_which_programs_the_faked_clock_cannot_reach():
    [note] = CLOCK.notes(spec(clock="+400d"))
    assert "statically linked programs" in note and "Go binaries" in note
    assert CLOCK.notes(spec()) == []


# -- observed -------------------------------------------------------------------------------------------------


def test_read_facts_shows_the_faked_time_and_the_offset_in_hours():
    assert CLOCK.read_facts(clock_sections(REAL + 400 * 86400)) == \
        {"clock": "faked: 2024-12-18 22:13 UTC", "clock_offset_h": "+9600"}


def test_read_facts_calls_an_unfaked_clock_the_hosts_and_ignores_garbage():
    assert CLOCK.read_facts(clock_sections(REAL + 1)) == {"clock": "host"}
    assert CLOCK.read_facts({"clock": ["Tue Jan  2 2028"]}) == {}


def test_check_is_silent_when_the_offset_took_effect():
    assert CLOCK.check(spec(clock="+400d"), CLOCK.read_facts(clock_sections(REAL + 400 * 86400 + 5))) is None


def test_check_names_a_step_clock_that_was_not_faked():
    assert not_in_effect(spec(clock="+400d"), CLOCK.read_facts(clock_sections(REAL))) == \
        {"clock": "+400d declared, but the steps see the host's clock (is libfaketime installed?)"}


def test_check_names_the_offset_the_steps_really_see():
    facts = CLOCK.read_facts(clock_sections(REAL - 400 * 86400))
    assert CLOCK.check(spec(clock="+400d"), facts) == "+400d declared, the steps' clock is off by -9600 h"


def test_check_compares_an_absolute_start_with_the_faked_date():
    declared = spec(clock="2028-01-01 00:00:00")
    assert CLOCK.check(declared, CLOCK.read_facts(clock_sections(START_2028 + 30))) is None
    assert CLOCK.check(declared, CLOCK.read_facts(clock_sections(START_2028 - 86400))) == \
        "2028-01-01 00:00:00 declared, the steps' clock says 2027-12-31 00:00 UTC"


def test_a_small_offset_that_took_effect_is_in_effect():
    assert CLOCK.check(spec(clock="+30s"), CLOCK.read_facts(clock_sections(REAL + 30))) is None


# -- atoms -------------------------------------------------------------------------------------------------------


def test_a_clock_is_one_atom_that_needs_a_rebuild_for_faketime_and_a_hybrid_applies_it():
    atom = atom_named(spec(), spec(clock="2028-01-01 00:00:00"), "clock")
    assert (atom.baseline, atom.customer, atom.rebuild) == (None, "2028-01-01 00:00:00", True)
    assert hybrid(spec(), [atom]).clock == "2028-01-01 00:00:00"


# -- import -------------------------------------------------------------------------------------------------------


def test_import_sets_the_clock_to_the_customers_drift_past_the_threshold_and_says_so():
    truth = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    machine = (truth + timedelta(days=400)).timestamp()
    fields, lost = imported(CLOCK, {"time_epoch": machine}, collected_at=truth)
    assert fields == {"clock": "+400d"}
    assert spec(**fields).clock == "+400d"
    assert lost == []  # a clock carried over is reproduced, not lost


def test_import_leaves_a_clock_within_the_threshold_alone():
    truth = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert imported(CLOCK, {"time_epoch": truth.timestamp() - THRESHOLD_S}, collected_at=truth) == ({}, [])


def test_env_import_compares_the_machines_clock_with_when_the_collection_was_really_taken():
    truth = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    text = json.dumps({"format": "reprokit-collection", "version": 1, "facts": {
        "os_release": {"ID": "debian", "VERSION_CODENAME": "bookworm"}, "time_epoch": truth.timestamp() - 3 * 86400}})
    result = to_environment(parse_collection(text, source="c.json"), name="acme", collected_at=truth)
    assert result.data["clock"] == "-3d"
    assert "clock: the customer's machine was -259200 s off" in result.data["description"]
    assert "clock" not in to_environment(parse_collection(text, source="c.json"), name="acme").data


def test_import_without_a_time_to_compare_with_sets_no_clock():
    assert imported(CLOCK, {"time_epoch": REAL}) == ({}, [])
    assert imported(CLOCK, {}, collected_at=datetime(2025, 3, 1, tzinfo=timezone.utc)) == ({}, [])
