"""User mistakes at the command line: a message naming the problem and exit code 2, never a traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest

from fakes import write_project


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path, {
        "environments/baseline.yaml": "os: debian:bookworm\n",
        "environments/broken.yaml": "extends: baseline\npython_packages: ['requests=2.25']\n",
        "environments/badyaml.yaml": "os: [unclosed\n",
    })


def reprokit(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reprokit", *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def assert_user_mistake(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for text in expected:
        assert text in result.stderr, result.stderr


def test_unknown_environment_suggests_the_closest_name(project):
    assert_user_mistake(reprokit("env", "show", "baselin", "-C", str(project)),
                        "error: environments/baselin.yaml: 'baselin' is not an environment",
                        "did you mean 'baseline'?")


def test_bad_pin_is_reported_with_file_line_and_fix(project):
    assert_user_mistake(reprokit("env", "render", "broken", "-C", str(project)),
                        "environments/broken.yaml:2: python_packages[0]: 'requests=2.25' is not a pip requirement; "
                        "did you mean 'requests==2.25'?")


def test_invalid_yaml_is_a_user_mistake(project):
    assert_user_mistake(reprokit("env", "show", "badyaml", "-C", str(project)), "environments/badyaml.yaml:", "invalid YAML")


def test_env_run_with_a_bad_spec_fails_before_touching_docker(project):
    assert_user_mistake(reprokit("env", "run", "broken", "-C", str(project), "--", "true"), "is not a pip requirement")


def test_env_build_of_an_unknown_environment_is_a_user_mistake(project):
    assert_user_mistake(reprokit("env", "build", "nope", "-C", str(project)), "'nope' is not an environment")


def test_unknown_schema_kind_lists_the_choices():
    assert_user_mistake(reprokit("schema", "enviroment"), "unknown schema 'enviroment'", "environment, case, all")


def test_unknown_command_is_a_usage_error():
    assert_user_mistake(reprokit("evn", "list"), "No such command")


def test_missing_argument_is_a_usage_error():
    assert_user_mistake(reprokit("env", "show"), "Missing argument")


def test_project_is_found_from_the_current_folder(project):
    result = reprokit("env", "render", "baseline", cwd=project / "environments")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("FROM debian:bookworm\n")


def test_version_prints_the_version():
    result = reprokit("--version")
    assert result.returncode == 0 and result.stdout.strip() == __import__("reprokit").__version__


def test_help_shows_no_value_type_after_flags():
    result = subprocess.run([sys.executable, "-m", "reprokit", "--help"], capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, "COLUMNS": "100", "TERMINAL_WIDTH": "100"})
    assert result.returncode == 0, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.strip("│ ").startswith("--")}
    assert set(lines) >= {"--version", "--help"}
    assert "<bool>" not in result.stdout
    assert "Print the version and exit." in lines["--version"] and "Show this message and exit." in lines["--help"]


def every_command(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from every_command(sub, (*path, name))


def test_no_command_help_shows_a_type_for_a_flag_but_options_taking_values_keep_theirs():
    from typer.main import get_command
    from typer.testing import CliRunner

    from reprokit.cli.main import app

    runner = CliRunner()
    for path, _ in every_command(get_command(app)):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120", "TERMINAL_WIDTH": "120"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
    run_help = runner.invoke(app, ["case", "run", "--help"], env={"COLUMNS": "120", "TERMINAL_WIDTH": "120"}).output
    assert "<int range>" in run_help  # --repeat takes a value: its type stays

@pytest.mark.parametrize("shard, message", [("0/2", "--shard '0/2': the shard must be between 1 and 2"),
                                            ("3/2", "--shard '3/2': the shard must be between 1 and 2"),
                                            ("a/b", "--shard 'a/b' is not I/N")])
def test_a_bad_shard_is_a_user_mistake_before_any_case_loads(project, shard, message):
    (project / "cases" / "BROKEN-1").mkdir(parents=True)
    (project / "cases" / "BROKEN-1" / "case.yaml").write_text("id: [\n")  # would fail first if cases were loaded
    assert_user_mistake(reprokit("replay", "--shard", shard, "-C", str(project)), message, "hint: shards are numbered"
                        if shard != "a/b" else "hint: give this runner's shard")


def test_a_durations_report_that_is_missing_is_a_user_mistake(project):
    assert_user_mistake(reprokit("replay", "--shard", "1/2", "--dry-run", "--durations-from", "nope.xml", "-C",
                                 str(project)), "--durations-from nope.xml: cannot read it as JUnit XML")


def test_durations_without_a_shard_are_a_user_mistake(project):
    assert_user_mistake(reprokit("replay", "--durations-from", "history", "-C", str(project)),
                        "--durations-from balances shards, and no --shard was given")


def test_a_registry_address_with_credentials_is_a_user_mistake_that_does_not_repeat_them(project):
    result = reprokit("env", "build", "baseline", "--registry", "ci:s3cret@registry.example.com/cache",
                      "-C", str(project))
    assert_user_mistake(result, "carries credentials", "docker login registry.example.com")
    assert "s3cret" not in result.stderr + result.stdout


def test_a_bad_registry_before_the_command_is_a_user_mistake_too(project):
    assert_user_mistake(reprokit("--registry", "cache", "env", "build", "baseline", "-C", str(project)),
                        "does not start with a registry host")


def test_a_registry_in_the_project_file_that_does_not_parse_names_the_file(project):
    (project / "reprokit.toml").write_text("registry = [unclosed\n")
    result = reprokit("env", "build", "baseline", "-C", str(project))
    assert_user_mistake(result, "reprokit.toml", "cannot be read as TOML")


def test_engine_and_engines_together_are_a_user_mistake(project):
    assert_user_mistake(reprokit("replay", "--engine", "unix:///a.sock", "--engines", "unix:///b.sock",
                                 "-C", str(project)), "--engine and --engines")


def test_an_engine_named_twice_in_engines_is_a_user_mistake(project):
    assert_user_mistake(reprokit("replay", "--engines", "unix:///b.sock,unix:///b.sock", "-C", str(project)),
                        "names unix:///b.sock twice")


def test_an_engine_that_does_not_answer_is_named_with_how_it_was_chosen(project):
    assert_user_mistake(reprokit("--engine", "unix:///nonexistent/docker.sock", "gc"),
                        "no Docker engine answers at unix:///nonexistent/docker.sock (--engine)")
