"""Unit tests of isolate: atoms, grouping, hybrids, the environment file, and the search on synthetic oracles."""
from __future__ import annotations

import random
import threading

import pytest

from fakes import FakeEngine, write_project
from reprokit.case.history import History, default_path
from reprokit.contract.load import Project, load_case
from reprokit.engine import RunResult

from reprokit.isolate.bisect import _pinned
from reprokit.isolate.ddmin import Outcome, Trial, bisect_versions, search, split
from reprokit.errors import IsolateError
from reprokit.isolate.isolation import Group, atoms, environment_yaml, grouping, hybrid, isolate
from reprokit.contract.load import load_environment
from reprokit.contract.models import EnvironmentSpec

BASELINE = EnvironmentSpec(name="baseline", os="debian:bookworm", system_packages=("sqlite3",),
                           python_packages=("jinja2==2.11.3", "markupsafe==2.0.1"), env={"MODE": "standard"},
                           files={"/etc/app.ini": "timeout = 30\n"}, timezone="UTC")
CUSTOMER = EnvironmentSpec(name="acme", os="debian:bullseye", system_packages=("sqlite3", "libsqlite3-0=3.34.1-3"),
                           python_packages=("jinja2==2.11.3", "markupsafe==2.1.0", "requests==2.31.0"),
                           env={"MODE": "strict", "REGION": "eu"}, files={}, timezone="Asia/Kolkata",
                           limits={"memory": "256m"})


def by_name(found):
    return {a.name: a for a in found}


# -- atoms ----------------------------------------------------------------------------------------------------


def test_every_declared_difference_is_one_atom_with_both_values():
    found = by_name(atoms(BASELINE, CUSTOMER))
    assert set(found) == {"os", "timezone", "system_packages.libsqlite3-0", "python_packages.markupsafe",
                          "python_packages.requests", "env.MODE", "env.REGION", "files./etc/app.ini", "limits.memory"}
    assert (found["python_packages.markupsafe"].baseline, found["python_packages.markupsafe"].customer) == \
        ("markupsafe==2.0.1", "markupsafe==2.1.0")
    assert found["files./etc/app.ini"].customer is None  # removed on the customer's side
    assert found["env.REGION"].baseline is None  # added on the customer's side


def test_only_image_changing_atoms_need_a_rebuild():
    found = by_name(atoms(BASELINE, CUSTOMER))
    assert found["os"].rebuild and found["python_packages.requests"].rebuild and found["timezone"].rebuild
    assert not found["env.MODE"].rebuild and not found["limits.memory"].rebuild and not found["files./etc/app.ini"].rebuild


def test_identical_environments_have_no_atoms():
    assert atoms(BASELINE, BASELINE.model_copy(update={"name": "other", "description": "same"})) == []


# -- hybrids --------------------------------------------------------------------------------------------------


def test_hybrid_of_all_atoms_is_the_customer_environment():
    assert hybrid(BASELINE, atoms(BASELINE, CUSTOMER)).content_hash() == CUSTOMER.content_hash()


def test_hybrid_is_the_same_image_whatever_order_the_atoms_come_in():
    found = atoms(BASELINE, CUSTOMER)
    hashes = {hybrid(BASELINE, random.Random(seed).sample(found, len(found))).content_hash() for seed in range(8)}
    assert hashes == {CUSTOMER.content_hash()}


def test_hybrid_of_no_atoms_is_the_baseline():
    assert hybrid(BASELINE, []).content_hash() == BASELINE.content_hash()


def test_hybrid_replaces_a_pin_in_place_adds_new_ones_and_drops_removed_ones():
    found = by_name(atoms(BASELINE, CUSTOMER))
    spec = hybrid(BASELINE, [found["python_packages.markupsafe"], found["python_packages.requests"],
                             found["files./etc/app.ini"], found["env.REGION"]])
    assert spec.python_packages == ("jinja2==2.11.3", "markupsafe==2.1.0", "requests==2.31.0")
    assert spec.files == {} and spec.env == {"MODE": "standard", "REGION": "eu"} and spec.os == BASELINE.os


def test_hybrid_applies_the_atoms_of_a_group():
    found = by_name(atoms(BASELINE, CUSTOMER))
    spec = hybrid(BASELINE, [Group((found["env.MODE"], found["limits.memory"]))])
    assert spec.env["MODE"] == "strict" and spec.limits.memory == "256m" and spec.limits.pids == BASELINE.limits.pids


# -- grouping -------------------------------------------------------------------------------------------------


