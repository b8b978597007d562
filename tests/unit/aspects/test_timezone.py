"""The timezone aspect (moved; tests/unit/test_render.py covers its layer): /etc/localtime from tzdata."""
from __future__ import annotations

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.timezone import Timezone
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid

TIMEZONE = Timezone()


def test_a_zone_that_is_not_a_tz_database_name_is_refused_naming_file_line_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\ntimezone: Asia Kolkata\n")
    assert message == ("environments/bad.yaml:2: timezone: 'Asia Kolkata' is not a tz database name; write e.g. "
                       "'Asia/Kolkata' or 'UTC'")


def test_a_childs_zone_replaces_the_parents_and_remove_drops_it(tmp_path):
    base = "os: debian:bookworm\ntimezone: UTC\n"
    assert load(tmp_path, base=base, child="extends: base\ntimezone: Asia/Kolkata\n").timezone == "Asia/Kolkata"
    assert load(tmp_path, base=base, child="extends: base\nremove: [timezone]\n").timezone is None


def test_a_zone_adds_tzdata_to_the_platform_layer_and_links_localtime():
    dockerfile = render(spec(timezone="Asia/Kolkata")).dockerfile
    assert "python3 tzdata" in dockerfile and "ln -snf /usr/share/zoneinfo/Asia/Kolkata /etc/localtime" in dockerfile
    assert "tzdata" not in render(spec()).dockerfile


def test_check_is_silent_when_date_shows_the_zone_and_names_what_it_found_when_not():
    declared = spec(timezone="Asia/Kolkata")
    kolkata = TIMEZONE.read_facts({"timezone": ["IST +0530", "/usr/share/zoneinfo/Asia/Kolkata"]})
    assert TIMEZONE.check(declared, kolkata) is None
    assert TIMEZONE.check(declared, TIMEZONE.read_facts({"timezone": ["UTC +0000"]})) == \
        "timezone Asia/Kolkata: found UTC +0000"


def test_a_zone_is_one_atom_that_needs_a_rebuild():
    atom = atom_named(spec(timezone="UTC"), spec(timezone="Asia/Kolkata"), "timezone")
    assert (atom.baseline, atom.customer, atom.rebuild) == ("UTC", "Asia/Kolkata", True)
    assert hybrid(spec(timezone="UTC"), [atom]).timezone == "Asia/Kolkata"


def test_import_takes_a_zone_name_and_lists_a_path_it_cannot_use():
    assert imported(TIMEZONE, {"timezone": {"name": ":Europe/Berlin"}}) == ({"timezone": "Europe/Berlin"}, [])
    assert imported(TIMEZONE, {"timezone": {"name": "/etc/my-zone"}}) == \
        ({}, ["timezone '/etc/my-zone' is not a tz database name; not set"])
