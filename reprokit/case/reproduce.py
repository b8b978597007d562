"""Run a case: its steps in the customer environment and in the baseline, then the verdict and the diffs."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from reprokit.image.build import Image, build
from reprokit.case.compare import combined, observed_diffs, signature_holds, spec_diff, verdict
from reprokit.engine import KILL_GRACE_S, BatchOutcome, Engine, get_engine, timed_out
from reprokit.errors import ReprokitError, RunError
from reprokit.case.history import History, default_path
from reprokit.contract.load import Project, write_json_atomically
from reprokit.aspects.registry import ASPECTS
from reprokit.run.box import RunResult, container_config, start
from reprokit.run.facts import facts_script, not_in_effect, step_prelude
from reprokit.services.lifecycle import start_services
from reprokit.contract.models import Case, EnvironmentSpec, Status, Verdict

EVIDENCE_BYTES = 64 * 1024  # per stream and step, in history records
EXPECTED = {
    Status.OPEN: (Verdict.REPRODUCED, Verdict.FLAKY),
    Status.KNOWN_ERROR: (Verdict.REPRODUCED, Verdict.FLAKY),
    Status.FIXED: (Verdict.NOT_REPRODUCED,),
}


@dataclass
class Attempt:
    """One fresh container running all steps; steps stop at the first that fails or times out."""

    steps: list[RunResult]
    matched: bool

    def to_dict(self) -> dict:
        return {"matched": self.matched, "steps": [s.to_dict() for s in self.steps]}


@dataclass
class EnvironmentRun:
    """A case's steps in one environment, ``repeat`` times."""

    name: str
    role: str
    spec_hash: str
    image: Image | None = None
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    duration_s: float = 0.0
    services: dict = field(default_factory=dict)  # per service: provenance, version, died, last log lines

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

    def to_dict(self) -> dict:
        image = None if self.image is None else {"tag": self.image.tag, "id": self.image.id, "built": self.image.built}
        return {"name": self.name, "role": self.role, "spec_hash": self.spec_hash, "image": image,
                "error": self.error, "matched": self.matched, "rate": self.rate, "duration_s": self.duration_s,
                "attempts": [a.to_dict() for a in self.attempts], "facts": self.facts,
                **({"services": self.services} if self.services else {})}


@dataclass
class CaseResult:
    case: Case
    verdict: Verdict
    runs: dict[str, EnvironmentRun]
    diffs: dict
    repeat: int
    duration_s: float
    reproduce: str

    @property
    def as_expected(self) -> bool:
        """Does what happened match the case's status? (open/known-error: reproduces; fixed: does not)"""
        return self.verdict in EXPECTED[self.case.status]

    def explain(self) -> str:
        """One sentence on why the outcome is or is not what the case's status expects."""
        if self.verdict is Verdict.ERROR:
            return "; ".join(f"{r.role} ({r.name}): {r.error}" for r in self.runs.values() if r.error)
        if self.as_expected:
            return self.verdict.describe()
        if self.case.status is Status.FIXED:
            return f"the case is marked fixed but gave {self.verdict.value}: {self.verdict.describe()} — regression?"
        return f"no longer reproduces — fixed? ({self.verdict.value}: {self.verdict.describe()})"

    def to_dict(self) -> dict:
        rates = {role: run.rate for role, run in self.runs.items()}
        return {"case": self.case.id, "title": self.case.title, "customer": self.case.customer,
                "status": self.case.status.value, "verdict": self.verdict.value,
                "verdict_description": self.verdict.describe(), "as_expected": self.as_expected,
                "explanation": self.explain(), "repeat": self.repeat, "reproduction_rate": rates,
                "runs": {role: run.to_dict() for role, run in self.runs.items()}, "diffs": self.diffs,
                "duration_s": self.duration_s, "reproduce": self.reproduce}

    def records(self) -> list[dict]:
        return [{"case": self.case.id, "environment": run.name, "role": run.role, "spec_hash": run.spec_hash,
                 "image_id": run.image.id if run.image else None, "verdict": self.verdict.value,
                 "matched": run.matched, "duration_s": run.duration_s, "evidence": _evidence(run)}
                for run in self.runs.values()]


def run_case(case: Case, *, project: Project, repeat: int = 1, engine: Engine | None = None,
             on_line: Callable[[str], None] | None = None, record: bool = True,
             reproduce: str | None = None) -> CaseResult:
    """Run ``case`` in its environment and its baseline at once; record the outcome in ``project``'s history
    and return it. ``reproduce`` overrides the command printed to run it again (a bundle's, say)."""
    started = time.monotonic()
    roles = {"environment": case.environment, "baseline": case.baseline}
    runs = observe_many(case, roles, project=project, repeat=repeat, engine=engine, on_line=on_line)
    result = CaseResult(case, verdict(runs["environment"].rate, runs["baseline"].rate), runs,
                        diffs(case, runs["baseline"], runs["environment"]), repeat,
                        round(time.monotonic() - started, 3), reproduce or reproduce_command(case, project))
    if record:
        History(default_path(project.root)).record(result.records())
    return result


