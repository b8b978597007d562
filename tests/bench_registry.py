"""Benchmark: replaying cached cases on a second engine after the first pushed their images to a registry,
against a cold replay on that engine (which builds every image itself).

Run by hand, as root: .venv/bin/python tests/bench_registry.py [out.json]  (default .reprokit/bench_registry.json)

The cases are the shipped ones (cases/) plus a tenth on globex-trixie, in a copy of the project. Engine A is
the machine's engine; engine B a dockerd the bench starts (tests/integration/machines.py) and restarts empty
between its two replays; the registry is Debian's docker-registry on 127.0.0.1. So that B can build at all
(apt and pip from the network), B's bridge gets NAT for the bench's duration: three iptables rules for its
own subnet only, removed at the end. Steps:

1. A replays the cases with the registry (building what it lacks, pushing everything) and publishes its bases.
2. B, empty, pulls the three base images from the registry (not timed): that is all a cold runner has.
3. Cold: B replays with no registry, building every image (timed).
4. B is restarted empty. Warm: B replays with the registry (timed): it should build nothing.

Printed and written: builds on B in each replay, wall times, warm/cold (target <= 0.2) and whether the verdicts
agree across the three replays. One run, no repetitions: the ratio is what this machine measured once.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from machines import LocalRegistry, SecondEngine  # noqa: E402

REPROKIT = ROOT / ".venv" / "bin" / "reprokit"
BRIDGE, GATEWAY, SUBNET, POOL = "rkbr3", "10.78.0.1/24", "10.78.0.0/24", "10.78.128.0/17"
SUITES = ("debian:bullseye", "debian:bookworm", "debian:trixie")
TARGET = 0.2


@contextlib.contextmanager
def nat(bridge: str, subnet: str):
    """Let containers on ``bridge`` reach the network (B's builds download packages): masquerade its subnet and
    let it through FORWARD, ahead of the first engine's rules, which stay as they are."""
    rules = [("-t", "nat", "POSTROUTING", "-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"),
             ("-t", "filter", "FORWARD", "-i", bridge, "!", "-o", bridge, "-j", "ACCEPT"),
             ("-t", "filter", "FORWARD", "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
              "-j", "ACCEPT")]
    added = []
    try:
        for table, name, chain, *rule in rules:
            subprocess.run(["iptables", table, name, "-I", chain, "1", *rule], check=True)
            added.append((table, name, chain, *rule))
        yield
    finally:
        for table, name, chain, *rule in added:
            subprocess.run(["iptables", table, name, "-D", chain, *rule])


def project_copy(folder: Path) -> Path:
    """The shipped environments and cases, plus BENCH-10 (SUP-4533's steps on globex-trixie): ten cases."""
    shutil.copytree(ROOT / "environments", folder / "environments")
    shutil.copytree(ROOT / "cases", folder / "cases", ignore=shutil.ignore_patterns("README.md"))
    tenth = folder / "cases" / "BENCH-10"
    shutil.copytree(folder / "cases" / "SUP-4533", tenth)
    text = (tenth / "case.yaml").read_text().replace("id: SUP-4533", "id: BENCH-10")
    (tenth / "case.yaml").write_text(text.replace("environment: acme-bullseye", "environment: globex-trixie", 1))
    return folder


def replay(project: Path, *, engine: str | None, registry: str) -> tuple[float, dict[str, dict]]:
    """A CLI replay (2 cases at a time, as on 2 cores) from a fresh start: no facts cache, no history."""
    shutil.rmtree(project / ".reprokit", ignore_errors=True)
    command = [str(REPROKIT), *(["--engine", engine] if engine else []), "replay", "--json", "--jobs", "2",
               "--registry", registry, "-C", str(project)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=7200,
                          env={**os.environ,
                               "REPROKIT_HISTORY": str(project / ".reprokit" / "history.sqlite"),
                               "TESTCONTAINERS_RYUK_DISABLED": "true"})
    seconds = round(time.monotonic() - started, 1)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, {result["case"]: result for result in json.loads(done.stdout)}


def images(results: dict[str, dict]) -> dict[str, int]:
    """Distinct images by how they came: built, pulled, or reused (built or pulled by an earlier case)."""
    seen: dict[str, str] = {}
    for result in results.values():
        for run in result["runs"].values():
            image = run["image"] or {}
            how = "built" if image.get("built") else "pulled" if image.get("pulled") else "reused"
            if image.get("tag") and seen.get(image["tag"]) in (None, "reused"):
                seen[image["tag"]] = how
    return {how: sum(v == how for v in seen.values()) for how in ("built", "pulled", "reused")}


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / ".reprokit" / "bench_registry.json")
    with tempfile.TemporaryDirectory(prefix="reprokit-bench-registry-") as tmp:
        project = project_copy(Path(tmp) / "project")
        registry = LocalRegistry(Path(tmp) / "registry")
        engine_b = SecondEngine(Path("/tmp/reprokit-bench-dockerd-2"), bridge=BRIDGE, address=GATEWAY, pool=POOL)
        try:
            registry.start()
            with nat(BRIDGE, SUBNET):
                print(f"registry {registry.address}; engine B {engine_b.url}", flush=True)
                a_seconds, on_a = replay(project, engine=None, registry=registry.address)
                subprocess.run([str(REPROKIT), "images", "bootstrap", *SUITES, "--registry", registry.address],
                               check=True, capture_output=True)
                print(f"A: {a_seconds}s, images {images(on_a)} (pushed to the registry)", flush=True)

                engine_b.start()
                subprocess.run([str(REPROKIT), "--engine", engine_b.url, "images", "bootstrap", *SUITES,
                                "--registry", registry.address], check=True, capture_output=True)
                cold_seconds, cold = replay(project, engine=engine_b.url, registry="")
                print(f"B cold: {cold_seconds}s, images {images(cold)}", flush=True)

                engine_b.stop()
                engine_b.start()  # empty again: no base, no layer, no build cache
                warm_seconds, warm = replay(project, engine=engine_b.url, registry=registry.address)
                print(f"B warm: {warm_seconds}s, images {images(warm)}", flush=True)
        finally:
            engine_b.stop()
            registry.stop()

    verdicts = {name: {case: r["verdict"] for case, r in results.items()}
                for name, results in (("A", on_a), ("B cold", cold), ("B warm", warm))}
    same_ids = all(warm[case]["runs"][role]["image"]["id"] == on_a[case]["runs"][role]["image"]["id"]
                   for case in warm for role in warm[case]["runs"] if warm[case]["runs"][role]["image"])
    ratio = round(warm_seconds / cold_seconds, 3)
    summary = {
        "cases": len(warm), "jobs_per_replay": 2,
        "engine_a_s": a_seconds, "engine_b_cold_s": cold_seconds, "engine_b_warm_s": warm_seconds,
        "warm_over_cold": ratio, "target": TARGET, "met": ratio <= TARGET,
        "images_b_cold": images(cold), "images_b_warm": images(warm), "builds_on_b_warm": images(warm)["built"],
        "same_verdicts": verdicts["A"] == verdicts["B cold"] == verdicts["B warm"],
        "same_image_ids_as_a": same_ids, "verdicts": verdicts,
    }
    print(f"\n{len(warm)} cases, 2 at a time, on this machine's 2 cores:")
    print(f"  engine B cold (builds {summary['images_b_cold']['built']} images): {cold_seconds:8.1f}s")
    print(f"  engine B after A pushed (builds {summary['builds_on_b_warm']}, pulls "
          f"{summary['images_b_warm']['pulled']}): {warm_seconds:8.1f}s")
    print(f"  warm / cold = {ratio}  (target <= {TARGET}: {'met' if summary['met'] else 'NOT met'})")
    print(f"  same verdicts on A, B cold, B warm: {summary['same_verdicts']}; B warm has A's image ids: {same_ids}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
