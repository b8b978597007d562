"""Known errors: match a customer's log against every case's signatures, and write the support manual."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from reprokit.errors import ReprokitError, SpecError
from reprokit.contract.load import Project, load_case
from reprokit.contract.models import Case, Status

MAX_LOG_BYTES = 64 << 20
EVIDENCE_LINES = 3


@dataclass(frozen=True)
class Hit:
    """One signature that matched, with the log lines that show it (1-based line numbers)."""

    pattern: str
    lines: tuple[tuple[int, str], ...]
    count: int


@dataclass(frozen=True)
class Match:
    """A case whose signatures match a log: how well, the evidence, and what to tell the customer."""

    case: Case
    hits: tuple[Hit, ...]
    missed: tuple[str, ...]

    @property
    def score(self) -> float:
        """The share of the case's signatures found in the log (1.0: every one)."""
        return len(self.hits) / (len(self.hits) + len(self.missed))

    @property
    def resolution(self) -> str:
        return resolution(self.case)

    def to_dict(self) -> dict:
        return {"case": self.case.id, "title": self.case.title, "status": self.case.status.value,
                "score": round(self.score, 3), "resolution": self.resolution,
                "workaround": self.case.workaround, "fixed_in": self.case.fixed_in,
                "matched": [{"pattern": h.pattern, "count": h.count,
                             "lines": [{"line": n, "text": t} for n, t in h.lines]} for h in self.hits],
                "missed": list(self.missed)}


@dataclass
class Triage:
    """The ranked matches for one log, and the cases that could not be read (never silently skipped)."""

    matches: list[Match]
    unreadable: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"matches": [m.to_dict() for m in self.matches], "unreadable": self.unreadable}


def resolution(case: Case) -> str:
    """What first-line support can tell a customer: the workaround, the fixed version, or that it is open."""
    parts = []
    if case.workaround:
        parts.append(f"Workaround: {case.workaround.strip()}")
    if case.fixed_in:
        parts.append(f"Fixed in {case.fixed_in}.")
    if not parts:
        parts.append(f"No resolution yet; escalate and reference {case.id}.")
    return "\n".join(parts)


def read_log(path: Path | str) -> str:
    """A log file as text (undecodable bytes replaced); '-' is standard input."""
    import sys

    if str(path) == "-":
        return sys.stdin.buffer.read(MAX_LOG_BYTES).decode("utf-8", "replace")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_LOG_BYTES + 1)
    except OSError as error:
        raise ReprokitError(f"{path}: cannot read the log: {error.strerror}",
                            hint="pass a readable file, or '-' to read standard input") from None
    if len(raw) > MAX_LOG_BYTES:
        raise ReprokitError(f"{path}: the log is larger than {MAX_LOG_BYTES >> 20} MiB",
                            hint="pass the relevant part, e.g. tail -n 100000 LOG | reprokit triage -")
    return raw.decode("utf-8", "replace")


def load_cases(project: Project) -> tuple[list[Case], dict[str, str]]:
    """Every case of the project; the ones that fail to load are returned with their error."""
    cases, unreadable = [], {}
    for case_id in project.case_ids():
        try:
            cases.append(load_case(case_id, root=project.root))
        except SpecError as error:
            unreadable[case_id] = str(error)
    return cases, unreadable


def match(log: str, case: Case) -> Match | None:
    """How ``case``'s signatures match ``log``; None when none of them does (or it has none)."""
    hits, missed = [], []
    lines = log.splitlines()
    for pattern in case.signatures:
        regex = re.compile(pattern, re.MULTILINE)
        found = list(regex.finditer(log))
        if not found:
            missed.append(pattern)
            continue
        numbers = sorted({log.count("\n", 0, m.start()) + 1 for m in found})
        shown = tuple((n, lines[n - 1][:300]) for n in numbers[:EVIDENCE_LINES] if n <= len(lines))
        hits.append(Hit(pattern, shown, len(found)))
    return Match(case, tuple(hits), tuple(missed)) if hits else None


def rank(matches: list[Match]) -> list[Match]:
    """Best first: the share of signatures matched, then known errors (they have an answer), then hits."""
    return sorted(matches, key=lambda m: (-m.score, m.case.status != Status.KNOWN_ERROR,
                                          -sum(h.count for h in m.hits), m.case.id))


def triage(log: str, cases: list[Case]) -> list[Match]:
    """The cases whose signatures match ``log``, ranked."""
    return rank([m for m in (match(log, case) for case in cases) if m is not None])


def triage_project(log: str, project: Project) -> Triage:
    cases, unreadable = load_cases(project)
    return Triage(triage(log, cases), unreadable)


# -- the known-error manual -------------------------------------------------------------------------------------


def knowledge_base(cases: list[Case], *, title: str = "Known errors") -> str:
    """Every known-error case as a Markdown manual for first-line support: how to recognize it, what to say."""
    from reprokit.case.compare import spec_diff

    known = sorted((c for c in cases if c.status == Status.KNOWN_ERROR), key=lambda c: c.id)
    lines = [f"# {title}", "",
             f"{len(known)} known error(s). To check a customer's log against all of them, run "
             "`reprokit triage LOGFILE` (or pipe the log into `reprokit triage -`).", ""]
    if known:
        lines += ["| Case | Title | Resolution |", "| --- | --- | --- |"]
        lines += [f"| [{c.id}](#{_anchor(c)}) | {_cell(c.title)} | {_cell(resolution(c).splitlines()[0])} |"
                  for c in known]
        lines.append("")
    for case in known:
        lines += [f"## {case.id}: {case.title}", ""]
        if case.customer:
            lines += [f"First reported by: {case.customer}", ""]
        lines += ["### How to recognize it", ""]
        lines += [f"- a log line matching `{_code(p)}`" for p in case.signatures] or \
            ["- (no log signatures declared; compare with the reproduction's output)"]
        lines += [f"- in a reproduction: {_expect(case)}", "", "### What to tell the customer", ""]
        lines += [resolution(case), ""]
        if case.notes:
            lines += ["### Notes", "", case.notes.strip(), ""]
        differences = spec_diff(case.baseline, case.environment)
        if differences:
            lines += ["### Where it happens", "", f"In `{case.environment.name}`, unlike `{case.baseline.name}`:", ""]
            lines += [f"- `{d['field']}`: `{_code(d['environment'])}` (baseline: `{_code(d['baseline'])}`)"
                      for d in differences[:12] if not d["field"].startswith("files.")]
            lines.append("")
        lines += ["### Reproduce", "", "```sh", f"reprokit case run {case.id}", "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def _expect(case: Case) -> str:
    return ", ".join(f"{k} {v!r}" for k, v in case.expect.model_dump(exclude_none=True).items())


def _anchor(case: Case) -> str:
    """GitHub's heading anchor: lower-case, punctuation dropped, spaces to hyphens."""
    text = f"{case.id}: {case.title}".lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return str(text).replace("`", "'").replace("\n", "\\n")[:200]