def test_os_image_is_grouped_with_the_python_version_and_suite_pinned_debian_packages():
    groups = {g.name: g for g in grouping(atoms(BASELINE, CUSTOMER), BASELINE)}
    os_group = groups["os + system_packages.libsqlite3-0"]
    assert "3.11 -> 3.9" in os_group.reason and "Debian" in os_group.reason


def test_declared_python_version_moves_with_the_os():
    customer = CUSTOMER.model_copy(update={"python": "3.9"})
    names = [g.name for g in grouping(atoms(BASELINE, customer), BASELINE)]
    assert "os + python + system_packages.libsqlite3-0" in names


def test_pins_that_only_resolve_together_form_one_group():
    customer = BASELINE.model_copy(update={"python_packages": ("jinja2==3.1.4", "markupsafe==3.0.2"), "name": "c"})
    calls = []

    def resolver(version, pins):  # jinja2 3 needs markupsafe >= 2; markupsafe 3 alone is fine
        calls.append((version, pins))
        return "conflict" if "jinja2==3.1.4" in pins and "markupsafe==2.0.1" in pins else "ok"

    groups = grouping(atoms(BASELINE, customer), BASELINE, resolver=resolver)
    assert [g.name for g in groups] == ["python_packages.jinja2 + python_packages.markupsafe"]
    assert "resolver" in groups[0].reason and calls[0][0] == "3.11"


def test_pins_that_resolve_alone_stay_separate_and_unknown_is_not_a_conflict():
    groups = grouping(atoms(BASELINE, CUSTOMER), BASELINE, resolver=lambda version, pins: "unknown")
    assert "python_packages.markupsafe" in [g.name for g in groups]
    assert "python_packages.requests" in [g.name for g in groups]


def test_image_changing_groups_come_before_run_time_ones():
    rebuilds = [g.rebuild for g in grouping(atoms(BASELINE, CUSTOMER), BASELINE)]
    assert rebuilds == sorted(rebuilds, reverse=True) and rebuilds[0] and not rebuilds[-1]


# -- the minimal hybrid as an environment file ----------------------------------------------------------------


def test_environment_file_extends_the_baseline_and_loads_back_to_the_hybrid(tmp_path):
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "baseline.yaml").write_text(
        "os: debian:bookworm\nsystem_packages: [sqlite3]\npython_packages: ['jinja2==2.11.3', 'markupsafe==2.0.1']\n"
        "env: {MODE: standard}\nfiles:\n  /etc/app.ini: |\n    timeout = 30\ntimezone: UTC\n")
    baseline = load_environment("baseline", root=tmp_path)
    chosen = [a for a in atoms(baseline, CUSTOMER) if a.name in ("python_packages.markupsafe", "files./etc/app.ini",
                                                                  "env.REGION", "timezone", "limits.memory")]
    text = environment_yaml(baseline, chosen, root=tmp_path)
    assert "extends: baseline" in text and "remove:" in text
    (tmp_path / "environments" / "minimal.yaml").write_text(text)
    assert load_environment("minimal", root=tmp_path).content_hash() == hybrid(baseline, chosen).content_hash()


def test_environment_file_of_an_inline_baseline_is_the_whole_spec():
    text = environment_yaml(BASELINE.model_copy(update={"name": "SUP-1/baseline"}), atoms(BASELINE, CUSTOMER)[:1])
    assert "extends" not in text and "os: debian:bullseye" in text


# -- the search -----------------------------------------------------------------------------------------------


def oracle(*needed, unresolved=(), rate=1.0, seed=0, repeat=1):
    """A synthetic probe: the bug shows when every item of any ``needed`` set is applied; the exact sets in
    ``unresolved`` cannot be built."""
    rng = random.Random(seed)

    def probe(config):
        if config in map(frozenset, unresolved):
            return Trial(0, 0, error="could not build")
        present = any(frozenset(n) <= config for n in needed)
        return Trial(repeat, sum(present and rng.random() < rate for _ in range(repeat)))
    return probe


def test_one_culprit_among_32_is_found_within_10_search_probes():
    for culprit in range(32):
        report = search(range(32), oracle({culprit}))
        assert report.minimal == [culprit] and report.totals()["search_probes"] <= 10


def test_two_culprits_needed_together_are_found_as_exactly_the_pair():
    report = search(range(32), oracle({5, 27}))
    assert sorted(report.minimal) == [5, 27] and report.totals()["search_probes"] <= 26


