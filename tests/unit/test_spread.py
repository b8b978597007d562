"""A replay spread over engines, and engines that go away under it (reprokit/case/spread.py): fake engines."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fakes import write_project
from reprokit.case.history import History
from reprokit.case.replay import replay_cases
from reprokit.errors import EngineLost
from test_replay import CASE, BatchEngine

CASES = {f"C-{n}": "acme" if n % 2 else "globex" for n in range(1, 7)}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("REPROKIT_HISTORY", raising=False)
    files = {"environments/baseline.yaml": "os: debian:bookworm\n",
             "environments/acme.yaml": "extends: baseline\nenv: {ACME: '1'}\n",
             "environments/globex.yaml": "extends: baseline\nenv: {GLOBEX: '1'}\n"}
    files |= {f"cases/{case}/case.yaml": CASE.format(id=case, environment=env) for case, env in CASES.items()}
    return write_project(tmp_path / "project", files)


class Engine(BatchEngine):
    """Runs steps like BatchEngine, noting which case and role ran here. ``lose`` names cases whose first run
    here finds the engine gone; after that it answers again only if ``comes_back``."""

    def __init__(self, endpoint: str, *, lose: tuple[str, ...] = (), comes_back: bool = True):
        super().__init__(endpoint=endpoint)
        self.lose, self.comes_back = set(lose), comes_back
        self.ran: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def run_batch(self, image, config, **kwargs):
        case, role = config.labels["reprokit.case"], config.labels["reprokit.role"]
        with self.lock:
            lost = case in self.lose or not self.answering
            if case in self.lose:
                self.lose.discard(case)
                self.answering = self.comes_back
        if lost:
            raise EngineLost(self.endpoint, f"running container 0123456789ab of {image}", "connection refused")
        time.sleep(0.05)  # long enough for every worker to take cases
        with self.lock:
            self.ran.append((case, role))
        return super().run_batch(image, config, **kwargs)


def test_cases_spread_over_two_engines_and_each_case_stays_on_one(project):
    a, b = Engine("fake://a"), Engine("fake://b")
    results = replay_cases([], project=project, engines=[a, b], jobs=2)
    assert sorted(r.case.id for r in results) == sorted(CASES) and all(r.verdict.value == "EVERYWHERE" for r in results)
    on = {engine.endpoint: {case for case, _ in engine.ran} for engine in (a, b)}
    assert on["fake://a"] and on["fake://b"] and not on["fake://a"] & on["fake://b"]
    by_endpoint = {engine.endpoint: engine for engine in (a, b)}
    for result in results:  # both runs of a case on the engine its result names
        assert sorted(role for case, role in by_endpoint[result.engine].ran if case == result.case.id) == \
            ["baseline", "environment"]


def test_results_come_back_in_the_order_of_the_cases(project):
    results = replay_cases([str(project / "cases" / c) for c in ("C-3", "C-1", "C-2")], project=project,
                           engines=[Engine("fake://a"), Engine("fake://b")], jobs=2)
    assert [r.case.id for r in results] == ["C-3", "C-1", "C-2"]


def test_a_case_whose_engine_went_away_is_retried_once_after_it_answers_again(project):
    engine = Engine("fake://a", lose=("C-2",))
    results = {r.case.id: r for r in replay_cases([], project=project, engines=[engine], jobs=2, engine_wait=7)}
    assert engine.reconnects == [7]
    retried = results["C-2"]
    assert retried.verdict.value == "EVERYWHERE" and "the engine at fake://a stopped answering" in retried.retried_after
    assert all(r.retried_after is None for case, r in results.items() if case != "C-2")
    records = History(project / ".reprokit" / "history.sqlite").records("C-2")
    assert sorted(r["verdict"] for r in records) == ["ERROR", "ERROR", "EVERYWHERE", "EVERYWHERE"]
    lost = [r for r in records if r["verdict"] == "ERROR" and r["evidence"]["error"]]
    assert lost and "fake://a" in lost[0]["evidence"]["error"]


def one_case_at_a_time(project: Path, ids: list[str], engines: list[Engine]) -> list:
    """`spread` as a replay calls it, with one case at a time on each engine: a replay's --jobs 1 keeps two cases'
    runs going per engine, so which case an engine takes beside the one it is lost on would be a race here."""
    from reprokit.case.replay import find_cases
    from reprokit.case.reproduce import run_case
    from reprokit.case.spread import spread
    from reprokit.contract.load import Project

    cases = find_cases(ids, Project.at(project), project / "scratch")
    return spread(cases, engines, lambda item, engine, lost: run_case(
        item[0], project=item[1], reproduce=item[2], engine=engine, retried_after=lost), jobs=1, wait_s=0)


def test_a_case_whose_engine_does_not_come_back_is_retried_on_another_and_that_engine_takes_no_more(project):
    a, b = Engine("fake://a", lose=("C-1",), comes_back=False), Engine("fake://b")
    results = {r.case.id: r for r in one_case_at_a_time(project, ["C-1", *[c for c in CASES if c != "C-1"]], [a, b])}
    assert all(r.verdict.value == "EVERYWHERE" for r in results.values())
    assert results["C-1"].engine == "fake://b" and "fake://a" in results["C-1"].retried_after
    assert {case for case, _ in a.ran} <= {"C-1"} and a.reconnects == [0]


def test_with_every_engine_gone_each_remaining_case_is_an_error_naming_the_engine(project):
    engine = Engine("fake://a", lose=("C-1",), comes_back=False)
    results = one_case_at_a_time(project, ["C-1", "C-2", "C-3"], [engine])
    assert [r.verdict.value for r in results] == ["ERROR"] * 3
    assert all("the engine at fake://a stopped answering" in r.explain() for r in results)
    assert engine.reconnects == [0]  # waited once; the next cases failed at once


def test_the_summary_says_which_engine_ran_each_case_and_which_case_was_retried(project):
    from rich.console import Console

    from reprokit.case.replay import summary_table

    results = replay_cases([], project=project, engines=[Engine("fake://a", lose=("C-1",)), Engine("fake://b")],
                           jobs=1)
    console = Console(record=True, width=160)
    console.print(summary_table(results))
    text = console.export_text()
    assert "engine" in text and "#1" in text and "#2" in text and "fake://a" in text and "fake://b" in text
    assert [line for line in text.splitlines() if line.strip().startswith("C-1")][0].count("(retried)") == 1
