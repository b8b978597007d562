"""Loading environment and case files: extends, remove, and errors that name file, line, field, value, fix."""
from __future__ import annotations

import textwrap

import pytest

from fakes import write_project
from reprokit.errors import SpecError
from reprokit.contract.load import MAX_VALUES, Project, load_case, load_environment

BASE = """\
os: debian:bookworm
system_packages: [sqlite3, "curl=7.88.1-10"]
python_packages: ["jinja2==2.11.3", "markupsafe==2.0.1"]
env: {ACME_MODE: standard, KEEP: "yes"}
files:
  /etc/acme/acme.ini: "timeout = 30\\n"
timezone: UTC
limits: {memory: 256m, pids: 100}
"""


def project(tmp_path, **environments: str):
    files = {"environments/base.yaml": BASE}
    files.update({f"environments/{name}.yaml": textwrap.dedent(text) for name, text in environments.items()})
    return write_project(tmp_path, files)


def error_of(tmp_path, name: str = "child", **environments: str) -> str:
    root = project(tmp_path, **environments)
    with pytest.raises(SpecError) as caught:
        load_environment(name, root=root)
    return str(caught.value)


# -- extends ------------------------------------------------------------------------------------------------


def test_child_scalar_replaces_parent_scalar(tmp_path):
    spec = load_environment("child", root=project(tmp_path, child="extends: base\nos: debian:bullseye\ntimezone: Asia/Kolkata\n"))
    assert (spec.os, spec.timezone) == ("debian:bullseye", "Asia/Kolkata")


def test_maps_merge_key_by_key(tmp_path):
    spec = load_environment("child", root=project(tmp_path, child="""\
        extends: base
        env: {ACME_MODE: strict, NEW: "1"}
        files: {/etc/other: "x"}
        limits: {memory: 512m}
        """))
    assert spec.env == {"ACME_MODE": "strict", "KEEP": "yes", "NEW": "1"}
    assert set(spec.files) == {"/etc/acme/acme.ini", "/etc/other"}
    assert (spec.limits.memory, spec.limits.pids) == ("512m", 100)


def test_child_pin_replaces_parent_pin_by_package_name(tmp_path):
    spec = load_environment("child", root=project(tmp_path, child="""\
        extends: base
        python_packages: ["MarkupSafe==2.1.0", flask]
        system_packages: ["curl"]
        """))
    assert spec.python_packages == ("jinja2==2.11.3", "MarkupSafe==2.1.0", "flask")
    assert spec.system_packages == ("sqlite3", "curl")


def test_extends_chains_apply_in_order(tmp_path):
    root = project(tmp_path, middle="extends: base\nenv: {ACME_MODE: middle}\n",
                   child="extends: middle\nenv: {ACME_MODE: child}\n")
    assert load_environment("middle", root=root).env["ACME_MODE"] == "middle"
    assert load_environment("child", root=root).env == {"ACME_MODE": "child", "KEEP": "yes"}


def test_remove_drops_inherited_fields_keys_and_packages(tmp_path):
    spec = load_environment("child", root=project(tmp_path, child="""\
        extends: base
        remove: [timezone, env.KEEP, python_packages.jinja2, system_packages.curl, limits.memory]
        """))
    assert spec.timezone is None
    assert spec.env == {"ACME_MODE": "standard"}
    assert spec.python_packages == ("markupsafe==2.0.1",)
    assert spec.system_packages == ("sqlite3",)
    assert spec.limits.memory == "2g"  # removed from the parent: back to the default


def test_a_removed_entry_can_be_set_again_by_the_child(tmp_path):
    spec = load_environment("child", root=project(tmp_path, child="""\
        extends: base
        remove: [python_packages]
        python_packages: [flask]
        """))
    assert spec.python_packages == ("flask",)


def test_remove_of_something_the_parent_lacks_names_what_it_has(tmp_path):
    message = error_of(tmp_path, child="extends: base\nremove: [python_packages.requests]\n")
    assert message.startswith("environments/child.yaml:2: remove[0]: 'python_packages.requests': "
                              "the parent's python_packages has no 'requests'")
    assert "it has: jinja2==2.11.3, markupsafe==2.0.1" in message


def test_remove_without_extends_is_an_error(tmp_path):
    message = error_of(tmp_path, child="os: debian:bookworm\nremove: [env.A]\n")
    assert message == "environments/child.yaml:2: remove: 'remove' needs 'extends': there is nothing inherited to remove"


def test_extends_cycle_is_reported_at_the_extends_that_closes_it(tmp_path):
    message = error_of(tmp_path, name="a", a="extends: b\n", b="os: debian:bookworm\nextends: a\n")
    assert message == "environments/b.yaml:2: extends: cycle: a -> b -> a\nhint: remove one of these 'extends'"