def test_the_result_is_confirmed_1_minimal_from_the_probe_table():
    report = search(range(16), oracle({3, 9}))
    applied = {r.applied: r.outcome for r in report.records}
    assert applied[("3", "9")] is Outcome.FAIL
    assert applied[("3",)] is Outcome.PASS and applied[("9",)] is Outcome.PASS
    assert report.unconfirmed == []


def test_unresolved_probes_decide_nothing_and_are_reported_as_candidates():
    report = search(range(8), oracle({6}, unresolved=[{4, 5, 6, 7}]))
    assert report.minimal == [6]
    assert report.totals()["unresolved"] == 1
    assert report.unresolved_candidates == ["4", "5", "7"]


def test_unresolved_removal_leaves_1_minimality_unconfirmed():
    report = search(range(4), oracle({1, 2}, unresolved=[{1}]))
    assert sorted(report.minimal) == [1, 2] and report.unconfirmed == [2]


def test_a_baseline_that_shows_the_bug_stops_the_search():
    with pytest.raises(IsolateError, match="baseline gives FAIL"):
        search(range(4), lambda config: Trial(1, 1))


def test_a_customer_environment_that_does_not_build_stops_the_search():
    with pytest.raises(IsolateError, match="customer environment gives UNRESOLVED.*could not build"):
        search(range(4), oracle({1}, unresolved=[{0, 1, 2, 3}]))


def test_the_endpoints_rates_are_measured_over_the_repeats():
    report = search(range(4), oracle({1}, rate=0.5, seed=1, repeat=10))
    assert report.records[1].runs == 10 and report.customer_rate == report.records[1].matches / 10


def test_a_flaky_bug_is_found_with_repeats_and_its_rate_and_confidence_are_reported():
    report = search(range(16), oracle({11}, rate=0.5, seed=3, repeat=8))
    assert report.minimal == [11]
    assert 0 < report.customer_rate < 1 and report.baseline_rate == 0
    assert 0.5 < report.confidence < 1


def test_find_all_reports_a_second_independent_cause():
    report = search(range(20), oracle({2}, {13, 17}), find_all=True)
    assert sorted(map(sorted, report.causes)) == [[2], [13, 17]]


def test_find_all_stops_when_the_rest_no_longer_fails():
    assert search(range(20), oracle({4}), find_all=True).causes == [[4]]


def test_a_second_search_with_the_same_cache_probes_nothing():
    cache = {}
    search(range(32), oracle({9}), cache=cache)
    again = search(range(32), oracle({9}), cache=cache)
    assert again.totals()["probes"] == 0 and again.totals()["cache_hits"] == len(again.records) > 0


def test_parallel_probes_find_the_same_answer():
    report = search(range(32), oracle({4, 30}), jobs=4)
    assert sorted(report.minimal) == [4, 30]


def test_a_probe_that_raises_is_unresolved_not_a_crash():
    def probe(config):
        if config == frozenset({2, 3}):
            raise RuntimeError("engine hiccup")
        return Trial(1, int(3 in config))
    report = search(range(4), probe)
    assert report.minimal == [3] and any(r.error and "engine hiccup" in r.error for r in report.records)


def test_with_jobs_the_baseline_and_the_customer_environment_are_probed_at_once():
    both = threading.Barrier(2, timeout=5)  # a probe of one endpoint alone never gets past it

    def probe(config):
        if config in (frozenset(), frozenset(range(6))):
            both.wait()
        return Trial(1, int(4 in config))
    report = search(range(6), probe, jobs=2)
    assert report.minimal == [4] and sorted(len(r.applied) for r in report.records[:2]) == [0, 6]
    assert (report.records[0].outcome, report.records[1].outcome) != (Outcome.UNRESOLVED,) * 2
    assert report.baseline_rate == 0 and report.customer_rate == 1


def test_the_search_reports_its_wall_time_per_phase_in_order():
    phases = []
    report = search(range(8), oracle({2}), on_phase=phases.append)
    assert list(report.phase_s) == ["endpoint", "search", "confirm"] == [p.value for p in phases]
    assert sum(report.phase_s.values()) <= report.wall_s + 0.05


