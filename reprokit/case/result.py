"""The typed result of a case run: built once by the run, stored once in history, read back with `from_record`.

`case run --json` prints `CaseResult.to_dict()`; history stores each environment run's part in its own row
and the rest (verdict, diffs, ...) once, in the customer environment's row; reports and bundles read a
`CaseResult` back (`from_record`, `from_dict`) instead of rebuilding dicts or computing diffs again."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from reprokit.case.compare import combined, observed_diffs
from reprokit.contract.models import Case, Status, Verdict
from reprokit.engine import RunResult
from reprokit.image.build import Image

EVIDENCE_BYTES = 64 * 1024  # per stream and step, in history records
EXPECTED = {
    Status.OPEN: (Verdict.REPRODUCED, Verdict.FLAKY),
    Status.KNOWN_ERROR: (Verdict.REPRODUCED, Verdict.FLAKY),
    Status.FIXED: (Verdict.NOT_REPRODUCED,),
}


class Role(str, Enum):
    """What an environment run is for in a case."""

    ENVIRONMENT = "environment"
    BASELINE = "baseline"
    PROBE = "isolate-probe"

    def describe(self) -> str:
        return {"environment": "the customer's environment, where the bug should show",
                "baseline": "the company's reference environment, where it should not",
                "isolate-probe": "a hybrid of the two, run by `reprokit isolate`"}[self.value]


@dataclass
class Attempt:
    """One fresh container running all steps; steps stop at the first that fails or times out."""

    steps: list[RunResult]
    matched: bool

    def to_dict(self, *, cut: int | None = None) -> dict:
        """``cut``: keep at most that many characters of each output (history's evidence)."""
        return {"matched": self.matched, "steps": [_step(s, cut) for s in self.steps]}

    @classmethod
    def from_dict(cls, data: dict) -> Attempt:
        fields = RunResult.__dataclass_fields__
        return cls([RunResult(**{k: s[k] for k in fields if k in s}) for s in data.get("steps", [])],
                   bool(data.get("matched")))


@dataclass
class EnvironmentRun:
    """A case's steps in one environment, ``repeat`` times."""

    name: str
    role: Role
    spec_hash: str  # the environment spec's hash (EnvironmentSpec.content_hash); the image's is image.image_hash
    image: Image | None = None
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    duration_s: float = 0.0
    services: dict = field(default_factory=dict)  # per service: provenance, version, died, last log lines
    engine_lost: bool = False  # the error is the engine going away (EngineLost), not the environment

    @property
    def rate(self) -> float | None:
        """How often the signature held; None when the environment could not be built or started."""
        if self.error is not None or not self.attempts:
            return None
        return sum(a.matched for a in self.attempts) / len(self.attempts)

    @property
    def matched(self) -> bool | None:
        return None if self.rate is None else self.rate > 0

    def output(self) -> RunResult:
        return combined(self.attempts[0].steps if self.attempts else [])

    def to_dict(self, *, cut: int | None = None) -> dict:
        image = None if self.image is None else {"tag": self.image.tag, "id": self.image.id, "built": self.image.built,
                                                 "pulled": self.image.pulled, "image_hash": self.image.image_hash}
        return {"name": self.name, "role": _value(self.role), "spec_hash": self.spec_hash, "image": image,
                "error": self.error, "matched": self.matched, "rate": self.rate, "duration_s": self.duration_s,
                "attempts": [a.to_dict(cut=cut) for a in self.attempts], "facts": self.facts,
                **({"services": self.services} if self.services else {})}

    @classmethod
    def from_dict(cls, data: dict) -> EnvironmentRun:
        image = data.get("image") or None
        return cls(data["name"], _role(data.get("role")), data.get("spec_hash") or "",
                   Image(image.get("tag") or "", image.get("id") or "", image.get("image_hash") or "",
                         bool(image.get("built")), pulled=bool(image.get("pulled"))) if image else None,
                   data.get("error"), [Attempt.from_dict(a) for a in data.get("attempts", [])],
                   dict(data.get("facts") or {}), data.get("duration_s") or 0.0, dict(data.get("services") or {}))


@dataclass
class CaseResult:
    """A case run: the verdict, both environment runs, the diffs, and how to run it again."""

    case: Case
    verdict: Verdict
    runs: dict[str, EnvironmentRun]
    diffs: dict
    repeat: int
    duration_s: float
    reproduce: str
    started_at: str | None = None  # ISO 8601, UTC
    engine: str = ""  # the endpoint of the engine both runs used
    retried_after: str | None = None  # the first attempt's error, when its engine went away and this is the retry

    @property
    def engine_lost(self) -> bool:
        """Did the engine go away under one of the runs? (A replay retries such a case once.)"""
        return any(run.engine_lost for run in self.runs.values())

    @property
    def as_expected(self) -> bool:
        """Does what happened match the case's status? (open/known-error: reproduces; fixed: does not)"""
        return self.verdict in EXPECTED[self.case.status]

    def explain(self) -> str:
        """One sentence on why the outcome is or is not what the case's status expects."""
        if self.verdict is Verdict.ERROR:
            return "; ".join(f"{_value(r.role)} ({r.name}): {r.error}" for r in self.runs.values() if r.error)
        if self.as_expected:
            return self.verdict.describe()
        if self.case.status is Status.FIXED:
            return f"the case is marked fixed but gave {self.verdict.value}: {self.verdict.describe()} — regression?"
        return f"no longer reproduces — fixed? ({self.verdict.value}: {self.verdict.describe()})"

    def to_dict(self) -> dict:
        rates = {str(Role(role).value): run.rate for role, run in self.runs.items()}
        return {"case": self.case.id, "title": self.case.title, "customer": self.case.customer,
                "status": self.case.status.value, "verdict": self.verdict.value,
                "verdict_description": self.verdict.describe(), "as_expected": self.as_expected,
                "explanation": self.explain(), "repeat": self.repeat, "reproduction_rate": rates,
                "runs": {Role(role).value: run.to_dict() for role, run in self.runs.items()}, "diffs": self.diffs,
                "duration_s": self.duration_s, "reproduce": self.reproduce, "started_at": self.started_at,
                "engine": self.engine, **({"retried_after": self.retried_after} if self.retried_after else {})}

    @classmethod
    def from_dict(cls, case: Case, data: dict) -> CaseResult:
        """A result from its `to_dict()` (a `case run --json` file, say) and the case it is of."""
        runs = {Role(role).value: EnvironmentRun.from_dict(run) for role, run in data.get("runs", {}).items()}
        return cls(case, Verdict(data["verdict"]), runs, data.get("diffs") or {"facts": [], "output": {}},
                   data.get("repeat", 1), data.get("duration_s") or 0.0, data.get("reproduce") or "",
                   data.get("started_at"), data.get("engine") or "", data.get("retried_after"))

    # -- history ---------------------------------------------------------------------------------------------

    def records(self) -> list[dict]:
        """History rows: one per environment run, its `to_dict()` (outputs cut to EVIDENCE_BYTES) as evidence;
        the result's own fields once, in the customer environment's row."""
        whole = {k: v for k, v in self.to_dict().items() if k not in ("runs",)}
        return [{"case": self.case.id, "environment": run.name, "role": _value(run.role),
                 "spec_hash": run.spec_hash, "image_id": run.image.id if run.image else None,
                 "verdict": self.verdict.value, "matched": run.matched, "duration_s": run.duration_s,
                 **({"started_at": self.started_at} if self.started_at else {}),
                 "evidence": {**run.to_dict(cut=EVIDENCE_BYTES),
                              **({"result": whole} if run.role is Role.ENVIRONMENT else {})}}
                for run in self.runs.values()]

    @classmethod
    def from_record(cls, case: Case, rows: list[dict]) -> CaseResult | None:
        """The newest case run among history ``rows`` (`History.records`), read back; None when there is none.
        Rows written before results were stored whole are read too (their diffs are computed from the runs)."""
        rows = [r for r in rows if r.get("kind", "case") == "case" and r.get("case") == case.id]
        if not rows:
            return None
        newest = max(rows, key=lambda r: (r["started_at"], r.get("id", 0)))
        batch = [r for r in rows if r["started_at"] == newest["started_at"]]
        runs = {r["role"]: {"name": r["environment"], "role": r["role"], "spec_hash": r.get("spec_hash"),
                            "image": {"id": r.get("image_id")}, "duration_s": r.get("duration_s"),
                            **{k: v for k, v in r["evidence"].items() if k != "result"}} for r in batch}
        whole = next((r["evidence"]["result"] for r in batch if "result" in r["evidence"]), None)
        if whole is None:  # an older row: what the result held besides the runs was not stored
            whole = {"verdict": newest["verdict"], "diffs": _legacy_diffs(case, runs)}
        when = whole.get("started_at") or newest["started_at"]
        return cls.from_dict(case, {**whole, "runs": runs, "started_at": when})


def _role(value: Any) -> Role | str:
    try:
        return Role(value)
    except ValueError:
        return value  # `case run --across`: runs keyed by environment name


def _value(role: Role | str) -> str:
    return role.value if isinstance(role, Role) else role


def _step(step: RunResult, cut: int | None) -> dict:
    data = step.to_dict()
    if cut is not None:
        half = cut // 2  # head and tail: a signature printed last is evidence too
        for stream in ("stdout", "stderr"):
            text = data[stream]
            if len(text) > cut:
                data[stream] = f"{text[:half]}\n[reprokit: {len(text) - 2 * half} characters cut here]\n{text[-half:]}"
    return data


def _legacy_diffs(case: Case, runs: dict) -> dict:
    if not {"baseline", "environment"} <= set(runs):
        return {"facts": [], "output": {}}
    base, env = (EnvironmentRun.from_dict(runs[role]) for role in ("baseline", "environment"))
    return observed_diffs(base.facts, env.facts, base.output(), env.output(), masks=case.masks)
