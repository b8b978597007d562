"""Decide what a run shows: does the signature hold, what is the verdict, and what differs between two runs."""
from __future__ import annotations

import difflib
import re
from typing import Iterable, Sequence

from reprokit.engine import RunResult
from reprokit.aspects.atoms import atoms
from reprokit.contract.models import EnvironmentSpec, Signature, Verdict

# Noise that differs between any two runs; masked before output is compared. A case adds its own `masks`.
MASKS: tuple[tuple[str, str], ...] = (
    (r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?", "<timestamp>"),
    (r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b", "<time>"),
    (r"\b0x[0-9a-fA-F]+\b", "<hex>"),
    (r"/tmp/[\w./-]+", "<tmp>"),
    (r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b", "<id>"),
    (r"\b\d+(?:\.\d+)?\s?(?:ms|s|sec|seconds)\b", "<duration>"),
)


def combined(steps: Sequence[RunResult]) -> RunResult:
    """The steps of one attempt seen as one run: outputs joined, the last step's exit code, any timeout/OOM."""
    if not steps:
        return RunResult("", 0, "", "", 0.0)
    return RunResult(
        command=" && ".join(s.command for s in steps),
        exit_code=steps[-1].exit_code,
        stdout="".join(s.stdout for s in steps),
        stderr="".join(s.stderr for s in steps),
        duration_s=round(sum(s.duration_s for s in steps), 3),
        timed_out=any(s.timed_out for s in steps),
        oom_killed=any(s.oom_killed for s in steps),
    )


def signature_holds(signature: Signature, run: RunResult) -> bool:
    """Every field the signature gives must hold in the run."""
    checks = []
    if signature.exit_code is not None:
        checks.append(run.exit_code != 0 if signature.exit_code == "nonzero" else run.exit_code == signature.exit_code)
    if signature.stdout_contains is not None:
        checks.append(signature.stdout_contains in run.stdout)
    if signature.stderr_contains is not None:
        checks.append(signature.stderr_contains in run.stderr)
    if signature.output_matches is not None:
        checks.append(re.search(signature.output_matches, run.stdout + run.stderr, re.MULTILINE) is not None)
    if signature.oom_killed is not None:
        checks.append(run.oom_killed == signature.oom_killed)
    if signature.timed_out is not None:
        checks.append(run.timed_out == signature.timed_out)
    return all(checks)


def verdict(environment_rate: float | None, baseline_rate: float | None) -> Verdict:
    """The verdict from how often the signature held in each environment (None: could not run there)."""
    if environment_rate is None or baseline_rate is None:
        return Verdict.ERROR
    if 0 < environment_rate < 1 or 0 < baseline_rate < 1:
        return Verdict.FLAKY
    if environment_rate and baseline_rate:
        return Verdict.EVERYWHERE
    if environment_rate:
        return Verdict.REPRODUCED
    return Verdict.BASELINE_ONLY if baseline_rate else Verdict.NOT_REPRODUCED


def mask(text: str, extra: Iterable[str] = ()) -> str:
    for pattern in extra:
        text = re.sub(pattern, "<masked>", text)
    for pattern, placeholder in MASKS:
        text = re.sub(pattern, placeholder, text)
    return text


def output_diff(baseline: RunResult, environment: RunResult, *, masks: Iterable[str] = ()) -> dict[str, str]:
    """Unified diffs of stdout and stderr, baseline -> environment, with noise masked."""
    masks = tuple(masks)
    diffs = {}
    for stream in ("stdout", "stderr"):
        before = mask(getattr(baseline, stream), masks).splitlines(keepends=True)
        after = mask(getattr(environment, stream), masks).splitlines(keepends=True)
        diffs[stream] = "".join(difflib.unified_diff(before, after, "baseline", "environment", n=2))
    return diffs


def observed_diffs(baseline_facts: dict, environment_facts: dict, baseline_output: RunResult,
                   environment_output: RunResult, *, masks: Iterable[str] = ()) -> dict:
    """The two diffs that need a run: observed facts (when both sides have them) and output."""
    return {"facts": facts_diff(baseline_facts, environment_facts) if baseline_facts and environment_facts else [],
            "output": output_diff(baseline_output, environment_output, masks=masks)}


def spec_diff(baseline: EnvironmentSpec, environment: EnvironmentSpec) -> list[dict[str, str]]:
    """The declared difference, computable without building anything: one row per atom (see isolate)."""
    shown = lambda value: "(absent)" if value is None else value  # noqa: E731
    return [{"field": a.name, "baseline": shown(a.baseline), "environment": shown(a.customer)}
            for a in atoms(baseline, environment)]


def facts_diff(baseline: dict, environment: dict) -> list[dict[str, str]]:
    """The observed difference between two environments' facts (nested maps compared key by key). Two values
    that are both container ids (Docker's default hostname) are noise, not a difference."""
    rows = _diff(_flatten_facts(baseline), _flatten_facts(environment), "fact")
    return [r for r in rows if not (CONTAINER_ID.fullmatch(r["baseline"]) and CONTAINER_ID.fullmatch(r["environment"]))]


CONTAINER_ID = re.compile(r"[0-9a-f]{12}")


def _flatten_facts(facts: dict) -> dict[str, str]:
    flat = {}
    for key, value in facts.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": str(v) for k, v in value.items()})
        else:
            flat[key] = str(value)
    return flat


def _diff(before: dict[str, str], after: dict[str, str], label: str) -> list[dict[str, str]]:
    keys = list(before) + [k for k in after if k not in before]
    return [{label: k, "baseline": before.get(k, "(absent)"), "environment": after.get(k, "(absent)")}
            for k in keys if before.get(k) != after.get(k)]
