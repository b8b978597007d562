"""Splitting a replay into CI shards (reprokit/case/shard.py): disjoint, complete, deterministic, balanced."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprokit.case.shard import Balance, parse_shard, plan
from reprokit.errors import InvalidValue


def realistic(seed: int, cases: int = 120) -> tuple[dict[str, set[str]], dict[str, float]]:
    """Cases as they accumulate: most have their own customer image, some share one (several tickets of one
    customer), nearly all share the baseline; durations spread like builds-or-not (seconds to minutes)."""
    rng = random.Random(seed)
    images, durations, customer = {}, {}, 0
    for n in range(cases):
        if rng.random() < 0.6:
            customer += 1
        images[f"SUP-{1000 + n}"] = {f"env:customer-{customer}", "env:baseline"}
        durations[f"SUP-{1000 + n}"] = round(rng.lognormvariate(3.0, 0.8), 3)
    return images, durations


def all_cases(result) -> list[str]:
    return [case for i in range(1, len(result.shards) + 1) for case in result.cases(i)]


def shard_of(result, case: str) -> int:
    return next(i for i in range(1, len(result.shards) + 1) if case in result.cases(i))


@pytest.mark.parametrize("text, expected", [("1/2", (1, 2)), ("2/2", (2, 2)), (" 3 / 4 ", (3, 4)), ("1/1", (1, 1))])
def test_shard_is_read_as_index_and_total(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text, message", [("0/2", "between 1 and 2"), ("3/2", "between 1 and 2"),
                                           ("a/b", "is not I/N"), ("1/0", "at least 1"), ("2", "is not I/N"),
                                           ("", "is not I/N"), ("-1/2", "is not I/N")])
def test_a_bad_shard_is_refused_with_the_valid_range(text, message):
    with pytest.raises(InvalidValue, match=message) as error:
        parse_shard(text)
    assert error.value.hint and "--shard 1/" in error.value.hint


cases_and_images = st.dictionaries(st.from_regex(r"SUP-[0-9]{1,4}", fullmatch=True),
                                   st.frozensets(st.sampled_from(["a", "b", "c", "d", "e", "base"]), min_size=1,
                                                 max_size=2), max_size=40)


@settings(max_examples=200, deadline=None)
@given(images=cases_and_images, total=st.integers(1, 9), data=st.data())
def test_shards_are_disjoint_and_together_are_every_case(images, total, data):
    durations = data.draw(st.dictionaries(st.sampled_from(sorted(images) or ["none"]),
                                          st.floats(0, 1e4, allow_nan=False)))
    result = plan(images, total, durations=durations)
    assert len(result.shards) == total
    listed = all_cases(result)
    assert len(listed) == len(set(listed)) and set(listed) == set(images)


@settings(max_examples=100, deadline=None)
@given(images=cases_and_images, total=st.integers(1, 6), seed=st.integers(0, 1000))
def test_the_plan_does_not_depend_on_the_order_cases_are_given_in(images, total, seed):
    items = list(images.items())
    random.Random(seed).shuffle(items)
    durations = {case: float(len(case)) for case in images}
    assert plan(dict(items), total, durations=durations) == plan(images, total, durations=durations)


PLAN_IN_A_FRESH_PROCESS = """
import json, sys
sys.path.insert(0, {tests!r})
from test_shard import realistic
from reprokit.case.shard import plan
images, durations = realistic(7)
result = plan({{case: set(tags) for case, tags in images.items()}}, 4, durations=durations)
print(json.dumps([result.cases(i) for i in range(1, 5)]))
"""


def test_the_plan_is_the_same_under_every_hash_seed():
    """Runners of a matrix are separate processes with their own hash seeds (sets iterate differently)."""
    script = PLAN_IN_A_FRESH_PROCESS.format(tests=os.path.dirname(__file__))
    plans = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("0", "1", "2", "12345")}
    assert len(plans) == 1
    images, durations = realistic(7)
    assert json.loads(plans.pop()) == [list(plan(images, 4, durations=durations).cases(i)) for i in range(1, 5)]


def test_cases_that_need_the_same_images_share_a_shard():
    images, durations = realistic(3)
    result = plan(images, 4, durations=durations)
    by_images: dict[frozenset, list[str]] = {}
    for case, tags in images.items():
        by_images.setdefault(frozenset(tags), []).append(case)
    assert sum(len(cases) > 1 for cases in by_images.values()) > 10  # the input has many such groups
    assert all(len({shard_of(result, case) for case in cases}) == 1 for cases in by_images.values())


def test_cases_sharing_only_the_baseline_are_not_forced_together():
    images = {f"SUP-{n}": {f"customer-{n}", "baseline"} for n in range(8)}
    result = plan(images, 4)
    assert [len(result.cases(i)) for i in range(1, 5)] == [2, 2, 2, 2]


@pytest.mark.parametrize("total", [2, 4, 8])
@pytest.mark.parametrize("seed", range(5))
def test_with_durations_the_slowest_shard_is_within_a_third_of_the_mean(seed, total):
    images, durations = realistic(seed)
    result = plan(images, total, durations=durations)
    loads = [result.seconds(i) for i in range(1, total + 1)]
    assert result.balance is Balance.TIME
    assert sum(loads) == pytest.approx(sum(durations.values()))
    assert max(loads) <= 1.3 * (sum(loads) / total), loads


def test_balancing_by_time_beats_balancing_by_count_on_skewed_durations():
    images = {f"SUP-{n}": {f"c{n}", "base"} for n in range(12)}
    durations = {f"SUP-{n}": (300.0 if n < 3 else 10.0) for n in range(12)}
    by_time = plan(images, 3, durations=durations)
    assert [by_time.seconds(i) for i in (1, 2, 3)] == [330.0, 330.0, 330.0]
    assert sorted(len(by_time.cases(i)) for i in (1, 2, 3)) == [4, 4, 4]
    by_count = plan(images, 3)
    assert max(sum(durations[c] for c in by_count.cases(i)) for i in (1, 2, 3)) > 330.0


def test_a_group_heavier_than_the_mean_stays_whole_and_alone():
    images = {f"BIG-{n}": {"huge-customer", "base"} for n in range(6)}
    images |= {f"SUP-{n}": {f"c{n}", "base"} for n in range(9)}
    durations = {case: (100.0 if case.startswith("BIG") else 10.0) for case in images}
    result = plan(images, 4, durations=durations)
    big = {shard_of(result, case) for case in images if case.startswith("BIG")}
    assert len(big) == 1 and set(result.cases(big.pop())) == {f"BIG-{n}" for n in range(6)}
    others = sorted(result.seconds(i) for i in range(1, 5))[:3]
    assert others == [30.0, 30.0, 30.0]


def test_without_durations_shards_are_balanced_by_case_count():
    images, _ = realistic(5, cases=60)
    result = plan(images, 4)
    counts = [len(result.cases(i)) for i in range(1, 5)]
    assert result.balance is Balance.COUNT and sum(counts) == 60
    largest_group = max(len(group.cases) for shard in result.shards for group in shard)
    assert max(counts) - min(counts) <= largest_group


def test_a_case_with_no_recorded_duration_weighs_the_median_of_the_others():
    images = {name: {name} for name in ("A", "B", "C", "NEW")}
    result = plan(images, 1, durations={"A": 1.0, "B": 5.0, "C": 100.0})
    assert result.seconds(1) == 1.0 + 5.0 + 100.0 + 5.0


def test_more_shards_than_groups_leaves_the_last_shards_empty():
    images = {"SUP-1": {"x"}, "SUP-2": {"x"}, "SUP-3": {"y"}}
    result = plan(images, 4)
    assert [result.cases(i) for i in range(1, 5)] == [("SUP-1", "SUP-2"), ("SUP-3",), (), ()]


def test_the_fingerprint_changes_with_the_assignment_only():
    images, durations = realistic(1, cases=20)
    same = plan(images, 3, durations=durations), plan(dict(reversed(images.items())), 3, durations=durations)
    assert same[0].fingerprint == same[1].fingerprint
    assert plan(images, 2, durations=durations).fingerprint != same[0].fingerprint


def test_the_description_names_the_shard_its_estimate_and_the_plan():
    images, durations = realistic(1, cases=20)
    result = plan(images, 2, durations=durations)
    line = result.describe(2)
    assert line.startswith(f"shard 2/2: {len(result.cases(2))} of 20 case(s)")
    assert f"estimated {result.seconds(2):.1f}s" in line and result.fingerprint in line
    assert "by case count" in plan(images, 2).describe(1)
