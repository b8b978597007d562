"""The env aspect (moved; tests/unit/test_render.py covers quoting): variables, merged by name, the last layer."""
from __future__ import annotations

from aspect_support import atom_named, imported, load, load_error, spec
from reprokit.aspects.env import Env
from reprokit.image.render import render
from reprokit.aspects.atoms import hybrid

ENV = Env()


def test_a_variable_name_the_shell_cannot_hold_is_refused_naming_file_line_and_value(tmp_path):
    message = load_error(tmp_path, "os: debian:bookworm\nenv: {1BAD: x}\n")
    assert message == "environments/bad.yaml:2: env: '1BAD' is not an environment variable name (letters, digits, _)"


def test_a_childs_variables_merge_by_name_and_remove_drops_one(tmp_path):
    base = "os: debian:bookworm\nenv: {MODE: standard, KEEP: 'yes'}\n"
    assert load(tmp_path, base=base, child="extends: base\nenv: {MODE: strict}\n").env == \
        {"MODE": "strict", "KEEP": "yes"}
    assert load(tmp_path, base=base, child="extends: base\nremove: [env.MODE]\n").env == {"KEEP": "yes"}


def test_env_is_the_last_layer_of_the_image():
    assert render(spec(env={"MODE": "strict"}, user="app")).dockerfile.rstrip().endswith('ENV MODE="strict"')


def test_observed_env_leaves_out_what_the_container_and_the_faked_clock_set():
    facts = ENV.read_facts({"env": ["MODE=strict", "HOME=/root", "LD_PRELOAD=/usr/lib/x/faketime/libfaketime.so.1",
                                    "FAKETIME=+400d", "FAKETIME_NO_CACHE=1", "URL=a=b"]})
    assert facts == {"env": {"MODE": "strict", "URL": "a=b"}}


def test_a_variable_is_an_atom_applied_at_container_start_without_a_rebuild():
    atom = atom_named(spec(env={"MODE": "standard"}), spec(env={"MODE": "strict"}), "env.MODE")
    assert (atom.baseline, atom.customer, atom.rebuild, ENV.overlay) == ("standard", "strict", False, True)
    assert hybrid(spec(env={"MODE": "standard"}), [atom]).env == {"MODE": "strict"}


def test_import_keeps_the_customers_own_variables_and_drops_the_machines():
    fields, _ = imported(ENV, {"env": {"ACME_MODE": "strict", "HOME": "/root", "PATH": "/bin", "TZ": "UTC"}})
    assert fields == {"env": {"ACME_MODE": "strict"}}