def test_an_environment_extending_itself_is_a_cycle(tmp_path):
    assert "cycle: child -> child" in error_of(tmp_path, child="extends: child\n")


def test_missing_parent_suggests_the_closest_name(tmp_path):
    message = error_of(tmp_path, child="description: x\nextends: bsae\n")
    assert message.startswith("environments/child.yaml:2: extends: 'bsae' is not an environment in environments/")
    assert "did you mean 'base'?" in message


def test_missing_environment_lists_the_available_ones(tmp_path):
    message = error_of(tmp_path, name="nope")
    assert "'nope' is not an environment" in message and "available: base" in message


def test_environment_names_cannot_escape_the_environments_folder(tmp_path):
    write_project(tmp_path, {"secret.yaml": "os: debian:bookworm\n"})
    assert "is not an environment" in error_of(tmp_path, name="../secret")


# -- errors name file, line, field, value, fix -----------------------------------------------------------------


def test_single_equals_pin_suggests_double_equals(tmp_path):
    message = error_of(tmp_path, acme="""\
        description: ACME
        extends: base
        env:
          ACME_MODE: strict
        python_packages:
          - jinja2==2.11.3
          - markupsafe==2.1.0
          - requests=2.25
        """.replace("          - requests", "          - requests"), name="acme")
    assert message == ("environments/acme.yaml:8: python_packages[2]: 'requests=2.25' is not a pip requirement; "
                       "did you mean 'requests==2.25'?")


def test_bad_pin_without_extends_names_its_line_and_index(tmp_path):
    message = error_of(tmp_path, child="os: debian:bookworm\npython_packages:\n  - flask\n  - 'requests=2.25'\n")
    assert message == ("environments/child.yaml:4: python_packages[1]: 'requests=2.25' is not a pip requirement; "
                       "did you mean 'requests==2.25'?")


def test_debian_pin_written_pip_style_suggests_apt_style(tmp_path):
    message = error_of(tmp_path, child="os: debian:bookworm\nsystem_packages: ['sqlite3==3.40']\n")
    assert message == ("environments/child.yaml:2: system_packages[0]: 'sqlite3==3.40' is not a Debian package spec; "
                       "did you mean 'sqlite3=3.40'?")


def test_unknown_field_suggests_the_known_one(tmp_path):
    message = error_of(tmp_path, child="extends: base\nlimts: {pids: 3}\n")
    assert message.startswith("environments/child.yaml:2: limts: unknown field\nhint: did you mean 'limits'?")


def test_out_of_range_limit_names_the_nested_field(tmp_path):
    message = error_of(tmp_path, child="extends: base\nlimits:\n  pids: 0\n")
    assert message == "environments/child.yaml:3: limits.pids: 0: input should be greater than 0"


def test_bad_memory_size_says_how_to_write_one(tmp_path):
    message = error_of(tmp_path, child="extends: base\nlimits: {memory: lots}\n")
    assert message == "environments/child.yaml:2: limits.memory: 'lots' is not a memory size; write e.g. '256m' or '2g'"


def test_missing_os_is_reported_as_a_required_field(tmp_path):
    assert error_of(tmp_path, child="timezone: UTC\n") == "environments/child.yaml: os: required field is missing"


def test_non_string_package_in_a_child_names_the_childs_index(tmp_path):
    message = error_of(tmp_path, child="extends: base\npython_packages: [flask, 5]\n")
    assert message.startswith("environments/child.yaml:2: python_packages[1]: 5 is not a string")


def test_a_package_repeated_in_a_child_is_an_error(tmp_path):
    message = error_of(tmp_path, child="extends: base\npython_packages: [flask, 'Flask==2.0']\n")
    assert "python_packages[1]: 'Flask==2.0' repeats package 'flask'" in message


def test_several_problems_are_reported_together(tmp_path):
    message = error_of(tmp_path, child="os: debian:bookworm\nnetwork: host\nuser: 'Not A User'\n")
    assert "child.yaml:2: network" in message and "child.yaml:3: user" in message


def test_duplicate_keys_name_the_line(tmp_path):
    message = error_of(tmp_path, child="os: debian:bookworm\nos: debian:bullseye\n")
    assert message.startswith("environments/child.yaml:2: invalid YAML:") and 'duplicate key "os"' in message


def test_a_list_instead_of_a_mapping_says_what_a_file_must_be(tmp_path):
    message = error_of(tmp_path, child="- os\n- debian\n")
    assert message.startswith("environments/child.yaml:1: the file must be a mapping of fields (field: value), got a list")


def test_yaml_tags_are_refused(tmp_path):
    message = error_of(tmp_path, child="os: !!python/object:os.system x\n")
    assert "child.yaml:1: os: YAML tags and typed values are not supported" in message