def observe_many(case: Case, specs: dict[str, EnvironmentSpec], *, project: Project, repeat: int = 1,
                 jobs: int = 2, engine: Engine | None = None,
                 on_line: Callable[[str], None] | None = None) -> dict[str, EnvironmentRun]:
    """Observe the case in several environments concurrently; an interrupt removes every container at once."""
    engine = engine or get_engine()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {role: pool.submit(observe, case, spec, role=role, repeat=repeat, engine=engine,
                                     on_line=on_line, facts_cache=project.root / ".reprokit" / "facts")
                   for role, spec in specs.items()}
        try:
            return {role: future.result() for role, future in futures.items()}
        except (KeyboardInterrupt, SystemExit):
            for future in futures.values():
                future.cancel()
            engine.abort()  # the process is ending: remove its containers now, so running steps end too
            raise


def observe(case: Case, spec: EnvironmentSpec, *, role: str, repeat: int = 1, engine: Engine | None = None,
            on_line: Callable[[str], None] | None = None, facts_cache: Path | None = None,
            read_facts: bool = True, overlay: bool = False) -> EnvironmentRun:
    """Build ``spec`` and run the case's steps in ``repeat`` fresh containers. A ReprokitError (the image
    cannot be built, a container cannot start) is recorded in ``error`` and the run has no outcome; other
    exceptions are bugs and propagate. With ``overlay``, env vars and files are applied when the container
    starts instead of in the image (see ``image_spec``)."""
    engine = engine or get_engine()
    started = time.monotonic()
    run = EnvironmentRun(spec.name, role, spec.content_hash())
    labels = {"reprokit.case": case.id[:200], "reprokit.role": role}
    try:
        # Overlay images are isolation's hybrids: labelled so `reprokit images prune` can drop them first.
        run.image = build(image_spec(spec) if overlay else spec, engine=engine, on_line=on_line,
                          kind="hybrid" if overlay else None)
        config = container_config(spec, labels=labels, env=dict(spec.env) if overlay else None)
        files = {**(spec.files if overlay and not spec_is_read_only(config) else {}),
                 **{f"{spec.workdir.rstrip('/')}/{name}": text for name, text in case.files.items()}}
        for _ in range(repeat):  # fresh services for every attempt: one attempt's data never leaks into the next
            with start_services(spec, engine=engine, labels=labels, on_line=on_line) as services:
                attempt_config = dataclasses.replace(config, network=services.network) if services else config
                steps = run_steps(engine, run.image.tag, attempt_config, case, files=files, workdir=spec.workdir,
                                  owner=spec.user, prelude=step_prelude(spec))
                if services:
                    run.services = services.evidence()
            run.attempts.append(Attempt(steps, signature_holds(case.expect, combined(steps))))
        if read_facts:
            run.facts = facts(spec, run.image, engine=engine, config=config, cache=facts_cache)
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
    run.duration_s = round(time.monotonic() - started, 3)
    return run


def image_spec(spec: EnvironmentSpec) -> EnvironmentSpec:
    """What goes into the image when the overlay aspects (env vars, files) are applied at container start:
    environments that differ only in those and in run-time aspects then share one image (isolation's hybrids
    do). On a read-only root, files cannot be copied in at start, so they stay in the image."""
    read_only = spec_is_read_only(container_config(spec))
    cleared = {name: type(getattr(spec, name))() for aspect in ASPECTS if aspect.overlay
               for name in aspect.fields if not (read_only and name == "files")}
    return spec.model_copy(update=cleared)


def spec_is_read_only(config) -> bool:
    return bool(getattr(config, "read_only", False))


# The steps run as the container's own process: one start, no exec per step. Each step's output, exit code
# and start/end times go to files that are collected when the container exits. Steps stop at the first that
# fails or times out; `timeout` (SIGTERM, then SIGKILL) bounds each one inside the container.
RUN_DIR = "/tmp/.reprokit"
RUNNER = f"""
step() {{
  started=$(date +%s.%N)
  timeout -k {KILL_GRACE_S} "$2" sh "{RUN_DIR}/steps/$1.sh" >"{RUN_DIR}/out/$1.stdout" 2>"{RUN_DIR}/out/$1.stderr"
  code=$?
  echo "$code $started $(date +%s.%N)" >"{RUN_DIR}/out/$1.status"
  return $code
}}
cd "$1" || exit 97
shift
"""


