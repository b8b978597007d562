"""A step that prints 200 MB: reprokit's memory stays bounded, the head and tail are kept as evidence with a line
saying what was cut, and the verdict holds when the signature is in the kept part."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPROKIT

CASE = """id: LOUD-1
title: prints 200 MB, then the signature
environment: {os: "debian:bookworm"}
baseline: {os: "debian:bookworm"}
steps:
  - head -c 200000000 /dev/zero | tr '\\\\0' x; echo 'SIGNATURE-AFTER-200MB' >&2; exit 1
expect:
  exit_code: 1
  stderr_contains: SIGNATURE-AFTER-200MB
status: open
"""
MEASURE = ("import json, resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True); "
           "print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode, "
           "done.stdout.decode(errors='replace'), done.stderr.decode(errors='replace')[-3000:]]))")


def test_a_step_printing_200_mb_keeps_memory_bounded_and_the_verdict(tmp_path, docker_engine):
    (tmp_path / "environments").mkdir()
    (tmp_path / "cases" / "LOUD-1").mkdir(parents=True)
    (tmp_path / "cases" / "LOUD-1" / "case.yaml").write_text(CASE)
    command = [str(REPROKIT), "case", "run", "LOUD-1", "-C", str(tmp_path), "--json"]
    measured = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, timeout=900)
    peak_kib, code, stdout, stderr = json.loads(measured.stdout)
    assert stdout.strip(), f"{' '.join(command)} printed nothing; stderr: {stderr}"
    result = json.loads(stdout)
    assert result["verdict"] == "EVERYWHERE", f"{' '.join(command)}: {result['verdict']}; stderr: {stderr}"
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib / 1024:.0f} MB; reproduce: {' '.join(command)}"
    printed = json.dumps(result)
    assert "bytes cut here" in printed and "SIGNATURE-AFTER-200MB" in printed
    history = tmp_path / ".reprokit" / "history.sqlite"
    assert history.stat().st_size < 2 * 1024 * 1024, "the history grew by more than 2 MB for one run"
