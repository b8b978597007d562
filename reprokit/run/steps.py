"""One attempt of a case: a fresh container runs the facts script, then every step, as its own process.

One start, no exec per step: each step's output, exit code and start/end times go to files that are collected
when the container exits. Steps stop at the first that fails or times out; `timeout` (SIGTERM, then SIGKILL)
bounds each one inside the container. The facts are read in that same container, before the steps, so no second
container is started to learn what the environment really is."""
from __future__ import annotations

import dataclasses

from reprokit.contract.models import Case
from reprokit.engine import KILL_GRACE_S, BatchOutcome, Engine, RunResult, timed_out
from reprokit.engine.podman import OOM_COUNTERS, oom_kills
from reprokit.errors import RunError
from reprokit.run.facts import facts_script, parse_facts
from reprokit.run.launch import Launch

# A step killed by SIGKILL leaves the memory cgroup's OOM count: the engine's oom event is Docker's only (engine/podman.py).
RUN_DIR = "/tmp/.reprokit"
FACTS_TIMEOUT_S = 60
RUNNER = f"""
step() {{
  started=$(date +%s.%N)
  timeout -k {KILL_GRACE_S} "$2" sh "{RUN_DIR}/steps/$1.sh" >"{RUN_DIR}/out/$1.stdout" 2>"{RUN_DIR}/out/$1.stderr"
  code=$?
  echo "$code $started $(date +%s.%N)" >"{RUN_DIR}/out/$1.status"
  [ $code -ne 137 ] || {{ {OOM_COUNTERS}; }} >"{RUN_DIR}/out/$1.oom"
  return $code
}}
[ -f "{RUN_DIR}/facts.sh" ] &&
  (cd / && timeout -k 1 {FACTS_TIMEOUT_S} sh "{RUN_DIR}/facts.sh" >"{RUN_DIR}/out/facts" 2>/dev/null)
cd "$1" || exit 97
shift
"""


@dataclasses.dataclass(frozen=True)
class AttemptOutput:
    """What one attempt's container left: the steps that ran, and the facts when they were asked for."""

    steps: list[RunResult]
    facts: dict | None = None


def run_attempt(engine: Engine, image: str, launch: Launch, case: Case, *, network: str | None = None,
                read_facts: bool = False) -> AttemptOutput:
    """One attempt in a fresh container of ``launch`` (on ``network`` when services run): the launch's files and
    the case's files copied in, the facts read first when ``read_facts``, then every step in order. Each step
    (and the facts script) runs the aspects' prelude (umask, a faked clock) first in its own shell."""
    spec, config = launch.spec, launch.config
    if network:
        config = dataclasses.replace(config, network=network)
    workdir = spec.workdir
    hidden = lambda path: any(path == t or path.startswith(t.rstrip("/") + "/") for t in config.tmpfs)  # noqa: E731
    if config.read_only or hidden(RUN_DIR) or hidden(workdir):
        # Files copied in before the start would land on a read-only root, or under a tmpfs that hides them:
        # the runner's folder and the workdir get volumes of their own.
        config = dataclasses.replace(config, writable=tuple(dict.fromkeys((*config.writable, workdir, RUN_DIR))))
    prelude = launch.prelude
    run_dir = RUN_DIR[1:]
    archive: dict = {f"{run_dir}/": b"", f"{run_dir}/out/": b"", f"{run_dir}/steps/": b"",
                     **({f"{run_dir}/facts.sh": (prelude + facts_script()).encode()} if read_facts else {}),
                     **{f"{run_dir}/steps/{i}.sh": (prelude + step.run).encode() for i, step in enumerate(case.steps)},
                     **{path.lstrip("/"): entry for path, entry in launch.files.items()},
                     **{f"{workdir.strip('/')}/{name}".lstrip("/"): text.encode() for name, text in case.files.items()}}
    script = RUNNER + " && ".join(f"step {i} {step.timeout:g}" for i, step in enumerate(case.steps))
    budget = sum(s.timeout + KILL_GRACE_S for s in case.steps) + 30 + (FACTS_TIMEOUT_S if read_facts else 0)
    outcome = engine.run_batch(image, config, files=archive, command=["sh", "-c", script, "runner", workdir],
                               collect=f"{RUN_DIR}/out", owner=spec.user, timeout=budget)
    if outcome.exit_code == 97 and not any(name.endswith(".status") for name in outcome.files):
        raise RunError(f"the workdir {workdir} does not exist in the image, so no step could run")
    if not any(name.endswith(".status") for name in outcome.files) and outcome.exit_code != 0 and not outcome.killed:
        raise RunError(f"no step ran: the container's runner exited {outcome.exit_code} before the first step",
                       hint="check the environment's run-time settings (tmpfs over the workdir or /tmp/.reprokit?)")
    facts = parse_facts(outcome.files["out/facts"].decode("utf-8", "replace")) if "out/facts" in outcome.files \
        else None
    return AttemptOutput(read_steps(case, outcome), facts if read_facts else None)


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
    if results and results[-1].exit_code != 0 and (outcome.oom_killed or oom_kills(text(f"{len(results) - 1}.oom"))):
        results[-1] = dataclasses.replace(results[-1], oom_killed=True)
    return results


def _seconds(times: list[str]) -> float:
    try:
        return round(float(times[1]) - float(times[0]), 3)
    except (IndexError, ValueError):  # a `date` without %N (busybox): no duration rather than a wrong one
        return 0.0
