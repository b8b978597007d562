"""Run a case: its steps in the customer environment and in the baseline, then the verdict and the diffs."""
from __future__ import annotations

import dataclasses
import json
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from reprokit.image.build import build
from reprokit.case.compare import combined, observed_diffs, signature_holds, spec_diff, verdict
from reprokit.case.result import Attempt, CaseResult, EnvironmentRun, Role  # noqa: F401 (re-exported)
from reprokit.engine import Engine, get_engine
from reprokit.errors import EngineLost, ReprokitError, RunError
from reprokit.case.history import History, default_path
from reprokit.contract.load import Project
from reprokit.run.facts import facts_script, not_in_effect
from reprokit.run.launch import Launch, launch
from reprokit.run.steps import run_attempt
from reprokit.services.lifecycle import start_services
from reprokit.contract.models import Case, EnvironmentSpec


def run_case(case: Case, *, project: Project, repeat: int = 1, engine: Engine | None = None,
             on_line: Callable[[str], None] | None = None, record: bool = True,
             reproduce: str | None = None, retried_after: str | None = None,
             slots: threading.Semaphore | None = None) -> CaseResult:
    """Run ``case`` in its environment and its baseline at once; record the outcome in ``project``'s history
    and return it. ``reproduce`` overrides the command printed to run it again (a bundle's, say);
    ``retried_after`` is the error of an attempt this one repeats (its engine went away); ``slots`` (a replay's)
    bounds the environment runs at once across cases: each run holds one."""
    started, when = time.monotonic(), datetime.now(timezone.utc).isoformat(timespec="seconds")
    engine = engine or get_engine()
    roles = {Role.ENVIRONMENT: case.environment, Role.BASELINE: case.baseline}
    runs = observe_many(case, roles, project=project, repeat=repeat, engine=engine, on_line=on_line, slots=slots)
    result = CaseResult(case, verdict(runs[Role.ENVIRONMENT].rate, runs[Role.BASELINE].rate), runs,
                        diffs(case, runs[Role.BASELINE], runs[Role.ENVIRONMENT]), repeat,
                        round(time.monotonic() - started, 3), reproduce or reproduce_command(case, project), when,
                        engine=engine.endpoint, retried_after=retried_after)
    if record:
        History(default_path(project.root)).record(result.records())
    return result


def observe_many(case: Case, specs: dict[str, EnvironmentSpec], *, project: Project, repeat: int = 1,
                 jobs: int = 2, engine: Engine | None = None,
                 on_line: Callable[[str], None] | None = None,
                 slots: threading.Semaphore | None = None) -> dict[str, EnvironmentRun]:
    """Observe the case in several environments concurrently, each run holding one of ``slots`` if given; an
    interrupt removes every container at once."""
    engine = engine or get_engine()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        # Keyed by role (a case run) or by environment name (`case run --across`: every one a customer's).
        futures = {key: pool.submit(_holding, slots, observe, case, launch(spec),
                                    role=key if isinstance(key, Role) else Role.ENVIRONMENT, repeat=repeat,
                                    engine=engine, on_line=on_line, facts_cache=project.root / ".reprokit" / "facts")
                   for key, spec in specs.items()}
        try:
            return {key: future.result() for key, future in futures.items()}
        except (KeyboardInterrupt, SystemExit):
            for future in futures.values():
                future.cancel()
            engine.abort()  # the process is ending: remove its containers now, so running steps end too
            raise


def _holding(slots: threading.Semaphore | None, call: Callable, *args, **kwargs):
    with slots or nullcontext():
        return call(*args, **kwargs)


def observe(case: Case, plan: Launch, *, role: Role, repeat: int = 1,
            engine: Engine | None = None, on_line: Callable[[str], None] | None = None,
            facts_cache: Path | None = None) -> EnvironmentRun:
    """The run stage, for a case run and an isolate probe alike: build -> start (services, then the container with
    the launch's and the case's files copied in) -> facts (first attempt, unless cached for this launch) -> steps
    -> stop, ``repeat`` times in fresh containers. ``plan`` says what
    is baked and what is applied at start (`launch(spec)`: everything baked; see reprokit/run/launch.py). A
    ReprokitError (no image, no container, a declared value not in effect) is recorded in ``error`` and the run
    has no outcome; other exceptions are bugs and propagate."""
    engine = engine or get_engine()
    started = time.monotonic()
    spec = plan.spec
    plan = dataclasses.replace(plan, config=dataclasses.replace(
        plan.config, labels={**plan.config.labels, "reprokit.case": case.id[:200], "reprokit.role": Role(role).value}))
    run = EnvironmentRun(spec.name, role, spec.content_hash())
    try:
        run.image = build(plan.image_spec, plan.rendering, engine=engine, on_line=on_line,
                          kind=plan.kind.value if plan.kind else None)
        # Keyed by the whole launch and the script: facts an older reprokit cached lack what a newer one reads.
        # A backend that runs elsewhere (swarm) keeps facts of its own: they are read where its runs happen.
        key = plan.key(run.image.id, facts_script(), engine.facts_scope)
        cache = facts_cache / f"{key[:32]}.json" if facts_cache else None
        facts = _cached(cache)
        for _ in range(repeat):  # fresh services for every attempt: one attempt's data never leaks into the next
            with start_services(spec, engine=engine, labels=plan.config.labels, on_line=on_line) as services:
                output = run_attempt(engine, run.image.tag, plan, case, network=services.network if services else None,
                                     read_facts=facts is None)
                if services:
                    run.services = services.evidence()
            if output.facts is not None:
                facts = output.facts
                # For the next run of this launch. Two runs that write it at once write the facts of the same
                # launch, and a file read half-written does not parse, which `_cached` takes as none: no lock.
                if cache is not None:
                    with suppress(OSError):
                        cache.parent.mkdir(parents=True, exist_ok=True)
                        cache.write_text(json.dumps(facts, sort_keys=True))
            run.attempts.append(Attempt(output.steps, signature_holds(case.expect, combined(output.steps))))
        run.facts = dict(facts or {})
        if run.services:  # read from inside each service during the run; never cached
            run.facts["services"] = {name: s["version"] for name, s in run.services.items()}
        problems = not_in_effect(spec, run.facts)
        if problems:
            raise RunError(f"{spec.name}: declared but not in effect: " +
                           "; ".join(f"{name}: {why}" for name, why in problems.items()),
                           hint="the engine ignored a setting; 'reprokit doctor' checks what it supports",
                           reproduce=f"reprokit env run {spec.name} -- sh -c 'ulimit -n; umask; date; uname -m'"
                           if spec.source else None)
    except ReprokitError as error:
        run.error = str(error)
        run.engine_lost = isinstance(error, EngineLost)
    run.duration_s = round(time.monotonic() - started, 3)
    return run


def _cached(path: Path | None) -> dict | None:
    """Facts stored by an earlier run of the same launch (image, container settings, files, facts script)."""
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def diffs(case: Case, baseline: EnvironmentRun, environment: EnvironmentRun) -> dict:
    return {"spec": spec_diff(case.baseline, case.environment),
            **observed_diffs(baseline.facts, environment.facts, baseline.output(), environment.output(),
                             masks=case.masks)}


def reproduce_command(case: Case, project: Project) -> str:
    folder = case.folder
    if folder is not None and folder.parent == project.cases:
        return f"reprokit case run {case.id} -C {shlex.quote(str(project.root))}"
    return f"reprokit case run {shlex.quote(str(folder or case.id))}"