def test_isolate_builds_each_image_once_reuses_the_endpoints_images_and_reports_each_phase(tmp_path, monkeypatch):
    monkeypatch.delenv("REPROKIT_HISTORY", raising=False)
    monkeypatch.delenv("REPROKIT_REGISTRY", raising=False)
    root = write_project(tmp_path / "project", {
        "environments/baseline.yaml": "os: debian:bookworm\npython_packages: [markupsafe==2.0.1]\n",
        "cases/SUP-9/case.yaml": "id: SUP-9\ntitle: t\nenvironment: {extends: baseline, python_packages: "
                                 "[markupsafe==2.1.0], env: {A: '1', B: '2'}, timezone: Asia/Kolkata}\n"
                                 "steps: [python3 repro.py]\nexpect: {exit_code: 1}\n"})
    engine = FakeEngine()
    dockerfiles = lambda: {b["tag"]: b["dockerfile"] for b in engine.builds}  # noqa: E731
    engine.on_step = lambda image, config, step: RunResult(step, int("markupsafe==2.1.0" in dockerfiles()[image]),
                                                           "", "", 0.1)
    engine.facts_output = lambda image, config: "\n@@reprokit-fact pip_freeze\n" + (  # what the image installed
        "markupsafe==2.1.0\n" if "markupsafe==2.1.0" in dockerfiles()[image] else "markupsafe==2.0.1\n") + (
        "@@reprokit-fact timezone\nIST +0530\n/usr/share/zoneinfo/Asia/Kolkata\n")
    result = isolate(load_case("SUP-9", root=root), project=Project(root), jobs=2, engine=engine)
    assert [a.name for a in result.minimal] == ["python_packages.markupsafe"]
    tags = [b["tag"] for b in engine.builds]
    assert len(tags) == len(set(tags)) == len(result.builds)  # no image built twice
    data = result.to_dict()
    phases = {p["phase"]: p for p in data["phases"]}
    assert list(phases) == ["resolve", "endpoint", "search", "confirm"]
    assert phases["endpoint"]["builds"] == 2 and phases["endpoint"]["images_present"] == 0
    assert phases["search"]["images_present"] >= 2  # the first split's halves are the endpoints' images
    assert sum(p["builds"] for p in data["phases"]) == len(data["engine_builds"]) == data["totals"]["builds"]
    recorded = History(default_path(root)).isolations("SUP-9")[0]["evidence"]
    assert recorded["phases"] == data["phases"]


def test_split_makes_near_equal_contiguous_parts():
    assert split(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]


def test_outcomes_describe_themselves():
    assert "neither" in Outcome.UNRESOLVED.describe()


# -- bisect ---------------------------------------------------------------------------------------------------


def test_bisect_finds_the_first_bad_release():
    versions = [f"1.{i}" for i in range(10)]
    report = bisect_versions(versions, lambda v: Outcome.FAIL if versions.index(v) >= 6 else Outcome.PASS)
    assert (report.first_bad, report.last_good, report.skipped) == ("1.6", "1.5", [])


def test_bisect_skips_releases_that_cannot_be_installed_and_reports_them():
    versions = [f"1.{i}" for i in range(10)]

    def test(v):
        i = versions.index(v)
        return Outcome.UNRESOLVED if i in (5, 6) else Outcome.FAIL if i >= 6 else Outcome.PASS
    report = bisect_versions(versions, test)
    assert report.skipped == ["1.5", "1.6"] and report.first_bad == "1.7" and report.candidates == ["1.5", "1.6", "1.7"]


def test_bisect_reads_the_pins_of_both_environments():
    case = type("C", (), {"id": "SUP-1"})()
    assert _pinned(CUSTOMER, "markupsafe", case, "environment") == "2.1.0"
    with pytest.raises(IsolateError, match="does not pin"):
        _pinned(BASELINE, "requests", case, "baseline")


def test_resolver_answers_that_last_are_kept_on_disk_and_passing_failures_are_asked_again(tmp_path, monkeypatch):
    from reprokit.isolate.isolation import PipResolver

    answers = {("markupsafe==2.0.1",): ("unknown", True), ("idna==3.7",): ("unknown", False)}
    monkeypatch.setattr(PipResolver, "_ask", lambda self, version, pins: answers[pins])
    first = PipResolver(tmp_path / "resolve.json")
    assert first("3.11", ("markupsafe==2.0.1",)) == "unknown" and first("3.11", ("idna==3.7",)) == "unknown"
    again = PipResolver(tmp_path / "resolve.json")
    again("3.11", ("markupsafe==2.0.1",))
    again("3.11", ("idna==3.7",))
    assert (first.calls, again.calls) == (2, 1)  # only the network failure is asked again


def test_probe_phases_and_build_statuses_are_enums_that_describe_themselves():
    from reprokit.isolate.ddmin import BuildStatus, Phase

    for kind in (*Phase, *BuildStatus):
        assert kind.describe() and str(kind) == kind.value
    assert f"{Phase.FIND_ALL:9}|" == "find-all |"
