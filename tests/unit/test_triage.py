"""Triage and the known-error manual: which cases a log matches, in what order, and what support should say."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reprokit.contract.load import Project, load_case
from reprokit.contract.models import Status
from reprokit.handoff.triage import knowledge_base, load_cases, match, resolution, triage, triage_project

CASE = """\
id: {id}
title: {title}
environment: {{os: "debian:bookworm", env: {{MODE: {id}}}}}
baseline: {{os: "debian:bookworm"}}
steps: [python3 repro.py]
expect: {{exit_code: 1}}
status: {status}
{extra}
"""
LOG = """\
2024-05-01 10:00:00 INFO starting mailer
2024-05-01 10:00:01 ERROR ImportError: cannot import name 'soft_unicode' from 'markupsafe'
2024-05-01 10:00:02 WARN retrying in 30s
2024-05-01 10:00:03 ERROR ImportError: cannot import name 'soft_unicode' from 'markupsafe'
"""


def make_case(root: Path, case_id: str, *, status: str, signatures: list[str], extra: str = "") -> None:
    folder = root / "cases" / case_id
    folder.mkdir(parents=True)
    lines = "signatures:\n" + "".join(f"  - {s!r}\n" for s in signatures) if signatures else ""
    (folder / "case.yaml").write_text(CASE.format(id=case_id, title=f"{case_id} title", status=status,
                                                  extra=lines + extra))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "environments").mkdir()
    make_case(tmp_path, "KE-1", status="known-error", signatures=["cannot import name 'soft_unicode'", "retrying in"],
              extra="workaround: pin markupsafe<2.1\n")
    make_case(tmp_path, "KE-2", status="known-error", signatures=["cannot import name", "Segmentation fault"],
              extra="fixed_in: 4.2.0\n")
    make_case(tmp_path, "OPEN-3", status="open", signatures=["ImportError: .*markupsafe", "WARN retrying"])
    make_case(tmp_path, "NONE-4", status="known-error", signatures=["disk full"], extra="workaround: free space\n")
    return Project(tmp_path)


def test_log_matching_two_cases_ranks_the_one_with_every_signature_first(project):
    cases, _ = load_cases(project)
    ranked = triage(LOG, cases)
    assert [m.case.id for m in ranked] == ["KE-1", "OPEN-3", "KE-2"]
    assert [m.score for m in ranked] == [1.0, 1.0, 0.5]
    assert ranked[2].missed == ("Segmentation fault",)


def test_known_error_ranks_before_open_case_at_equal_score(project):
    ranked = triage(LOG, load_cases(project)[0])
    assert ranked[0].case.status is Status.KNOWN_ERROR and ranked[1].case.status is Status.OPEN
    assert ranked[0].score == ranked[1].score


def test_case_whose_signatures_all_miss_is_not_listed(project):
    assert "NONE-4" not in [m.case.id for m in triage(LOG, load_cases(project)[0])]
    assert triage("all good\n", load_cases(project)[0]) == []


def test_match_shows_the_log_lines_and_counts_every_occurrence(project):
    found = match(LOG, load_case("KE-1", root=project.root))
    first = found.hits[0]
    assert first.count == 2
    assert [n for n, _ in first.lines] == [2, 4]
    assert "soft_unicode" in first.lines[0][1]


def test_resolution_names_workaround_fixed_version_or_says_to_escalate(project):
    assert resolution(load_case("KE-1", root=project.root)) == "Workaround: pin markupsafe<2.1"
    assert resolution(load_case("KE-2", root=project.root)) == "Fixed in 4.2.0."
    assert "escalate and reference OPEN-3" in resolution(load_case("OPEN-3", root=project.root))


def test_a_case_that_does_not_load_is_reported_not_silently_skipped(project):
    (project.cases / "BROKEN").mkdir()
    (project.cases / "BROKEN" / "case.yaml").write_text("id: BROKEN\ntitle: x\n")
    found = triage_project(LOG, project)
    assert "BROKEN" in found.unreadable and "environment: required field is missing" in found.unreadable["BROKEN"]
    assert found.matches


def test_kb_has_every_known_error_and_no_other_case(project):
    text = knowledge_base(load_cases(project)[0])
    assert "## KE-1: KE-1 title" in text and "## KE-2: KE-2 title" in text and "## NONE-4" in text
    assert "OPEN-3" not in text
    assert "Workaround: pin markupsafe<2.1" in text and "Fixed in 4.2.0." in text
    assert "- a log line matching `Segmentation fault`" in text
    assert "`env.MODE`: `KE-1`" in text
    assert "| [KE-1](#ke-1-ke-1-title) |" in text


def test_triage_command_reads_stdin_and_exits_1_when_nothing_matches(project):
    command = [sys.executable, "-m", "reprokit", "triage", "-", "-C", str(project.root)]
    hit = subprocess.run(command, input=LOG, capture_output=True, text=True, timeout=60)
    miss = subprocess.run(command, input="all fine\n", capture_output=True, text=True, timeout=60)
    assert hit.returncode == 0, hit.stderr
    assert hit.stdout.index("KE-1") < hit.stdout.index("OPEN-3") < hit.stdout.index("KE-2")
    assert "Workaround: pin markupsafe<2.1" in hit.stdout
    assert miss.returncode == 1 and "no known case matches" in miss.stdout


def test_triage_of_a_missing_log_is_a_user_error_with_exit_2(project):
    done = subprocess.run([sys.executable, "-m", "reprokit", "triage", str(project.root / "nope.log"),
                           "-C", str(project.root)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "cannot read the log" in done.stderr and "Traceback" not in done.stderr


def test_each_shipped_known_error_log_names_its_case_and_workaround_first(project_root):
    shipped = Project(project_root)
    cases, unreadable = load_cases(shipped)
    known = [c for c in cases if c.status is Status.KNOWN_ERROR and (c.folder / "customer.log").is_file()]
    if not known:
        pytest.skip("no shipped known-error case with a customer.log yet")
    for case in known:
        ranked = triage((case.folder / "customer.log").read_text(), cases)
        assert ranked and ranked[0].case.id == case.id, f"{case.id}: {[m.case.id for m in ranked]}"
        assert case.workaround and case.workaround.strip() in ranked[0].resolution
