"""Isolate's shared builds (reprokit/isolate/builds.py) on a gated fake engine: no Docker."""
from __future__ import annotations

import threading

import pytest

from reprokit.engine import BuildFailure, BuildOutcome
from reprokit.isolate.builds import SharedBuilds, instructions, step_keys

WAIT = 5.0  # seconds a test waits for something that must happen
QUIET = 0.3  # seconds a test watches for something that must not happen


class GatedEngine:
    """Builds print "Step N/M" lines like Docker's classic builder and stay in each step a gate holds
    (``hold(tag, n)``) until ``release(tag, n)``; ``fail`` maps a tag to the step it fails at."""

    def __init__(self):
        self.started: dict[str, threading.Event] = {}
        self.gates: dict[tuple[str, int], threading.Event] = {}
        self.fail: dict[str, int] = {}
        self.options: dict[str, dict] = {}
        self.running = self.most = 0
        self._lock = threading.Lock()

    def hold(self, tag: str, step: int) -> None:
        self.gates[(tag, step)] = threading.Event()

    def release(self, tag: str, step: int) -> None:
        self.gates[(tag, step)].set()

    def began(self, tag: str) -> threading.Event:
        return self.started.setdefault(tag, threading.Event())

    def image_id(self, reference: str) -> str:
        return f"id-of-{reference}"

    def build(self, dockerfile, context, *, tag, labels, on_line, **options) -> BuildOutcome:
        self.options[tag] = options
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.began(tag).set()
        try:
            steps = instructions(dockerfile)
            for n, step in enumerate(steps, 1):
                on_line(f"Step {n}/{len(steps)} : {step}")
                if (tag, n) in self.gates:
                    assert self.gates[(tag, n)].wait(WAIT), f"{tag} step {n} was never released"
                if self.fail.get(tag) == n:
                    raise BuildFailure(step, [], "the step failed")
            return BuildOutcome(f"id-of-{tag}", 0, len(steps), [])
        finally:
            with self._lock:
                self.running -= 1


def start(builds: SharedBuilds, dockerfile: str, tag: str, errors: list | None = None) -> threading.Thread:
    def run():
        try:
            builds.build(dockerfile, {}, tag=tag, labels={}, on_line=lambda line: None)
        except BuildFailure as failure:
            (errors if errors is not None else []).append((tag, failure))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


BASE = "FROM debian:bookworm\nRUN apt-get install -y python3\n"


def test_a_build_sharing_first_steps_waits_until_they_are_built_not_until_the_other_build_ends():
    engine = GatedEngine()
    engine.hold("a", 2)  # a is building its second step, the last one b shares
    engine.hold("a", 3)
    builds = SharedBuilds(engine, jobs=2)
    first = start(builds, BASE + "RUN echo a\n", "a")
    assert engine.began("a").wait(WAIT)
    second = start(builds, BASE + "RUN echo b\n", "b")
    assert not engine.began("b").wait(QUIET)  # the shared steps are in progress: b would build them again
    engine.release("a", 2)
    assert engine.began("b").wait(WAIT)  # past the shared steps: b goes on while a still builds its own
    assert first.is_alive()  # a is held at its own third step
    engine.release("a", 3)
    first.join(WAIT), second.join(WAIT)
    assert [r.tag for r in builds.records] == ["b", "a"]
    assert builds.records[0].waited_s > 0


def test_builds_that_share_no_step_run_side_by_side():
    engine = GatedEngine()
    engine.hold("a", 1)
    builds = SharedBuilds(engine, jobs=2)
    first = start(builds, "FROM debian:bookworm\nRUN echo a\n", "a")
    second = start(builds, "FROM debian:trixie\nRUN echo a\n", "b")
    assert engine.began("a").wait(WAIT) and engine.began("b").wait(WAIT)
    engine.release("a", 1)
    first.join(WAIT), second.join(WAIT)
    assert engine.most == 2


def test_no_more_than_jobs_builds_run_at_once():
    engine = GatedEngine()
    builds = SharedBuilds(engine, jobs=2)
    tags = ["a", "b", "c"]
    for tag in tags:
        engine.hold(tag, 1)
    threads = [start(builds, f"FROM debian:{tag}\n", tag) for tag in tags]
    assert engine.began("a").wait(WAIT) and engine.began("b").wait(WAIT)
    assert not engine.began("c").wait(QUIET)
    engine.release("a", 1)
    assert engine.began("c").wait(WAIT)
    engine.release("b", 1), engine.release("c", 1)
    for thread in threads:
        thread.join(WAIT)
    assert engine.most == 2 and len(builds.records) == 3


def test_a_failed_build_raises_to_its_caller_and_lets_the_builds_waiting_on_it_go_on():
    engine = GatedEngine()
    engine.hold("a", 2)
    engine.fail["a"] = 2
    builds = SharedBuilds(engine, jobs=2)
    errors: list = []
    first = start(builds, BASE + "RUN echo a\n", "a", errors)
    assert engine.began("a").wait(WAIT)
    second = start(builds, BASE + "RUN echo b\n", "b", errors)
    assert not engine.began("b").wait(QUIET)
    engine.release("a", 2)
    first.join(WAIT), second.join(WAIT)
    assert not first.is_alive() and not second.is_alive()
    assert [tag for tag, _ in errors] == ["a"]
    failed = next(r for r in builds.records if r.tag == "a")
    assert failed.error and "the step failed" in failed.error
    assert builds._running == []  # nothing left behind for later builds to wait on


def test_other_engine_methods_and_build_keywords_pass_through_and_builds_are_recorded_per_phase():
    engine = GatedEngine()
    builds = SharedBuilds(engine, jobs=1)
    assert builds.image_id("reprokit/env:x") == "id-of-reprokit/env:x"
    builds.phase = "search"
    builds.build("FROM debian:bookworm\n", {}, tag="a", labels={}, on_line=lambda line: None, proxy="http://cache")
    assert engine.options["a"] == {"proxy": "http://cache"}
    assert [(r.tag, r.phase, r.total_steps, r.error) for r in builds.records] == [("a", "search", 1, None)]


@pytest.mark.parametrize("copy", ['COPY rootfs/etc/app.ini /etc/', 'COPY ["rootfs/etc/app.ini", "/etc/"]',
                                  'COPY --chown=1:1 rootfs /'])
def test_a_copy_step_differs_when_the_files_it_copies_differ(copy):
    dockerfile = f"FROM debian:bookworm\n{copy}\nRUN true\n"
    one = step_keys(dockerfile, {"rootfs/etc/app.ini": b"a", "other": b"x"})
    two = step_keys(dockerfile, {"rootfs/etc/app.ini": b"b", "other": b"x"})
    three = step_keys(dockerfile, {"rootfs/etc/app.ini": b"a", "other": b"y"})
    assert one[0] == two[0] and one[1] != two[1] and one[2] != two[2]
    assert one == three  # a file the COPY does not take changes nothing


def test_instructions_join_continuation_lines_and_skip_comments():
    assert instructions("# hello\nFROM x\n\nRUN a \\\n && b\nENV A=1\n") == ["FROM x", "RUN a  && b", "ENV A=1"]


def test_the_process_wide_engine_is_connected_only_when_first_needed(monkeypatch):
    import reprokit.isolate.builds as module

    connected = []
    monkeypatch.setattr(module, "get_engine", lambda: connected.append(1) or GatedEngine())
    builds = SharedBuilds(None, jobs=2)
    assert connected == []  # an isolation whose outcomes are all cached needs no engine
    assert builds.image_id("x") == "id-of-x" and connected == [1]