def run_steps(engine: Engine, image: str, config, case: Case, *, files: dict[str, str], workdir: str,
              owner: str | None, prelude: str = "") -> list[RunResult]:
    """One attempt: a fresh container runs every step in order; what each did is read back afterwards.
    ``prelude`` (shell lines from the aspects: umask, a faked clock) runs first in each step's own shell."""
    script = RUNNER + " && ".join(f"step {i} {step.timeout:g}" for i, step in enumerate(case.steps))
    hidden = lambda path: any(path == t or path.startswith(t.rstrip("/") + "/") for t in config.tmpfs)  # noqa: E731
    if config.read_only or hidden(RUN_DIR) or hidden(workdir):
        # Files copied in before the start would land on a read-only root, or under a tmpfs that hides them:
        # the runner's folder and the workdir get volumes of their own.
        config = dataclasses.replace(config, writable=tuple(dict.fromkeys((*config.writable, workdir, RUN_DIR))))
    archive = {f"{RUN_DIR[1:]}/": b"", f"{RUN_DIR[1:]}/out/": b"", f"{RUN_DIR[1:]}/steps/": b"",
               **{f"{RUN_DIR[1:]}/steps/{i}.sh": (prelude + step.run).encode() for i, step in enumerate(case.steps)},
               **{path.lstrip("/"): text.encode() for path, text in files.items()}}
    outcome = engine.run_batch(image, config, files=archive, command=["sh", "-c", script, "runner", workdir],
                               collect=f"{RUN_DIR}/out", owner=owner,
                               timeout=sum(s.timeout + KILL_GRACE_S for s in case.steps) + 30)
    if outcome.exit_code == 97 and not outcome.files:
        raise RunError(f"the workdir {workdir} does not exist in the image, so no step could run")
    if not any(name.endswith(".status") for name in outcome.files) and outcome.exit_code != 0 and not outcome.killed:
        raise RunError(f"no step ran: the container's runner exited {outcome.exit_code} before the first step",
                       hint="check the environment's run-time settings (tmpfs over the workdir or /tmp/.reprokit?)")
    return read_steps(case, outcome)


def read_steps(case: Case, outcome: BatchOutcome) -> list[RunResult]:
    """The RunResults of the steps that ran, from the files the runner left (``out/<i>.status`` etc.)."""
    text = lambda name: outcome.files.get(f"out/{name}", b"").decode("utf-8", errors="replace")  # noqa: E731
    results = []
    for i, step in enumerate(case.steps):
        status = text(f"{i}.status").split()
        if not status and not (outcome.killed and f"out/{i}.stdout" in outcome.files):
            break
        code, duration = (int(status[0]), _seconds(status[1:])) if status else (137, step.timeout)
        results.append(RunResult(step.run, code, text(f"{i}.stdout"), text(f"{i}.stderr"), duration,
                                 timed_out=timed_out(code, duration, step.timeout)))
    if results and outcome.oom_killed and results[-1].exit_code != 0:
        results[-1] = dataclasses.replace(results[-1], oom_killed=True)
    return results


def _seconds(times: list[str]) -> float:
    try:
        return round(float(times[1]) - float(times[0]), 3)
    except (IndexError, ValueError):  # a `date` without %N (busybox): no duration rather than a wrong one
        return 0.0


def facts(spec: EnvironmentSpec, image: Image, *, engine: Engine, config, cache: Path | None) -> dict:
    """The environment's facts, read from inside a container of it; cached by image and container settings,
    which fully determine them on this host, so only the first run of an image pays for them."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "labels"}
    # The script too: facts cached by an older reprokit lack what a newer script reads (e.g. `emulated`).
    # A backend that runs elsewhere (swarm) keeps facts of its own: they are read where its runs happen.
    key = hashlib.sha256(f"{image.id}|{json.dumps(settings, sort_keys=True, default=str)}|{step_prelude(spec)}|"
                         f"{facts_script()}{getattr(engine, 'facts_scope', '')}".encode()).hexdigest()[:32]
    path = cache / f"{key}.json" if cache else None
    if path is not None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
    with start(spec, engine=engine, image=image, labels=config.labels, env=config.env, services=False) as box:
        found = box.facts()
    if path:
        write_json_atomically(path, found)
    return found


def diffs(case: Case, baseline: EnvironmentRun, environment: EnvironmentRun) -> dict:
    return {"spec": spec_diff(case.baseline, case.environment),
            **observed_diffs(baseline.facts, environment.facts, baseline.output(), environment.output(),
                             masks=case.masks)}


def reproduce_command(case: Case, project: Project) -> str:
    folder = case.folder
    if folder is not None and folder.parent == project.cases:
        return f"reprokit case run {case.id} -C {shlex.quote(str(project.root))}"
    return f"reprokit case run {shlex.quote(str(folder or case.id))}"


def _evidence(run: EnvironmentRun) -> dict:
    cut = lambda text: text if len(text) <= EVIDENCE_BYTES else text[:EVIDENCE_BYTES] + "\n[truncated]"  # noqa: E731
    return {"error": run.error, "rate": run.rate,
            "attempts": [{"matched": a.matched, "steps": [{**s.to_dict(), "stdout": cut(s.stdout),
                                                           "stderr": cut(s.stderr)} for s in a.steps]}
                         for a in run.attempts],
            "facts": {k: v for k, v in run.facts.items() if k not in ("debian_packages",)},
            **({"services": run.services} if run.services else {})}
