"""Isolation for real: the shipped 12-atom case, a second run that builds nothing, a contract-only case."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def isolate(project: Path, case_id: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "reprokit", "isolate", case_id, "--json", "-C", str(project), *args],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_isolate_names_the_one_real_culprit_among_twelve_differences_and_caches_it(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "environments", project / "environments")
    shutil.copytree(ROOT / "cases" / "SUP-4811", project / "cases" / "SUP-4811")

    first = isolate(project, "SUP-4811", "--jobs", "2", "--write-env", "sup-4811-minimal")
    assert len(first["atoms"]) >= 10
    assert [a["name"] for a in first["minimal"]] == ["python_packages.markupsafe"]
    assert first["minimal"][0]["customer"] == "markupsafe==2.1.0"
    assert first["totals"]["unresolved"] == 0 and first["totals"]["runs"] >= 3
    phases = {p["phase"] for p in first["probes"]}
    assert {"endpoint", "search"} <= phases
    # every probe either built its image or found it present; the builds counted are the engine's builds
    report = {p["phase"]: p for p in first["phases"]}
    assert list(report)[:3] == ["resolve", "endpoint", "search"]
    assert all(p["probes"] == p["builds"] + p["images_present"] for p in first["phases"])
    assert sum(p["builds"] for p in first["phases"]) == len(first["engine_builds"]) == first["totals"]["builds"]
    if report["endpoint"]["builds"] == 2:  # built side by side: the second reused the first's apt layers
        assert max(b["cached_steps"] for b in first["engine_builds"] if b["phase"] == "endpoint") >= 2
    assert report["search"]["images_present"] >= 2  # the first split's halves are the endpoints' images
    # the minimal hybrid, written as an environment file, is the baseline plus the culprit only
    minimal = (project / "environments" / "sup-4811-minimal.yaml").read_text()
    assert "extends: baseline" in minimal and "markupsafe==2.1.0" in minimal and "timezone" not in minimal

    second = isolate(project, "SUP-4811")
    assert [a["name"] for a in second["minimal"]] == ["python_packages.markupsafe"]
    assert second["totals"]["builds"] == 0 and second["totals"]["runs"] == 0
    assert second["engine_builds"] == [] and all(p["outcomes_cached"] == len(
        [r for r in second["probes"] if r["phase"] == p["phase"]]) for p in second["phases"])

    records = subprocess.run([sys.executable, "-m", "reprokit", "history", "SUP-4811", "--json", "-C", str(project)],
                             capture_output=True, text=True, timeout=120)
    assert any(r["kind"] == "isolate" for r in json.loads(records.stdout))


def test_a_contract_only_case_isolates_to_the_os_and_its_python(tmp_path):
    project = tmp_path / "project"
    (project / "environments").mkdir(parents=True)
    shutil.copytree(ROOT / "cases" / "CONTRACT-1", project / "cases" / "CONTRACT-1")
    result = isolate(project, "CONTRACT-1")
    assert [a["name"] for a in result["minimal"]] == ["os", "python"]
    assert result["minimal"][0]["customer"] == "debian:bullseye"
