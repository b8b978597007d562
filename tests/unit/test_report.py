"""Reports: what they say, rebuilt from history or from a result, and that md/html/json are well-formed."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from reprokit.case.result import CaseResult
from reprokit.handoff import report
from reprokit.contract.load import load_case

CASE = """\
id: R-1
title: Export fails | with <b>markup</b>
customer: ACME
environment:
  os: debian:bullseye
  python_packages: ["markupsafe==2.1.0"]
  env: {MODE: strict}
  timezone: Asia/Kolkata
  files: {/etc/app.ini: "timeout = 5\\n"}
baseline:
  os: debian:bookworm
  python_packages: ["markupsafe==2.0.1"]
  env: {MODE: strict}
  files: {/etc/app.ini: "timeout = 30\\n"}
files:
  repro.py: "print('```')\\nraise SystemExit('boom')\\n"
steps: [python3 repro.py]
expect: {exit_code: 1, stderr_contains: boom}
status: known-error
workaround: pin markupsafe<2.1
"""


def step(stdout: str, stderr: str, code: int) -> dict:
    return {"command": "python3 repro.py", "exit_code": code, "stdout": stdout, "stderr": stderr,
            "duration_s": 0.1, "timed_out": False, "oom_killed": False}


def row(role: str, verdict: str, when: str, matched: bool, facts: dict, stderr: str = "", kind: str = "case") -> dict:
    return {"id": 1, "kind": kind, "case": "R-1", "environment": f"R-1/{role}", "role": role, "spec_hash": "h",
            "image_id": f"sha256:{role}", "verdict": verdict, "started_at": when, "duration_s": 1.0,
            "matched": matched, "evidence": {"error": None, "rate": float(matched), "facts": facts,
                                             "attempts": [{"matched": matched,
                                                           "steps": [step("hello\n", stderr, int(matched))]}]}}


FACTS = {"environment": {"kernel": "6.1.0", "arch": "x86_64", "python": "3.9.2", "pip_freeze": {"MarkupSafe": "2.0.1"},
                         "timezone": "IST +0530 /usr/share/zoneinfo/Asia/Kolkata", "locale": ""},
         "baseline": {"kernel": "6.1.0", "arch": "x86_64", "python": "3.11.2", "pip_freeze": {"MarkupSafe": "2.0.1"},
                      "timezone": "UTC", "locale": ""}}


@pytest.fixture
def case(tmp_path: Path):
    (tmp_path / "environments").mkdir()
    (tmp_path / "cases" / "R-1").mkdir(parents=True)
    (tmp_path / "cases" / "R-1" / "case.yaml").write_text(CASE)
    return load_case("R-1", root=tmp_path)


@pytest.fixture
def records() -> list[dict]:
    old = [row(r, "NOT_REPRODUCED", "2024-01-01T10:00:00+00:00", False, FACTS[r]) for r in ("environment", "baseline")]
    new = [row("environment", "REPRODUCED", "2024-02-01T10:00:00+00:00", True, FACTS["environment"], "boom at 0x7f\n"),
           row("baseline", "REPRODUCED", "2024-02-01T10:00:00+00:00", False, FACTS["baseline"])]
    return new + old


def test_report_without_any_run_says_so_and_still_shows_environments(case):
    data = report.gather(case, records=[])
    assert data["verdict"]["value"] is None and "reprokit case run" in data["verdict"]["description"]
    assert data["history"]["runs"] == 0
    assert "declared values were not checked: no recorded run with facts" in data["not_reproduced"]
    assert {r["field"] for r in data["environments"]["rows"] if r["differs"]} == \
        {"os", "timezone", "python_packages.markupsafe", "files./etc/app.ini"}


def test_newest_history_run_is_rebuilt_into_verdict_facts_and_masked_output_diff(case, records):
    data = report.gather(case, records=records)
    assert data["verdict"]["value"] == "REPRODUCED" and data["verdict"]["when"] == "2024-02-01T10:00:00+00:00"
    assert {"fact": "python", "baseline": "3.11.2", "environment": "3.9.2"} in data["observed_differences"]
    assert "+boom at <hex>" in data["output"]["stderr"]
    assert data["output"]["stdout"] == ""


def test_history_counts_first_seen_last_replay_and_reproductions(case, records):
    assert report.gather(case, records=records)["history"] == {
        "runs": 2, "first_seen": "2024-02-01T10:00:00+00:00", "last_replay": "2024-02-01T10:00:00+00:00",
        "reproduced": 1, "verdicts": {"REPRODUCED": 1, "NOT_REPRODUCED": 1}}


def test_pin_the_container_did_not_get_is_listed_as_not_reproduced(case, records):
    gaps = report.gather(case, records=records)["not_reproduced"]
    assert "python package markupsafe==2.1.0: found 2.0.1" in gaps
    assert any(g.startswith("the kernel: containers share the host's (6.1.0)") for g in gaps)
    assert not any(g.startswith("timezone") for g in gaps)


def test_an_explicit_result_wins_over_history(case, records):
    result = CaseResult.from_dict(case, {"verdict": "FLAKY", "runs": {}, "diffs": {"facts": [], "output": {}}})
    assert report.gather(case, result=result, records=records)["verdict"]["value"] == "FLAKY"


def test_isolation_result_from_history_is_shown(case, records):
    isolated = {"id": 1, "case": "R-1", "environment": "R-1/environment", "spec_hash": "h", "duration_s": 9.0,
                "started_at": "2024-03-01T00:00:00+00:00"}
    isolated["evidence"] = {"minimal": [{"name": "python_packages.markupsafe", "baseline": "markupsafe==2.0.1",
                                         "customer": "markupsafe==2.1.0"}], "further_causes": [],
                            "probes": [{}, {}, {}], "reproduce": "reprokit isolate R-1"}
    data = report.gather(case, records=records, isolations=[isolated])
    assert data["isolation"]["cause"] == ["python_packages.markupsafe: markupsafe==2.0.1 -> markupsafe==2.1.0"]
    text = report.to_markdown(data)
    assert "- `python_packages.markupsafe: markupsafe==2.0.1 -> markupsafe==2.1.0`" in text
    assert "3 probe(s)" in text and "`reprokit isolate R-1`" in text
    assert data["verdict"]["value"] == "REPRODUCED"


def test_markdown_renders_tables_with_only_differing_rows_in_bold(case, records):
    html = MarkdownIt("commonmark").enable("table").render(report.to_markdown(report.gather(case, records=records)))
    table = html.split("<table>")[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
    bold = {re.search(r"<td>(?:<strong>)?(.*?)(?:</strong>)?</td>", r).group(1) for r in rows if "<strong>" in r}
    assert bold == {"os", "timezone", "python_packages.markupsafe", "files./etc/app.ini"}
    assert len(rows) == len(report.gather(case)["environments"]["rows"])
    assert "Export fails | with &lt;b&gt;markup&lt;/b&gt;" in html
    assert "<pre><code class=\"language-diff\">" in html and "-timeout = 30" in html


def test_markdown_fence_outlasts_backticks_in_the_case_files(case):
    text = report.to_markdown(report.gather(case))
    assert "````sh\n" in text
    html = MarkdownIt("commonmark").render(text)
    assert "print('```')" in html and "docker build -t reprokit-r-1:environment ." in html


def test_docker_recipe_has_the_rendered_dockerfile_context_files_and_steps(case):
    from reprokit.image.render import render

    recipe = report.docker_recipe(case, case.environment, "environment")
    assert render(case.environment).dockerfile in recipe
    assert "cat > rootfs/etc/app.ini <<'REPROKIT_EOF'\ntimeout = 5\nREPROKIT_EOF" in recipe
    assert "COPY case/ /work/" in recipe and "cat > case/repro.py" in recipe
    assert recipe.endswith("docker run --rm --network bridge --memory 2g --pids-limit 1024 "
                           "reprokit-r-1:environment sh -ec 'python3 repro.py'")


def test_html_is_one_self_contained_file_with_escaped_text(case, records):
    page = report.to_html(report.gather(case, records=records))
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|<img|src=|href=|url\(|@import", page, re.I)
    assert "Export fails | with &lt;b&gt;markup&lt;/b&gt;" in page and "<b>markup</b>" not in page
    assert page.count('<tr class="differs">') == 4


def test_json_report_is_the_gathered_data(case, records):
    data = report.gather(case, records=records)
    assert json.loads(report.render_report(data, "json")) == json.loads(json.dumps(data))


def test_unknown_format_is_a_user_error_with_exit_2(case):
    done = subprocess.run([sys.executable, "-m", "reprokit", "report", "R-1", "--format", "pdf", "-C",
                           str(case.folder.parent.parent)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--format 'pdf' is not a report format" in done.stderr
    assert "md, html, json" in done.stderr


FACTS_SEEN = {  # what the facts script prints in each of R-1's environments (see reprokit/run/facts.py)
    "environment": "\n@@reprokit-fact python\n3.9.2\n@@reprokit-fact pip_freeze\nMarkupSafe==2.1.0\n"
                   "@@reprokit-fact timezone\nIST +0530\n/usr/share/zoneinfo/Asia/Kolkata\n",
    "baseline": "\n@@reprokit-fact python\n3.11.2\n@@reprokit-fact pip_freeze\nMarkupSafe==2.0.1\n"}


def test_the_report_of_a_case_equals_field_for_field_what_case_run_json_gave(case, monkeypatch):
    from typer.testing import CliRunner

    from fakes import FakeEngine
    from reprokit.case.history import History
    from reprokit.cli.main import app
    from reprokit.engine import RunResult, set_engine

    root = str(case.folder.parent.parent)
    monkeypatch.delenv("REPROKIT_HISTORY", raising=False)
    engine = FakeEngine()
    customer = lambda image: "Asia/Kolkata" in next(b["dockerfile"] for b in engine.builds if b["tag"] == image)  # noqa: E731
    engine.on_step = lambda image, config, step: RunResult(step, 1, "", "boom at 0x7f\n", 0.2) if customer(image) \
        else RunResult(step, 0, "ok\n", "", 0.1)
    engine.facts_output = lambda image, config: FACTS_SEEN["environment" if customer(image) else "baseline"]
    set_engine(engine)
    try:
        ran = CliRunner().invoke(app, ["case", "run", "R-1", "--json", "-C", root])
        shown = CliRunner().invoke(app, ["report", "R-1", "--format", "json", "-C", root])
    finally:
        set_engine(None)
    assert ran.exit_code == 0 and shown.exit_code == 0, (ran.output, shown.output)
    data, reported = json.loads(ran.stdout), json.loads(shown.stdout)
    assert data["verdict"] == "REPRODUCED" and data["diffs"]["facts"] and data["diffs"]["output"]
    assert reported["verdict"] == {"value": data["verdict"], "description": data["verdict_description"],
                                   "when": data["started_at"], "repeat": data["repeat"],
                                   "rates": data["reproduction_rate"]}
    assert reported["observed_differences"] == data["diffs"]["facts"]
    assert reported["output"] == {stream: report.excerpt(diff) for stream, diff in data["diffs"]["output"].items()}
    assert reported["errors"] == {} and reported["services"] == {}
    # What the report read back from history is the result `case run --json` printed, every field of it.
    rows = History(case.folder.parent.parent / ".reprokit" / "history.sqlite").records()
    stored = CaseResult.from_record(case, rows)
    assert stored.to_dict() == data
