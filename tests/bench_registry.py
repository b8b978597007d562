"""Benchmark: cases replayed on more than one machine. In one run, on this machine:

1. Registry: 10 cached cases replayed on engine B after engine A pushed their images, against a cold replay on
   B (which builds every image itself): builds on B, and warm/cold wall time (target <= 0.2).
2. Engines: 20 cases (the 10 and a copy of each under another id) on one engine against two (--engines A,B),
   both engines warm: the same concurrency (2 at a time in all) and twice it (2 on each).
3. Shards: the 20 cases split with --shard I/N for N=2 and N=4, balanced by the one-engine replay's JUnit
   times; each shard run alone on A as a CI runner would; the slowest shard against the mean (target <= 1.3).

Run by hand, as root: .venv/bin/python tests/bench_registry.py [out.json]  (default .reprokit/bench_registry.json);
`--shards-only [out.json]` runs part 3 alone, on engine A.

The cases are the shipped ones but SUP-5231 (arm64: its cold build under emulation alone takes minutes) and
SUP-5301 (postgres images): SUP-5318 keeps a service (redis) in, so service images travel too. Engine A is
the machine's engine; engine B a dockerd the bench starts (tests/integration/machines.py) and restarts empty
between its cold and warm replays; the registry is Debian's docker-registry on 127.0.0.1. So that B can build
at all (apt and pip from the network), B's bridge gets NAT for the bench's duration: three iptables rules for
its own subnet only, removed at the end. Printed and written: every wall time and ratio, builds per replay, and
whether verdicts and image ids agree. One run, no repetitions: what this machine measured once, while other
work may share its 2 cores.
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
LEFT_OUT = ("SUP-5231", "SUP-5301")
WARM_TARGET, SHARD_TARGET = 0.2, 1.3

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


def project_copy(folder: Path, *, copies: int = 1) -> Path:
    """The shipped environments and cases but LEFT_OUT; with ``copies`` 2, each case twice (the second as
    ``<id>-B``, same environments, so the same images)."""
    shutil.copytree(ROOT / "environments", folder / "environments")
    shutil.copytree(ROOT / "cases", folder / "cases", ignore=shutil.ignore_patterns("README.md", *LEFT_OUT))
    if copies > 1:
        for case in sorted((folder / "cases").iterdir()):
            twin = folder / "cases" / f"{case.name}-B"
            shutil.copytree(case, twin)
            text = (twin / "case.yaml").read_text()
            (twin / "case.yaml").write_text(text.replace(f"id: {case.name}", f"id: {case.name}-B", 1))
    return folder


def replay(project: Path, *args: str, engine: str | None = None, registry: str = "") -> tuple[float, dict[str, dict]]:
    """A CLI replay from a fresh start (no facts cache, no history): its wall time and results by case."""
    shutil.rmtree(project / ".reprokit", ignore_errors=True)
    command = [str(REPROKIT), *(["--engine", engine] if engine else []), "replay", "--json", "--registry", registry,
               "-C", str(project), *args]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=7200,
                          env={**os.environ, "REPROKIT_HISTORY": str(project / ".reprokit" / "history.sqlite")})
    seconds = round(time.monotonic() - started, 1)
    try:
        results = {result["case"]: result for result in json.loads(done.stdout)}
    except ValueError:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}") from None
    for case, result in results.items():  # exit 3: an environment was not built or started; said, then counted
        for role, run in result["runs"].items():
            if run["error"]:
                print(f"  {case} {role}: ERROR {run['error'][:400]}\n    reproduce: {' '.join(command)}", flush=True)
    return seconds, results


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


def verdicts(results: dict[str, dict]) -> dict[str, str]:
    return {case: result["verdict"] for case, result in sorted(results.items())}


def through_registry(project: Path, engine_b: SecondEngine, registry: LocalRegistry) -> dict:
    """Part 1: A replays and pushes; B, empty but for its bases, replays cold; B, empty again, replays warm."""
    a_seconds, on_a = replay(project, "--jobs", "2", registry=registry.address)
    subprocess.run([str(REPROKIT), "images", "bootstrap", *SUITES, "--registry", registry.address], check=True,
                   capture_output=True)
    print(f"A: {a_seconds}s, images {images(on_a)} (pushed to the registry)", flush=True)
    engine_b.start()
    # A cold runner has its base images and nothing else (here from the registry, not timed).
    subprocess.run([str(REPROKIT), "--engine", engine_b.url, "images", "bootstrap", *SUITES, "--registry",
                    registry.address], check=True, capture_output=True)
    cold_seconds, cold = replay(project, "--jobs", "2", engine=engine_b.url)
    print(f"B cold: {cold_seconds}s, images {images(cold)}", flush=True)
    engine_b.stop()
    engine_b.start()  # empty again: no base, no layer, no build cache
    warm_seconds, warm = replay(project, "--jobs", "2", engine=engine_b.url, registry=registry.address)
    print(f"B warm: {warm_seconds}s, images {images(warm)}", flush=True)
    same_ids = all(warm[case]["runs"][role]["image"]["id"] == on_a[case]["runs"][role]["image"]["id"]
                   for case in warm for role in warm[case]["runs"] if warm[case]["runs"][role]["image"])
    ratio = round(warm_seconds / cold_seconds, 3)
    return {"cases": len(warm), "jobs": 2, "engine_a_s": a_seconds, "engine_b_cold_s": cold_seconds,
            "engine_b_warm_s": warm_seconds, "warm_over_cold": ratio, "target": WARM_TARGET, "met": ratio <= WARM_TARGET,
            "images_b_cold": images(cold), "images_b_warm": images(warm), "builds_on_b_warm": images(warm)["built"],
            "same_verdicts": verdicts(on_a) == verdicts(cold) == verdicts(warm), "same_image_ids_as_a": same_ids}


def over_engines(project: Path, engine_b: SecondEngine, registry: LocalRegistry, junit: Path) -> dict:
    """Part 2: 20 warm cases on A alone (2 at a time; its JUnit times balance part 3), then on A and B."""
    both = f"unix:///var/run/docker.sock,{engine_b.url}"
    one_s, one = replay(project, "--jobs", "2", "--junit-xml", str(junit), registry=registry.address)
    print(f"20 cases, one engine, 2 at a time: {one_s}s", flush=True)
    two_s, two = replay(project, "--jobs", "1", "--engines", both, registry=registry.address)
    print(f"20 cases, two engines, 1 at a time on each: {two_s}s", flush=True)
    two_x2_s, two_x2 = replay(project, "--jobs", "2", "--engines", both, registry=registry.address)
    print(f"20 cases, two engines, 2 at a time on each: {two_x2_s}s", flush=True)
    spread = {case: result["engine"] for case, result in two.items()}
    return {"cases": len(one), "one_engine_jobs2_s": one_s, "two_engines_jobs1_s": two_s,
            "two_engines_jobs2_s": two_x2_s, "two_over_one_same_concurrency": round(two_s / one_s, 3),
            "two_over_one_double_concurrency": round(two_x2_s / one_s, 3),
            "cases_on_b": sum(url == engine_b.url for url in spread.values()),
            "builds": sum(images(r)["built"] for r in (two, two_x2)),
            "same_verdicts": verdicts(one) == verdicts(two) == verdicts(two_x2)}


def shards(project: Path, registry: LocalRegistry | None, junit: Path) -> dict:
    """Part 3: every shard of N=2 and N=4 run alone on A, one after the other, as N runners would."""
    found = {}
    for total in (2, 4):
        seconds, cases = [], []
        for index in range(1, total + 1):
            took, results = replay(project, "--jobs", "2", "--shard", f"{index}/{total}", "--durations-from",
                                   str(junit), registry=registry.address if registry else "")
            seconds.append(took)
            cases.append(sorted(results))
        mean = sum(seconds) / total
        found[f"N={total}"] = {"shard_s": seconds, "mean_s": round(mean, 1), "slowest_over_mean":
                               round(max(seconds) / mean, 3), "target": SHARD_TARGET,
                               "met": max(seconds) / mean <= SHARD_TARGET, "cases_per_shard": [len(c) for c in cases],
                               "disjoint_and_complete": sorted(c for part in cases for c in part) == sorted(
                                   p.name for p in (project / "cases").iterdir() if (p / "case.yaml").exists())}
        print(f"N={total}: shards {seconds}s, slowest/mean {found[f'N={total}']['slowest_over_mean']}", flush=True)
    return found


def only_shards(out: Path) -> None:
    """``--shards-only``: part 3 alone on engine A (no engine B, no registry), timed by a one-engine replay first."""
    with tempfile.TemporaryDirectory(prefix="reprokit-bench-shards-") as tmp:
        twenty, junit = project_copy(Path(tmp) / "twenty", copies=2), Path(tmp) / "one-engine.xml"
        one_s, _ = replay(twenty, "--jobs", "2", "--junit-xml", str(junit))
        print(f"20 cases, one engine, 2 at a time: {one_s}s (its JUnit times balance the shards)", flush=True)
        summary = {"one_engine_jobs2_s": one_s, "shards": shards(twenty, None, junit)}
    for total, s in summary["shards"].items():
        print(f"3. {total}: shard wall times {s['shard_s']}s, mean {s['mean_s']}s, slowest/mean "
              f"{s['slowest_over_mean']} (target <= {SHARD_TARGET}: {'met' if s['met'] else 'NOT met'}); cases "
              f"{s['cases_per_shard']}; disjoint and complete: {s['disjoint_and_complete']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")


def main() -> None:
    if sys.argv[1:2] == ["--shards-only"]:
        return only_shards(Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / ".reprokit" / "bench_shards.json"))
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / ".reprokit" / "bench_registry.json")
    with tempfile.TemporaryDirectory(prefix="reprokit-bench-registry-") as tmp:
        registry = LocalRegistry(Path(tmp) / "registry")
        engine_b = SecondEngine(Path("/tmp/reprokit-bench-dockerd-2"), bridge=BRIDGE, address=GATEWAY, pool=POOL)
        junit = Path(tmp) / "one-engine.xml"
        try:
            registry.start()
            with nat(BRIDGE, SUBNET):
                print(f"registry {registry.address}; engine B {engine_b.url}", flush=True)
                summary = {"registry": through_registry(project_copy(Path(tmp) / "ten"), engine_b, registry)}
                twenty = project_copy(Path(tmp) / "twenty", copies=2)
                summary["engines"] = over_engines(twenty, engine_b, registry, junit)
            summary["shards"] = shards(twenty, registry, junit)
        finally:
            engine_b.stop()
            registry.stop()
    report(summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written to {out}")


def report(summary: dict) -> None:
    r, e = summary["registry"], summary["engines"]
    print(f"\n1. {r['cases']} cases, 2 at a time, engine B after engine A pushed to the registry:")
    print(f"   builds on B: {r['builds_on_b_warm']} (pulled {r['images_b_warm']['pulled']} images); cold B built "
          f"{r['images_b_cold']['built']}")
    print(f"   wall time B warm {r['engine_b_warm_s']}s vs B cold {r['engine_b_cold_s']}s = {r['warm_over_cold']}x "
          f"(target <= {WARM_TARGET}: {'met' if r['met'] else 'NOT met'})")
    print(f"   same verdicts A / B cold / B warm: {r['same_verdicts']}; B warm has A's image ids: "
          f"{r['same_image_ids_as_a']}")
    print(f"2. {e['cases']} warm cases: one engine (2 at a time) {e['one_engine_jobs2_s']}s; two engines "
          f"(1 at a time on each) {e['two_engines_jobs1_s']}s = {e['two_over_one_same_concurrency']}x; "
          f"(2 on each) {e['two_engines_jobs2_s']}s = {e['two_over_one_double_concurrency']}x; "
          f"{e['cases_on_b']} cases ran on B; same verdicts: {e['same_verdicts']}")
    for total, s in summary["shards"].items():
        print(f"3. {total}: shard wall times {s['shard_s']}s, mean {s['mean_s']}s, slowest/mean "
              f"{s['slowest_over_mean']} (target <= {SHARD_TARGET}: {'met' if s['met'] else 'NOT met'}); cases "
              f"{s['cases_per_shard']}; disjoint and complete: {s['disjoint_and_complete']}")


if __name__ == "__main__":
    main()
