"""Signature matching, verdicts, masks and diffs (reprokit/compare.py)."""
from __future__ import annotations

import pytest

from reprokit.case.compare import combined, facts_diff, mask, output_diff, signature_holds, spec_diff, verdict
from reprokit.run.box import RunResult
from reprokit.contract.models import EnvironmentSpec, Signature, Verdict


def result(exit_code=0, stdout="", stderr="", timed_out=False, oom_killed=False):
    return RunResult("cmd", exit_code, stdout, stderr, 0.1, timed_out, oom_killed)


def test_every_given_field_must_hold():
    signature = Signature(exit_code=1, stderr_contains="syntax error")
    assert signature_holds(signature, result(1, stderr='near "returning": syntax error'))
    assert not signature_holds(signature, result(1, stderr="other"))
    assert not signature_holds(signature, result(2, stderr="syntax error"))


def test_nonzero_exit_code_matches_any_failure_but_not_success():
    signature = Signature(exit_code="nonzero")
    assert signature_holds(signature, result(3))
    assert not signature_holds(signature, result(0))


def test_output_matches_searches_stdout_and_stderr_as_multiline_regex():
    signature = Signature(output_matches=r"^offset: \+05:53")
    assert signature_holds(signature, result(stdout="zone\noffset: +05:53:28\n"))
    assert not signature_holds(signature, result(stdout="offset: +05:30\n"))


def test_oom_and_timeout_fields_compare_exactly():
    assert signature_holds(Signature(oom_killed=True), result(137, oom_killed=True))
    assert not signature_holds(Signature(oom_killed=True), result(137))
    assert signature_holds(Signature(timed_out=False, exit_code=0), result(0))
    assert not signature_holds(Signature(timed_out=True), result(124))


def test_a_signature_needs_at_least_one_field():
    with pytest.raises(ValueError, match="at least one of"):
        Signature()


@pytest.mark.parametrize("environment, baseline, expected", [
    (1.0, 0.0, Verdict.REPRODUCED), (0.0, 0.0, Verdict.NOT_REPRODUCED), (1.0, 1.0, Verdict.EVERYWHERE),
    (0.0, 1.0, Verdict.BASELINE_ONLY), (0.4, 0.0, Verdict.FLAKY), (1.0, 0.2, Verdict.FLAKY),
    (None, 0.0, Verdict.ERROR), (1.0, None, Verdict.ERROR),
])
def test_verdict_follows_the_reproduction_rates(environment, baseline, expected):
    assert verdict(environment, baseline) is expected


def test_every_verdict_describes_itself():
    assert all(v.describe() and v.describe() != v.value for v in Verdict)


def test_combined_steps_keep_the_last_exit_code_and_any_timeout():
    steps = [result(0, "a\n"), result(124, "b\n", "late\n", timed_out=True)]
    run = combined(steps)
    assert (run.exit_code, run.stdout, run.stderr, run.timed_out) == (124, "a\nb\n", "late\n", True)


def test_masks_hide_timestamps_addresses_temp_paths_ids_and_durations():
    text = "2024-05-01T10:22:33.123Z at 0x7f3a2b1c /tmp/tmpab12/x.db container 3f2a9c1b7d4e took 1.25s"
    assert mask(text) == "<timestamp> at <hex> <tmp> container <id> took <duration>"


def test_a_case_mask_applies_before_the_builtin_ones():
    assert mask("request id=REQ-1234 done", [r"REQ-\d+"]) == "request id=<masked> done"


def test_output_diff_ignores_noise_and_shows_real_changes():
    before = result(stdout="started 10:00:01\nsqlite 3.40.1\n")
    after = result(stdout="started 11:12:13\nsqlite 3.34.1\n")
    diff = output_diff(before, after)
    assert "-sqlite 3.40.1" in diff["stdout"] and "+sqlite 3.34.1" in diff["stdout"]
    assert "-started" not in diff["stdout"] and "+started" not in diff["stdout"]
    assert diff["stderr"] == ""


def test_spec_diff_lists_each_package_env_var_and_file_once():
    base = EnvironmentSpec(name="b", os="debian:bookworm", python_packages=("markupsafe==2.0.1", "jinja2==2.11.3"),
                           env={"A": "1"}, files={"/etc/x.ini": "a"})
    customer = EnvironmentSpec(name="c", os="debian:bullseye", python_packages=("MarkupSafe==2.1.0", "jinja2==2.11.3"),
                               env={"A": "1", "B": "2"}, files={"/etc/x.ini": "b"}, timezone="Asia/Kolkata")
    fields = {d["field"]: (d["baseline"], d["environment"]) for d in spec_diff(base, customer)}
    assert fields == {
        "os": ("debian:bookworm", "debian:bullseye"),
        "timezone": ("(absent)", "Asia/Kolkata"),
        "python_packages.markupsafe": ("markupsafe==2.0.1", "MarkupSafe==2.1.0"),
        "env.B": ("(absent)", "2"),
        "files./etc/x.ini": ("a", "b"),
    }


def test_facts_diff_compares_nested_maps_key_by_key():
    diff = facts_diff({"python": "3.11.2", "pip_freeze": {"markupsafe": "2.0.1", "jinja2": "2.11.3"}},
                      {"python": "3.9.2", "pip_freeze": {"markupsafe": "2.1.0", "jinja2": "2.11.3"}})
    assert [d["fact"] for d in diff] == ["python", "pip_freeze.markupsafe"]