def test_alias_bombs_stop_early(tmp_path):
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"{c}: &{c} [{', '.join(['*' + p] * 10)}]" for p, c in zip("abcdefg", "bcdefgh")]
    message = error_of(tmp_path, child="os: debian:bookworm\n" + "\n".join(levels) + "\n")
    assert f"more than {MAX_VALUES} values" in message


def test_env_numbers_become_strings_but_booleans_are_errors(tmp_path):
    assert load_environment("child", root=project(tmp_path, child="extends: base\nenv: {PORT: 8080}\n")).env["PORT"] == "8080"
    assert "child.yaml:2: env.DEBUG: True" in error_of(tmp_path, child="extends: base\nenv: {DEBUG: true}\n")


# -- files: {source: ...} ------------------------------------------------------------------------------------


def test_file_sources_are_relative_to_the_declaring_file(tmp_path):
    root = project(tmp_path, child="extends: base\nfiles: {/etc/acme/acme.ini: {source: files/acme.ini}}\n")
    write_project(root, {"environments/files/acme.ini": "timeout = 5\n"})
    assert load_environment("child", root=root).files["/etc/acme/acme.ini"] == "timeout = 5\n"


def test_missing_file_source_names_the_path_and_where_it_is_relative_to(tmp_path):
    message = error_of(tmp_path, child="extends: base\nfiles:\n  /etc/x: {source: files/none.ini}\n")
    assert message.startswith("environments/child.yaml:3: files./etc/x.source: 'files/none.ini': No such file")
    assert "relative to the file that declares it" in message


def test_file_sources_cannot_read_outside_the_project(tmp_path):
    write_project(tmp_path, {"outside/secret": "token"})
    root = project(tmp_path / "p", child="extends: base\nfiles: {/etc/x: {source: ../../outside/secret}}\n")
    with pytest.raises(SpecError, match="points outside the project"):
        load_environment("child", root=root)


# -- cases --------------------------------------------------------------------------------------------------


CASE = """\
id: SUP-1
title: Export fails
environment: {extends: base, env: {ACME_MODE: strict}, files: {/etc/extra: {source: extra.txt}}}
files: {repro.py: {source: repro.py}}
steps: [python3 repro.py, {run: python3 repro.py --again, timeout: 60}]
expect: {exit_code: 1}
"""


def case_project(tmp_path, case: str = CASE):
    root = project(tmp_path, baseline=BASE)
    return write_project(root, {"cases/SUP-1/case.yaml": case, "cases/SUP-1/repro.py": "raise SystemExit(1)\n",
                                "cases/SUP-1/extra.txt": "extra\n"})


def test_case_inline_environment_extends_a_named_one(tmp_path):
    case = load_case("SUP-1", root=case_project(tmp_path))
    assert case.environment.name == "SUP-1/environment"
    assert case.environment.env == {"ACME_MODE": "strict", "KEEP": "yes"}
    assert case.environment.files["/etc/extra"] == "extra\n"
    assert case.baseline.name == "baseline"
    assert case.files == {"repro.py": "raise SystemExit(1)\n"}
    assert [(s.run, s.timeout) for s in case.steps] == [("python3 repro.py", 300), ("python3 repro.py --again", 60)]


def test_case_loads_from_a_folder_path_too(tmp_path):
    root = case_project(tmp_path)
    assert load_case(root / "cases" / "SUP-1", root=root).id == "SUP-1"


def test_case_error_inside_an_inline_environment_names_the_case_line(tmp_path):
    root = case_project(tmp_path, CASE.replace("env: {ACME_MODE: strict}", "env: {ACME_MODE: strict}, timezone: 'no zone'"))
    with pytest.raises(SpecError) as caught:
        load_case("SUP-1", root=root)
    assert str(caught.value).startswith("cases/SUP-1/case.yaml:3: environment.timezone: 'no zone' is not a tz database name")


def test_case_id_must_match_its_folder(tmp_path):
    with pytest.raises(SpecError, match=r"case.yaml:1: id: 'SUP-2' differs from the folder name 'SUP-1'"):
        load_case("SUP-1", root=case_project(tmp_path, CASE.replace("SUP-1", "SUP-2")))


def test_unknown_case_suggests_the_closest_id(tmp_path):
    with pytest.raises(SpecError, match="did you mean 'SUP-1'"):
        load_case("SUP-11", root=case_project(tmp_path))


def test_empty_signature_is_an_error(tmp_path):
    with pytest.raises(SpecError, match="expect: a signature needs at least one of"):
        load_case("SUP-1", root=case_project(tmp_path, CASE.replace("{exit_code: 1}", "{}")))


