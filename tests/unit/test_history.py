"""Run records in SQLite (reprokit/history.py)."""
from __future__ import annotations

import multiprocessing

from reprokit.case.history import History


def row(case="SUP-1", role="environment", **extra):
    return {"case": case, "environment": "acme", "role": role, "verdict": "REPRODUCED", "matched": True,
            "duration_s": 1.5, "evidence": {"stdout": "x"}, **extra}


def test_records_come_back_newest_first_with_their_evidence(tmp_path):
    history = History(tmp_path / "h.sqlite")
    history.record([row(), row(role="baseline", matched=False)])
    history.record([row(case="SUP-2")])
    records = history.records()
    assert [r["case"] for r in records] == ["SUP-2", "SUP-1", "SUP-1"]
    assert records[1]["matched"] is False and records[2]["evidence"] == {"stdout": "x"}
    assert [r["case"] for r in history.records("SUP-1")] == ["SUP-1", "SUP-1"]


def _write_many(path, worker):
    history = History(path)
    for i in range(25):
        history.record([row(case=f"W{worker}-{i}"), row(case=f"W{worker}-{i}", role="baseline")])


def test_concurrent_processes_lose_no_record(tmp_path):
    path = tmp_path / "h.sqlite"
    History(path)
    workers = [multiprocessing.Process(target=_write_many, args=(path, w)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    records = History(path).records()
    assert len(records) == 4 * 25 * 2
    assert len({(r["case"], r["role"]) for r in records}) == 200


def test_secret_looking_values_in_evidence_are_redacted_before_they_are_stored(tmp_path):
    history = History(tmp_path / "h.sqlite")
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    history.record([row(evidence={"env": {"DB_PASSWORD": "hunter2"}, "stdout": f"token {token}\n"})])
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the database and its write-ahead log
    assert b"hunter2" not in stored and token.encode() not in stored
    evidence = history.records()[0]["evidence"]
    assert evidence["env"]["DB_PASSWORD"].startswith("<redacted:") and "<redacted:" in evidence["stdout"]


def _create_and_write(path, worker, start):
    start.wait()
    history = History(path)  # every process may be the one that creates the database and turns on WAL
    for i in range(10):
        history.record([row(case=f"W{worker}-{i}")])


def test_processes_that_open_a_new_history_at_once_lose_no_record(tmp_path):
    """pytest -n 2 (xdist): two workers may both find no history yet and create it at the same moment."""
    path = tmp_path / "fresh" / "h.sqlite"
    start = multiprocessing.Barrier(4)
    workers = [multiprocessing.Process(target=_create_and_write, args=(path, w, start)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert len(History(path).records()) == 40


def test_isolation_results_are_records_of_their_own_kind(tmp_path):
    history = History(tmp_path / "h.sqlite")
    history.record([row()])
    history.record_isolation("SUP-1", "acme", spec_hash="abc", duration_s=12.5, evidence={"minimal": []})
    assert [r["role"] for r in history.records()] == ["environment"]
    (found,) = history.isolations("SUP-1")
    assert (found["case"], found["spec_hash"], found["evidence"]) == ("SUP-1", "abc", {"minimal": []})
    assert "verdict" not in found


def test_isolation_rows_an_older_version_wrote_among_the_runs_are_moved_on_opening(tmp_path):
    path = tmp_path / "h.sqlite"
    History(path).record([row(), row(kind="isolate", role="isolate", spec_hash="old", started_at="2024-01-01T00:00:00",
                                  evidence={"minimal": [{"name": "env.A"}]})])
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path)) as db:  # as the older version left it: the isolation among the runs
        db.execute("INSERT INTO runs (kind, case_id, environment, role, verdict, started_at, evidence) "
                   "VALUES ('isolate', 'SUP-1', 'acme', 'isolate', 'REPRODUCED', '2024-01-02T00:00:00', '{}')")
        db.execute("DELETE FROM isolations")
        db.commit()
    history = History(path)
    assert [r["kind"] for r in history.records()] == ["case"]
    assert [r["started_at"] for r in history.isolations("SUP-1")] == ["2024-01-02T00:00:00", "2024-01-01T00:00:00"]
