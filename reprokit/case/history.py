"""Every run, recorded: an embedded SQLite database under .reprokit/ (or $REPROKIT_HISTORY).

Two kinds of record, a table each: `runs` (one row per environment run of a case; `CaseResult.records` writes
them, `CaseResult.from_record` reads them back) and `isolations` (one row per `reprokit isolate` result).
Isolation results written into `runs` by older versions (kind 'isolate') are moved on opening."""
from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL DEFAULT 'case',
    case_id TEXT NOT NULL,
    environment TEXT NOT NULL,
    role TEXT NOT NULL,
    spec_hash TEXT,
    image_id TEXT,
    verdict TEXT NOT NULL,
    matched INTEGER,
    started_at TEXT NOT NULL,
    duration_s REAL,
    evidence TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_case ON runs(case_id, started_at);
CREATE TABLE IF NOT EXISTS isolations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL,
    environment TEXT NOT NULL,
    spec_hash TEXT,  -- the minimal hybrid environment's spec hash
    started_at TEXT NOT NULL,
    duration_s REAL,
    evidence TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS isolations_case ON isolations(case_id, started_at);
"""
# Older versions stored isolation results as runs of kind 'isolate', with a verdict written in by hand.
MIGRATE = """
INSERT INTO isolations (case_id, environment, spec_hash, started_at, duration_s, evidence)
    SELECT case_id, environment, spec_hash, started_at, duration_s, evidence FROM runs WHERE kind = 'isolate'
    ORDER BY id;
DELETE FROM runs WHERE kind = 'isolate';
"""


def default_path(project_root: Path) -> Path:
    return Path(os.environ.get("REPROKIT_HISTORY") or project_root / ".reprokit" / "history.sqlite")


class History:
    """Append-only run records; safe for several processes writing at once (WAL, busy timeout)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.executescript(SCHEMA)
            if db.execute("SELECT 1 FROM runs WHERE kind = 'isolate' LIMIT 1").fetchone():
                db.execute("BEGIN IMMEDIATE")
                for statement in filter(str.strip, MIGRATE.split(";")):
                    db.execute(statement)
                db.execute("COMMIT")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        db.execute("PRAGMA busy_timeout=60000")
        # Switching a new database to WAL needs it alone, and SQLite does not wait for that lock with the busy
        # handler: processes creating one history at once retry for a while instead of failing.
        for attempt in range(200):
            try:
                db.execute("PRAGMA journal_mode=WAL")
                # In WAL mode, NORMAL syncs at checkpoints, not at every commit: a power cut may lose the last runs'
                # records, never the database (https://www.sqlite.org/pragma.html#pragma_synchronous).
                db.execute("PRAGMA synchronous=NORMAL")
                return db
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == 199:
                    db.close()
                    raise
                time.sleep(0.05)
        return db

    def record(self, rows: list[dict]) -> None:
        """Write the records of one run in a single transaction; secret-looking values in the evidence are
        redacted first (outputs and env vars may carry them, and history outlives the run)."""
        from reprokit.redact import redact

        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO runs (kind, case_id, environment, role, spec_hash, image_id, verdict, matched,"
                " started_at, duration_s, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.get("kind", "case"), r["case"], r["environment"], r["role"], r.get("spec_hash"), r.get("image_id"),
                  r["verdict"], None if r.get("matched") is None else int(r["matched"]), r.get("started_at", now),
                  r.get("duration_s"), json.dumps(redact(r.get("evidence", {}))[0], default=str)) for r in rows])
            db.execute("COMMIT")

    def record_isolation(self, case_id: str, environment: str, *, spec_hash: str, duration_s: float,
                         evidence: dict) -> None:
        """Write one isolation result (`Isolation.to_dict()` as evidence), redacted like run evidence."""
        from reprokit.redact import redact

        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with closing(self._connect()) as db:
            db.execute("INSERT INTO isolations (case_id, environment, spec_hash, started_at, duration_s, evidence)"
                       " VALUES (?, ?, ?, ?, ?, ?)", (case_id, environment, spec_hash, now, duration_s,
                                                     json.dumps(redact(evidence)[0], default=str)))

    def isolations(self, case_id: str | None = None) -> list[dict]:
        """Isolation results, newest first: case, environment, spec_hash (the minimal hybrid's), started_at,
        duration_s, evidence."""
        return self._rows("isolations", case_id, None)

    def last_durations(self) -> dict[str, float]:
        """Each case's duration in its last recorded run: the longer of its two environment runs, which run
        side by side (the build included, as the replay that recorded it saw it)."""
        query = ("SELECT case_id, MAX(duration_s) FROM runs WHERE id IN (SELECT MAX(id) FROM runs"
                 " WHERE kind = 'case' AND duration_s IS NOT NULL GROUP BY case_id, role) GROUP BY case_id")
        with closing(self._connect()) as db:
            return {case: float(seconds) for case, seconds in db.execute(query)}

    def records(self, case_id: str | None = None, *, limit: int | None = None) -> list[dict]:
        """Case run rows, newest first (see `CaseResult.from_record`)."""
        return [{**r, "matched": None if r["matched"] is None else bool(r["matched"])}
                for r in self._rows("runs", case_id, limit)]

    def _rows(self, table: str, case_id: str | None, limit: int | None) -> list[dict]:
        query = f"SELECT * FROM {table}" + (" WHERE case_id = ?" if case_id else "") + " ORDER BY id DESC"
        if limit:
            query += f" LIMIT {int(limit)}"
        with closing(self._connect()) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(query, (case_id,) if case_id else ()).fetchall()
        result = []
        for row in rows:
            item = dict(row)
            item["case"] = item.pop("case_id")
            item["evidence"] = json.loads(item["evidence"])
            result.append(item)
        return result