def test_project_shows_paths_relative_to_its_root(tmp_path):
    assert Project.at(tmp_path).show(tmp_path / "environments" / "x.yaml") == "environments/x.yaml"


def test_deep_nesting_is_refused_quickly_before_parsing(tmp_path):
    import time

    started = time.monotonic()
    message = error_of(tmp_path, child="os: debian:bookworm\nenv: " + "[" * 3000 + "]" * 3000 + "\n")
    assert message.startswith("environments/child.yaml:2: nesting is deeper than 100 levels")
    assert time.monotonic() - started < 5  # unchecked, ruamel needs ~20 s to hit its recursion limit


def test_loader_set_fields_cannot_be_written_in_a_file(tmp_path):
    assert error_of(tmp_path, child="extends: base\nsource: /etc/passwd\n").startswith(
        "environments/child.yaml:2: source: unknown field")


def test_python_mismatch_names_the_environment_file(tmp_path):
    from reprokit.image.render import render

    spec = load_environment("child", root=project(tmp_path, child="extends: base\nos: debian:bullseye\npython: '3.11'\n"))
    with pytest.raises(SpecError, match=r"^environments/child.yaml: python: '3.11' does not match debian:bullseye"):
        render(spec)


def test_a_name_too_long_for_a_file_is_an_error_not_a_crash(tmp_path):
    write_project(tmp_path, {"environments/baseline.yaml": "os: debian:bookworm\n",
                             "cases/C/case.yaml": f"id: C\ntitle: t\nenvironment: {'a' * 300}\n"
                                                  "steps: ['true']\nexpect: {exit_code: 1}\n"})
    with pytest.raises(SpecError, match="is not an environment"):
        load_environment("a" * 300, root=tmp_path)
    with pytest.raises(SpecError, match="cases/C/case.yaml:3: environment: 'a+' is not an environment"):
        load_case("C", root=tmp_path)


def test_a_step_split_at_colon_space_says_to_quote_the_whole_command(tmp_path):
    steps = "steps:\n  - python3 repro.py\n  - echo \"deploy status: ok\"\n"
    root = case_project(tmp_path, CASE.replace("steps: [python3 repro.py, {run: python3 repro.py --again, timeout: 60}]\n",
                                               steps))
    with pytest.raises(SpecError) as caught:
        load_case("SUP-1", root=root)
    error = caught.value
    assert str(error).startswith("cases/SUP-1/case.yaml:7: steps[1]: this step was read as a mapping")
    assert "because of ': ' in an unquoted string; quote the whole command" in error.message
    assert error.hint == """write it as: - 'echo "deploy status: ok"'"""
    assert "unknown field" not in str(error)


def test_the_suggested_quoting_of_a_split_step_loads_as_the_intended_command(tmp_path):
    fixed = "steps:\n  - 'echo \"deploy status: ok\"'\n  - 'echo it''s: done'\n"
    root = case_project(tmp_path, CASE.replace("steps: [python3 repro.py, {run: python3 repro.py --again, timeout: 60}]\n",
                                               fixed))
    assert [s.run for s in load_case("SUP-1", root=root).steps] == ['echo "deploy status: ok"', "echo it's: done"]


def test_a_step_mapping_with_a_misspelt_field_is_still_an_unknown_field(tmp_path):
    root = case_project(tmp_path, CASE.replace("{run: python3 repro.py --again, timeout: 60}",
                                               "{run: python3 repro.py --again, timout: 60}"))
    with pytest.raises(SpecError, match=r"steps\[1\]\.timout: unknown field"):
        load_case("SUP-1", root=root)


# -- the parse cache ------------------------------------------------------------------------------------------


def test_a_file_read_again_is_not_parsed_again_and_each_reader_gets_its_own_copy(tmp_path):
    from reprokit.contract import load

    path = tmp_path / "env.yaml"
    path.write_text("os: debian:bookworm\nenv: {A: '1'}\n")
    load._parse.cache_clear()
    first = load.read_yaml(path, "env.yaml")
    first.data["env"]["A"] = "changed by the first reader"
    second = load.read_yaml(path, "env.yaml")
    assert second.data["env"] == {"A": "1"}
    assert second.line_of(("env", "A")) == ("env.yaml", 2)
    assert load._parse.cache_info().hits == 1


def test_a_changed_file_is_parsed_again(tmp_path):
    path = write_project(tmp_path, {"environments/env.yaml": "os: debian:bookworm\nenv: {A: '1'}\n"})
    assert load_environment("env", root=path).env == {"A": "1"}
    (tmp_path / "environments" / "env.yaml").write_text("os: debian:bookworm\nenv: {A: '2'}\n")
    assert load_environment("env", root=path).env == {"A": "2"}
