"""Per-run overhead of `--backend swarm` against the local engine, measured in one run (not collected by pytest).

    .venv/bin/python tests/bench_swarm.py [OUT.json] [--runs 10]

Makes a single-node swarm (`docker swarm init --advertise-addr 127.0.0.1`) and leaves it afterwards; refuses
to run when the engine is in a swarm already (someone else's). Figures, each the median of ``--runs``
alternating local/swarm runs on the same image and settings:

- one `run_batch` (what a case's attempt is: files in, a command, a folder out) of a trivial command;
- one `exec` on an idle box (how facts are read): a container's exec locally, a job of its own on the swarm;
- one replay of the shipped case CONTRACT-1 (two environment runs at once, facts cached, images built).

It prints each figure for both backends, the difference (the swarm's per-run overhead) and the ratio, and
writes them as JSON (default .reprokit/bench_swarm.json).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)


def timed(function) -> float:
    started = time.monotonic()
    function()
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / ".reprokit" / "bench_swarm.json"))
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    if state != "inactive":
        print(f"the engine's swarm state is {state!r}: someone else's swarm; not touching it", file=sys.stderr)
        return 2
    had_gwbridge = docker("network", "inspect", "docker_gwbridge").returncode == 0
    init = docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    if init.returncode:
        print(f"docker swarm init --advertise-addr 127.0.0.1: {init.stderr}", file=sys.stderr)
        return 1
    try:
        figures = measure(args.runs)
    finally:
        docker("swarm", "leave", "--force")
        if not had_gwbridge:
            docker("network", "rm", "docker_gwbridge")
    print(f"{'figure':<34}{'local s':>9}{'swarm s':>9}{'swarm-local':>13}{'ratio':>7}")
    for name, (local, swarm) in figures.items():
        print(f"{name:<34}{local:>9.3f}{swarm:>9.3f}{swarm - local:>13.3f}{swarm / local:>7.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({name: {"local_s": local, "swarm_s": swarm, "overhead_s": swarm - local,
                                                 "ratio": swarm / local} for name, (local, swarm) in figures.items()},
                                         indent=2) + "\n")
    return 0


def measure(runs: int) -> dict[str, tuple[float, float]]:
    from reprokit.case.reproduce import run_case
    from reprokit.contract.load import Project, load_case, load_environment
    from reprokit.engine.docker import DockerEngine
    from reprokit.engine.swarm import SwarmEngine
    from reprokit.image.build import build
    from reprokit.run.box import container_config
    from reprokit.run.steps import RUN_DIR

    engines = {"local": DockerEngine(), "swarm": SwarmEngine()}
    spec = load_environment("baseline", root=ROOT)
    image = build(spec, engine=engines["local"]).tag
    config = container_config(spec, labels={"reprokit.bench": "swarm"})
    files = {f"{RUN_DIR[1:]}/": b"", f"{RUN_DIR[1:]}/out/": b"", "work/in.txt": b"hello\n"}
    command = ["sh", "-c", f"cp /work/in.txt {RUN_DIR}/out/0.stdout"]
    project = Project(ROOT)
    case = load_case("CONTRACT-1", root=ROOT)

    def batch(engine):
        outcome = engine.run_batch(image, config, files=files, command=command, collect=f"{RUN_DIR}/out", timeout=60)
        assert outcome.files == {"out/0.stdout": b"hello\n"}, outcome

    def exec_once(engine):
        with engine.start(image, config) as box:
            assert box.exec("echo hi", timeout=30).stdout == "hi\n"

    def replay(engine):
        result = run_case(case, project=project, engine=engine, record=False)
        assert result.verdict.value == "REPRODUCED", result.explain()

    figures = {}
    for name, work in (("run_batch (one attempt)", batch), ("exec on an idle box (facts)", exec_once),
                       ("replay CONTRACT-1 (2 runs at once)", replay)):
        for engine in engines.values():
            work(engine)  # warm-up: images, facts caches
        times: dict[str, list[float]] = {"local": [], "swarm": []}
        for _ in range(runs):
            for backend, engine in engines.items():
                times[backend].append(timed(lambda: work(engine)))
        figures[name] = (statistics.median(times["local"]), statistics.median(times["swarm"]))
        print(f"{name}: local {sorted(times['local'])}, swarm {sorted(times['swarm'])}", file=sys.stderr)
    return figures


if __name__ == "__main__":
    sys.exit(main())
