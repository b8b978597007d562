"""The locale aspect (moved; tests/unit/test_render.py covers its layer): generated in the image, LANG set."""
from __future__ import annotations

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.locale import Locale
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid

LOCALE = Locale()


def test_a_locale_that_is_not_one_is_refused_naming_file_line_value_and_fix(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nlocale: german\n")
    assert message == "environments/bad.yaml:2: locale: 'german' is not a locale; write e.g. 'de_DE.UTF-8'"


def test_a_childs_locale_replaces_the_parents_and_remove_drops_it(tmp_path):
    base = "os: debian:bookworm\nlocale: de_DE.UTF-8\n"
    assert load(tmp_path, base=base, child="extends: base\nlocale: C.UTF-8\n").locale == "C.UTF-8"
    assert load(tmp_path, base=base, child="extends: base\nremove: [locale]\n").locale is None


def test_a_generated_locale_needs_the_locales_package_and_c_does_not():
    assert LOCALE.platform_packages(spec(locale="de_DE.UTF-8")) == ["locales"]
    assert LOCALE.platform_packages(spec(locale="C.UTF-8")) == []
    assert "ENV LANG=C.UTF-8" in render(spec(locale="C.UTF-8")).dockerfile


def test_check_names_the_lang_the_container_really_has():
    declared = spec(locale="de_DE.UTF-8")
    assert LOCALE.check(declared, LOCALE.read_facts({"locale": ["de_DE.UTF-8"]})) is None
    assert LOCALE.check(declared, LOCALE.read_facts({"locale": ["C.UTF-8"]})) == "locale de_DE.UTF-8: found C.UTF-8"


def test_a_locale_is_one_atom_that_needs_a_rebuild():
    atom = atom_named(spec(), spec(locale="de_DE.UTF-8"), "locale")
    assert (atom.customer, atom.rebuild) == ("de_DE.UTF-8", True)
    assert hybrid(spec(), [atom]).locale == "de_DE.UTF-8"


def test_import_prefers_lc_all_says_it_overrides_lang_and_normalizes_utf8():
    fields, lost = imported(LOCALE, {"locale": {"LANG": "en_US.UTF-8", "LC_ALL": "de_DE.utf8"}})
    assert fields == {"locale": "de_DE.UTF-8"}
    assert lost == ["locale: LC_ALL=de_DE.utf8 overrides LANG=en_US.UTF-8; the image sets LANG only"]
