"""Benchmark of the isolate search on synthetic cases whose outcome is decided by which atoms are applied.

Run by hand: .venv/bin/python tests/bench_isolate.py [out.json]  (default .reprokit/bench_isolate.json)
Every culprit position (and every culprit pair) is tried; the worst case is held against the target.
"""
from __future__ import annotations

import itertools
import json
import statistics
import sys
import time
from pathlib import Path

from reprokit.isolate.ddmin import Trial, search
from reprokit.run.launch import image_spec
from reprokit.isolate.isolation import atoms, grouping, hybrid
from reprokit.contract.models import EnvironmentSpec


def plain(n: int, culprit_sets):
    rows = []
    for culprits in culprit_sets:
        report = search(range(n), lambda config, c=frozenset(culprits): Trial(1, int(c <= config)))
        assert sorted(report.minimal) == sorted(culprits), (culprits, report.minimal)
        rows.append(report.totals())
    return rows


def coupled_environments():
    """40 atoms: 20 python pins (10 of them in 5 pairs that only resolve together), 5 Debian packages,
    10 env vars and 5 files."""
    base_pins = [f"pkg{i:02d}==1.0" for i in range(20)]
    baseline = EnvironmentSpec(name="baseline", os="debian:bookworm", python_packages=tuple(base_pins),
                               env={f"VAR{i}": "a" for i in range(10)},
                               files={f"/etc/app/{i}.ini": "old\n" for i in range(5)})
    customer = EnvironmentSpec(name="customer", os="debian:bookworm",
                               system_packages=tuple(f"deb{i}" for i in range(5)),
                               python_packages=tuple(f"pkg{i:02d}==2.0" for i in range(20)),
                               env={f"VAR{i}": "b" for i in range(10)},
                               files={f"/etc/app/{i}.ini": "new\n" for i in range(5)})
    pairs = [(f"pkg{2 * i:02d}", f"pkg{2 * i + 1:02d}") for i in range(5)]

    def resolver(version, pins):
        new = {p.split("==")[0] for p in pins if p.endswith("==2.0")}
        return "conflict" if any((a in new) != (b in new) for a, b in pairs) else "ok"
    return baseline, customer, resolver


def coupled(*, warm: bool):
    baseline, customer, resolver = coupled_environments()
    found = atoms(baseline, customer)
    groups = grouping(found, baseline, resolver=resolver)
    assert len(found) == 40 and sum(len(g.atoms) == 2 for g in groups) == 5, [g.name for g in groups]
    rows = []
    for culprit in found:
        # The case was run once before isolating it, so the baseline's and the customer's images exist.
        images = {image_spec(baseline).content_hash(), image_spec(customer).content_hash()} if warm else set()

        def probe(config, culprit=culprit):
            spec = hybrid(baseline, config)
            key = image_spec(spec).content_hash()
            built = key not in images
            images.add(key)
            return Trial(1, int(culprit in {a for g in config for a in g.atoms}), built=built)
        report = search(groups, probe, label=lambda g: g.name, kind=lambda g: g.rebuild)
        assert culprit in [a for g in report.minimal for a in g.atoms]
        rows.append({**report.totals(), "culprit": culprit.name})
    return rows


def summary(name, rows, figure, target):
    values = [r[figure] for r in rows]
    return {"case": name, "figure": figure, "target": target, "worst": max(values),
            "mean": round(statistics.mean(values), 2), "trials": len(rows), "met": target is None or max(values) <= target,
            "worst_with_endpoints": max(r["probes"] if figure == "search_probes" else r[figure] for r in rows)}


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".reprokit/bench_isolate.json")
    started = time.monotonic()
    results = [
        summary("32 atoms, 1 culprit", plain(32, [[i] for i in range(32)]), "search_probes", 10),
        summary("32 atoms, 2 culprits both needed", plain(32, itertools.combinations(range(32), 2)),
                "search_probes", 26),
        summary("40 atoms, 5 coupled pairs, 1 culprit", coupled(warm=True), "builds", 10),
        summary("  same, endpoint images not yet built", coupled(warm=False), "builds", None),
    ]
    print(f"{'case':40} {'figure':14} {'target':>6} {'worst':>6} {'mean':>6} {'trials':>6}  met  (worst incl. endpoints)")
    for r in results:
        print(f"{r['case']:40} {r['figure']:14} {r['target'] if r['target'] is not None else '-':>6} {r['worst']:>6} {r['mean']:>6} {r['trials']:>6}  "
              f"{'yes' if r['met'] else 'NO ':3}  ({r['worst_with_endpoints']})")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"results": results, "wall_s": round(time.monotonic() - started, 2)}, indent=2))
    print(f"wrote {out}")
    sys.exit(0 if all(r["met"] for r in results) else 1)


if __name__ == "__main__":
    main()
