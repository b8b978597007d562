"""The umask aspect: the umask of the steps' processes, set in each step's own shell."""
from __future__ import annotations

from pathlib import Path

from aspect_support import atom_named, imported, load, load_error, project, sh, spec
from reprokit.aspects.umask import Umask
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid
from reprokit.isolate.isolation import environment_yaml
from reprokit.run.box import container_config
from reprokit.run.facts import not_in_effect, step_prelude
from reprokit.contract.load import load_environment

UMASK = Umask()


# -- validation -------------------------------------------------------------------------------------------------


def test_an_unquoted_umask_is_refused_since_yaml_reads_it_as_a_number(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\numask: 0077\n")
    assert message == 'environments/bad.yaml:2: umask: 77 was read as a number; quote the umask, e.g. umask: "0077"'


def test_a_umask_with_a_digit_that_is_not_octal_is_refused(tmp_path):
    message = load_error(tmp_path, 'os: debian:bookworm\numask: "0089"\n')
    assert message == "environments/bad.yaml:2: umask: '0089' is not an octal umask; write e.g. \"0077\" or \"022\""


def test_a_three_digit_umask_is_kept_as_four_digits():
    assert spec(umask="077").umask == "0077"


def test_a_childs_umask_replaces_the_parents_and_remove_drops_it(tmp_path):
    base = 'os: debian:bookworm\numask: "0077"\n'
    assert load(tmp_path, base=base, child='extends: base\numask: "0027"\n').umask == "0027"
    assert load(tmp_path, base=base, child="extends: base\nremove: [umask]\n").umask is None


# -- applied in each step's shell ----------------------------------------------------------------------------------


def test_the_step_prelude_sets_the_umask_and_files_a_step_creates_get_it(tmp_path):
    prelude = step_prelude(spec(umask="0077"))
    assert prelude == "umask 0077\n"
    assert sh(prelude + "umask; touch made-by-step; stat -c %a made-by-step", cwd=tmp_path) == "0077\n600\n"


def test_no_umask_declared_means_no_prelude():
    assert UMASK.step_prelude(spec()) == ""


def test_a_umask_changes_neither_the_image_nor_the_container_settings():
    assert render(spec(umask="0077")) == render(spec())
    assert container_config(spec(umask="0077")) == container_config(spec())


# -- observed -------------------------------------------------------------------------------------------------


def test_check_is_silent_when_the_steps_shell_has_the_umask_and_names_it_when_not():
    declared = spec(umask="0077")
    assert UMASK.check(declared, UMASK.read_facts({"umask": ["0077"]})) is None
    assert not_in_effect(declared, UMASK.read_facts({"umask": ["0022"]})) == \
        {"umask": "0077 declared, the steps' shell says 0022"}


def test_read_facts_pads_a_shell_that_prints_three_digits():
    assert UMASK.read_facts({"umask": ["77"]}) == {"umask": "0077"}


# -- atoms -------------------------------------------------------------------------------------------------------


def test_a_umask_is_one_atom_that_needs_no_rebuild_and_a_hybrid_applies_it():
    atom = atom_named(spec(), spec(umask="0077"), "umask")
    assert (atom.baseline, atom.customer, atom.rebuild) == (None, "0077", False)
    assert hybrid(spec(), [atom]).umask == "0077"


def test_the_minimal_hybrid_file_quotes_the_umask_so_it_loads_back(tmp_path):
    root = project(tmp_path, baseline="os: debian:bookworm\n")
    baseline = load_environment("baseline", root=root)
    text = environment_yaml(baseline, [atom_named(baseline, spec(umask="0077"), "umask")], root=Path(root))
    project(root, minimal=text)
    assert load_environment("minimal", root=root).umask == "0077"


# -- import -------------------------------------------------------------------------------------------------------


def test_import_takes_a_customers_umask_other_than_the_usual_0022():
    assert imported(UMASK, {"umask": "0077"})[0] == {"umask": "0077"}
    assert imported(UMASK, {"umask": "0022"})[0] == {}
    assert imported(UMASK, {"umask": "u=rwx,g=,o="})[0] == {}
