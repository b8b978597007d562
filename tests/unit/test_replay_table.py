"""The replay summary (reprokit/case/replay.py): one readable line per case, even at 80 columns."""
from __future__ import annotations

from rich.console import Console

from fakes import write_project
from reprokit.case.replay import summary_table
from reprokit.case.reproduce import CaseResult
from reprokit.contract.load import load_case
from reprokit.contract.models import Verdict

TITLES = {
    "SUP-4533": "Invoice mailer crashes at start-up with \"cannot import name 'soft_unicode' from 'markupsafe'\"",
    "SUP-4610": "Database migration aborts with InterpolationSyntaxError when the password in alembic.ini is "
                "URL-encoded",
    "SUP-1": "Short",
}


def results(tmp_path) -> list[CaseResult]:
    files = {"environments/baseline.yaml": "os: debian:bookworm\n"}
    for case_id, title in TITLES.items():
        files[f"cases/{case_id}/case.yaml"] = (f"id: {case_id}\ntitle: '{title.replace(chr(39), chr(39) * 2)}'\n"
                                               "environment: baseline\nstatus: known-error\nsteps: ['false']\n"
                                               "expect: {exit_code: 1}\n")
    root = write_project(tmp_path, files)
    verdicts = [Verdict.NOT_REPRODUCED, Verdict.REPRODUCED, Verdict.REPRODUCED]
    return [CaseResult(load_case(case_id, root=root), verdict, {}, {}, 1, 123.4, "")
            for case_id, verdict in zip(TITLES, verdicts)]


def rendered(tmp_path, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(summary_table(results(tmp_path)))
    return console.export_text().splitlines()


def test_at_80_columns_each_case_takes_one_line_with_its_id_and_verdict_whole(tmp_path):
    lines = rendered(tmp_path, 80)
    assert all(len(line) <= 80 for line in lines)
    for (case_id, title), verdict in zip(TITLES.items(), ["NOT_REPRODUCED", "REPRODUCED", "REPRODUCED"]):
        mine = [line for line in lines if case_id in line]
        assert len(mine) == 1, "\n".join(lines)
        assert f" {verdict} " in mine[0] and "123.4s" in mine[0]
        shown = mine[0].rstrip().rsplit("  ", 1)[-1].strip()
        assert shown == title or (shown.endswith("…") and title.startswith(shown[:-1]) and len(shown) >= 10)
    table_rows = [line for line in lines if line.strip().startswith(tuple(TITLES))]
    assert len(table_rows) == len(TITLES)  # no continuation lines of wrapped titles
    assert any("2 as expected, 1 not" in line for line in lines)


def test_a_wide_terminal_shows_whole_titles(tmp_path):
    lines = rendered(tmp_path, 200)
    for case_id, title in TITLES.items():
        assert any(case_id in line and title in line for line in lines), "\n".join(lines)
