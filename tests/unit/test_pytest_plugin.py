"""The pytest plugin's collection (reprokit/pytest_plugin.py) under splitters: no case runs, no Docker."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.parent.name for p in (ROOT / "cases").glob("*/case.yaml"))


def collected(*args: str, seed: str = "0") -> list[str]:
    """The case items `pytest cases/ ARGS --collect-only -q` lists, in a fresh process like a CI runner's."""
    result = subprocess.run([sys.executable, "-m", "pytest", "cases", "--collect-only", "-q", "-p", "no:cacheprovider",
                             *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONHASHSEED": seed})
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith("cases/")]


def test_every_shipped_case_is_one_item():
    assert collected() == [f"cases/{case}/case.yaml::{case}" for case in SHIPPED] and len(SHIPPED) >= 2


def test_the_collection_is_the_same_in_every_process():
    """pytest-xdist requires each worker to collect the same items in the same order."""
    assert collected(seed="1") == collected(seed="2")


def test_pytest_split_groups_together_cover_every_case_item_once():
    groups = [collected("-p", "pytest_split", "--splits", "2", "--group", str(g), seed=str(g)) for g in (1, 2)]
    assert groups[0] and groups[1]
    assert sorted(groups[0] + groups[1]) == sorted(collected()) and not set(groups[0]) & set(groups[1])


@pytest.mark.parametrize("case", SHIPPED)
def test_a_case_result_pickles_for_whatever_carries_it_between_processes(case, project_root):
    """xdist sends reports (strings, user properties) between processes; the case and its spec pickle too,
    for tools that send more."""
    from reprokit.contract.load import load_case

    loaded = load_case(project_root / "cases" / case, root=project_root)
    assert pickle.loads(pickle.dumps(loaded)) == loaded
