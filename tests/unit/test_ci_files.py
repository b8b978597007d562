"""The CI files users copy (ci/): valid YAML, a matrix over shards, and only real reprokit commands and options."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from ruamel.yaml import YAML

from reprokit.case.shard import parse_shard
from reprokit.cli.main import app

CI = Path(__file__).resolve().parents[2] / "ci"
GITHUB, GITLAB = CI / "github-actions.yml", CI / "gitlab-ci.yml"


def load(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


def shell_of(path: Path) -> list[str]:
    """Every shell script the file runs: GitHub steps' `run`, GitLab jobs' before_script/script/after_script."""
    document = load(path)
    if path == GITHUB:
        return [step["run"] for job in document["jobs"].values() for step in job.get("steps", []) if "run" in step]
    return [line for job in document.values() if isinstance(job, dict)
            for key in ("before_script", "script", "after_script") for line in job.get(key, [])]


COMMAND_STARTS = {";", "&&", "||", "|", "then", "else", "do", "exec", "time"}


def reprokit_calls(script: str, values: dict[str, str]) -> list[list[str]]:
    """The arguments of each `reprokit ...` command line in a shell script, CI variables replaced by ``values``."""
    for name, value in values.items():
        script = script.replace(name, value)
    calls = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        for i, word in enumerate(words):
            at_command = i == 0 or words[i - 1] in COMMAND_STARTS  # not `pip install reprokit`
            if at_command and (word == "reprokit" or word.endswith("/reprokit")):
                calls.append(words[i + 1:])
    return calls


def check_against_the_cli(args: list[str]):
    """Walk the typer app along the command's words; every option given must be one the command takes.
    (Groups are the commands with subcommands; typer vendors its own click, so no isinstance on click's.)"""
    command = typer.main.get_command(app)
    words = list(args)
    while hasattr(command, "commands") and words and not words[0].startswith("-"):
        name = words.pop(0)
        assert name in command.commands, f"`reprokit ... {name}` is not a command; there are {sorted(command.commands)}"
        command = command.commands[name]
    assert not hasattr(command, "commands"), f"`reprokit {' '.join(args)}` names a group, not a command"
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in words:
        if word.startswith("-") and word != "-":
            assert word.split("=")[0] in options, f"`reprokit {command.name}` has no option {word}; it has {sorted(options)}"
    return command


def shard_values(args: list[str]) -> list[str]:
    return [args[i + 1] for i, word in enumerate(args) if word == "--shard"]


CALLS = {GITHUB: {"${{ matrix.shard }}": "3"},
         GITLAB: {"$CI_NODE_INDEX": "3", "$CI_NODE_TOTAL": "4"}}


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_the_ci_file_is_valid_yaml_calling_only_real_reprokit_commands(path):
    calls = [call for script in shell_of(path) for call in reprokit_calls(script, CALLS[path])]
    assert calls, f"{path.name} calls no reprokit command"
    for call in calls:
        check_against_the_cli(call)
    replays = [call for call in calls if call[:1] == ["replay"]]
    assert replays and all(shard_values(call) == ["3/4"] for call in replays)
    assert all(parse_shard(value) == (3, 4) for call in replays for value in shard_values(call))


def test_the_github_matrix_has_one_job_per_shard_and_failures_do_not_cancel_the_rest():
    job = load(GITHUB)["jobs"]["replay"]
    assert job["strategy"]["matrix"]["shard"] == [1, 2, 3, 4] and job["strategy"]["fail-fast"] is False
    total = {value.split("/")[1] for script in shell_of(GITHUB)
             for call in reprokit_calls(script, {"${{ matrix.shard }}": "1"}) for value in shard_values(call)}
    assert total == {"4"}


def test_the_gitlab_job_runs_in_parallel_over_the_node_index():
    job = load(GITLAB)["reprokit-replay"]
    assert job["parallel"] == 4
    assert any("--shard \"$CI_NODE_INDEX/$CI_NODE_TOTAL\"" in line for line in job["script"])
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["reports"]["junit"]


def test_the_registry_cache_is_optional_in_both():
    document = load(GITHUB)
    assert "vars.REPROKIT_REGISTRY" in document["env"]["REPROKIT_REGISTRY"]
    login = [step for step in document["jobs"]["replay"]["steps"] if "docker login" in step.get("run", "")]
    assert len(login) == 1 and login[0]["continue-on-error"] is True and "REPROKIT_REGISTRY" in login[0]["if"]
    before = "\n".join(load(GITLAB)["reprokit-replay"]["before_script"])
    assert re.search(r'if \[ -n "\$CI_REGISTRY_IMAGE" \]; then\s+export REPROKIT_REGISTRY=', before)


def test_the_checker_refuses_an_option_or_command_the_cli_lacks():
    """The checks above can fail: an unknown option or subcommand is caught."""
    with pytest.raises(AssertionError, match="has no option --shards"):
        check_against_the_cli(["replay", "--shards", "1/2"])
    with pytest.raises(AssertionError, match="is not a command"):
        check_against_the_cli(["replya"])
    with pytest.raises(AssertionError, match="names a group"):
        check_against_the_cli(["env"])
    assert check_against_the_cli(["env", "build", "baseline", "-C", "."]).name == "build"


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_the_ci_replay_commands_run_as_written_on_the_shipped_cases(path, tmp_path, project_root):
    """As a dry run (nothing is built): the arguments parse and select this shard's cases."""
    import json

    from typer.testing import CliRunner

    (tmp_path / "durations").mkdir()
    (tmp_path / "durations" / "shard-1.xml").write_text('<testsuite><testcase name="SUP-4521" time="9"/></testsuite>')
    calls = [call for script in shell_of(path) for call in reprokit_calls(script, CALLS[path]) if call[0] == "replay"]
    for call in calls:
        args = [str(tmp_path / "durations") if word == "ci/durations" else word for word in call]
        result = CliRunner().invoke(app, [*args, "--dry-run", "--json", "-C", str(project_root)])
        assert result.exit_code == 0, result.output
        listed = json.loads(result.stdout)
        assert listed["shard"] == "3/4" and listed["balance"] == ("time" if "--durations-from" in call else "count")
