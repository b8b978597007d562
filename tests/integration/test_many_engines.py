"""Two engines sharing images through a real registry (credentials kept out of everything reprokit writes), and
engines, registries or shard runners going away mid-run.

Engine A is the machine's engine; engine B a second dockerd that the session starts (machines.py), with no
image at first and no route out. Cases here need no network: B can run them but could build none of them.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import uuid
import warnings
from pathlib import Path

import pytest

from conftest import REPROKIT, containers_of, wait_for

ENVIRONMENTS = {
    "environments/baseline.yaml": "os: debian:bookworm\nenv: {MODE: standard}\n",
    "environments/customer.yaml": "extends: baseline\nenv: {MODE: strict}\n",
}
CASES = {  # id -> (case.yaml body, the verdict it gives)
    "RK-1": ("environment: customer\nsteps: ['test \"$MODE\" != strict']\nexpect: {exit_code: 1}\nstatus: open\n",
             "REPRODUCED"),
    "RK-2": ("environment: {extends: baseline, env: {MODE: lenient}}\nsteps: ['echo \"mode $MODE\"']\n"
             "expect: {stdout_contains: 'mode strict'}\nstatus: fixed\n", "NOT_REPRODUCED"),
    "RK-SLOW": ("environment: customer\nsteps: ['sleep 6', 'test \"$MODE\" != strict']\nexpect: {exit_code: 1}\n"
                "status: open\n", "REPRODUCED"),
}


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    cases = {f"cases/{case}/case.yaml": f"id: {case}\ntitle: {case}\n{body}" for case, (body, _) in CASES.items()}
    return write(tmp_path_factory.mktemp("engines") / "project", {**ENVIRONMENTS, **cases})


def reprokit(*args: str, history: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([str(REPROKIT), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "REPROKIT_HISTORY": str(history)})
    return done


def by_case(done: subprocess.CompletedProcess) -> dict[str, dict]:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {result["case"]: result for result in json.loads(done.stdout)}


@pytest.fixture(scope="session")
def on_engine_a(project, registry, tmp_path_factory) -> dict[str, dict]:
    """Engine A replays the cases with the registry (building what it lacks, pushing what the registry lacks)
    and publishes its base image; its results by case."""
    history = tmp_path_factory.mktemp("history-a") / "history.sqlite"
    results = by_case(reprokit("replay", "--json", "--registry", registry.address, "-C", str(project),
                               history=history))
    published = reprokit("images", "bootstrap", "debian:bookworm", "--registry", registry.address, history=history)
    assert published.returncode == 0, published.stderr
    return results


def images_of(result: dict) -> dict[str, dict]:
    return {role: run["image"] for role, run in result["runs"].items()}


def test_engine_b_replays_what_engine_a_pushed_with_no_build_and_the_same_verdicts_and_image_ids(
        on_engine_a, second_engine, registry, project, tmp_path):
    from reprokit.engine import engine_at

    b = engine_at(second_engine.url)
    tags = {image["tag"] for result in on_engine_a.values() for image in images_of(result).values()}
    assert len(tags) == 3 and all(b.image_id(tag) is None for tag in tags)  # B starts with none of them
    assert sorted(f"reprokit/env:{t}" for t in registry.tags("env")) == sorted(tags)
    on_b = by_case(reprokit("--engine", second_engine.url, "replay", "--json", "--registry", registry.address,
                            "-C", str(project), history=tmp_path / "history.sqlite"))
    assert {case: r["verdict"] for case, r in on_b.items()} == {case: v for case, (_, v) in CASES.items()}
    assert {case: r["verdict"] for case, r in on_engine_a.items()} == {case: r["verdict"] for case, r in on_b.items()}
    for case, result in on_b.items():
        assert result["engine"] == second_engine.url
        for role, image in images_of(result).items():
            assert image["id"] == images_of(on_engine_a[case])[role]["id"]
            assert not image["built"]  # pulled, or reused after another case pulled it
    assert sum(image["pulled"] for result in on_b.values() for image in images_of(result).values()) == 3
    assert not [t for i in b.images() for t in i.tags if t.startswith(registry.host)]  # only the usual names


def test_base_images_travel_through_the_registry_to_an_engine_that_has_none(on_engine_a, second_engine, registry,
                                                                           docker_engine, tmp_path):
    from reprokit.engine import ContainerConfig, engine_at

    b = engine_at(second_engine.url)
    assert b.image_id("debian:bookworm") is None
    done = reprokit("--engine", second_engine.url, "images", "bootstrap", "debian:bookworm", "--registry",
                    registry.address, history=tmp_path / "history.sqlite")
    assert done.returncode == 0 and "debian:bookworm: pulled" in done.stdout, done.stdout + done.stderr
    assert b.image_id("debian:bookworm") == docker_engine.image_id("debian:bookworm")
    with b.start("debian:bookworm", ContainerConfig(labels={"reprokit.test": "base-travels"})) as box:
        assert box.exec("cat /etc/debian_version", timeout=30).stdout.startswith("12.")


def fresh_project(root: Path, count: int) -> tuple[Path, list[str]]:
    """Cases whose environments no engine has built yet (the layers below their last are cached on A)."""
    run = uuid.uuid4().hex[:10]
    cases = {f"cases/F-{n}/case.yaml": f"id: F-{n}\ntitle: fresh\nenvironment: {{extends: baseline, env: {{RUN: "
             f"'{run}-{n}'}}}}\nsteps: ['test \"$RUN\" != {run}-{n}']\nexpect: {{exit_code: 1}}\n"
             for n in range(count)}
    return write(root, {**ENVIRONMENTS, **cases}), [f"F-{n}" for n in range(count)]


def test_a_registry_that_does_not_answer_costs_one_warning_and_every_image_is_built_locally(docker_engine, tmp_path):
    from machines import free_port

    project, cases = fresh_project(tmp_path / "project", 2)
    closed = f"127.0.0.1:{free_port(5999)}/nobody"
    done = reprokit("replay", "--json", "--registry", closed, "-C", str(project), history=tmp_path / "h.sqlite")
    results = by_case(done)
    try:
        assert [r["verdict"] for r in results.values()] == ["REPRODUCED", "REPRODUCED"]
        built = [r["runs"]["environment"]["image"]["built"] for r in results.values()]
        assert built == [True, True]
        assert done.stderr.count("warning:") == 1 and f"registry {closed} does not answer" in done.stderr
    finally:
        for result in results.values():  # the images this test made, and only those
            docker_engine.remove_image(result["runs"]["environment"]["image"]["tag"])


class StopsRegistryBeforePushing:
    """Engine A, with the registry stopped just before it shares its first image."""

    def __init__(self, engine, registry):
        self.inner, self.registry, self.pushes = engine, registry, []

    def share(self, reference):
        self.registry.stop(keep_data=True)
        self.pushes.append(reference)
        return self.inner.share(reference)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_registry_that_disappears_before_a_push_leaves_the_local_build_standing(docker_engine, tmp_path,
                                                                                   monkeypatch):
    from machines import LocalRegistry, free_port
    from reprokit.errors import ReprokitWarning
    from reprokit.engine import registry as registry_module
    from reprokit.image.build import build
    from reprokit.contract.models import EnvironmentSpec

    vanishing = LocalRegistry(tmp_path / "registry", port=free_port(5998))
    vanishing.start()
    monkeypatch.setattr(registry_module, "_current", registry_module.Registry(vanishing.address))
    monkeypatch.setattr(registry_module, "_chosen", True)
    engine = StopsRegistryBeforePushing(docker_engine, vanishing)
    spec = EnvironmentSpec(name="vanishing", os="debian:bookworm", env={"RUN": uuid.uuid4().hex})
    image = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            image = build(spec, engine=engine)
        assert image.built and engine.pushes and not vanishing.answers()
        assert docker_engine.image_id(image.tag) == image.id  # the local build stands
        assert not [t for i in docker_engine.images() for t in i.tags if t.startswith(vanishing.host)]
        said = [str(w.message) for w in caught if issubclass(w.category, ReprokitWarning)]
        assert len(said) == 1 and vanishing.address in said[0]
    finally:
        vanishing.stop()
        if image is not None:  # the image this test made, and only that one
            docker_engine.remove_image(image.tag)


def test_an_engine_killed_mid_replay_loses_no_case_and_no_record_and_leaves_no_container(
        on_engine_a, second_engine, registry, project, tmp_path):
    from reprokit.engine import engine_at

    history = tmp_path / "history.sqlite"
    replay = subprocess.Popen([str(REPROKIT), "--engine", second_engine.url, "replay", "--json", "--jobs", "2",
                               "--registry", registry.address, "-C", str(project)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "REPROKIT_HISTORY": str(history)})
    try:
        b = engine_at(second_engine.url)
        wait_for(lambda: [c for c in containers_of(b.api, case="RK-SLOW") if c["State"] == "running"],
                 timeout=300, interval=0.1, what="RK-SLOW's steps running on engine B")
        second_engine.kill()
        time.sleep(1)
        second_engine.start()
        stdout, stderr = replay.communicate(timeout=600)
    finally:
        if replay.poll() is None:
            replay.kill()
    assert replay.returncode == 0, stdout[-3000:] + stderr[-3000:]
    results = {r["case"]: r for r in json.loads(stdout)}
    assert {case: r["verdict"] for case, r in results.items()} == {case: v for case, (_, v) in CASES.items()}
    lost = {case for case, r in results.items() if r.get("retried_after")}
    assert "RK-SLOW" in lost  # it was running: its attempt became ERROR, and it was retried once
    for case in lost:
        assert f"the engine at {second_engine.url} stopped answering" in results[case]["retried_after"]

    with sqlite3.connect(history) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    from reprokit.case.history import History

    records = History(history).records()
    per_case = {case: [r for r in records if r["case"] == case] for case in CASES}
    for case, rows in per_case.items():  # two records per attempt, each whole (its evidence parsed above)
        attempts = 2 if case in lost else 1
        assert sorted(r["role"] for r in rows) == sorted(["baseline", "environment"] * attempts)
        if case in lost:
            errors = [r for r in rows if r["verdict"] == "ERROR"]
            assert len(errors) == 2 and any(second_engine.url in (r["evidence"]["error"] or "") for r in errors)

    gc = subprocess.run([str(REPROKIT), "--engine", second_engine.url, "gc"], capture_output=True, text=True,
                        timeout=120)
    assert gc.returncode == 0, gc.stderr
    assert b.api.containers(all=True, filters={"label": "reprokit.session"}) == []
    assert b.api.networks(filters={"label": "reprokit.session"}) == []


def test_a_shard_whose_runner_died_gives_its_results_when_rerun_alone(on_engine_a, second_engine, registry, project,
                                                                      tmp_path):
    """The runner of the shard holding RK-SLOW is killed -9 in the middle of it (on engine B, so `gc` there touches
    no one else's containers); that shard, re-run alone, selects the same cases and gives their verdicts."""
    from reprokit.engine import engine_at

    b = engine_at(second_engine.url)
    command = [str(REPROKIT), "--engine", second_engine.url, "replay", "--registry", registry.address,
               "-C", str(project)]
    planned = {index: json.loads(reprokit(*command[1:], "--shard", f"{index}/2", "--dry-run", "--json",
                                          history=tmp_path / "plan.sqlite").stdout)["cases"] for index in (1, 2)}
    index = next(i for i, cases in planned.items() if "RK-SLOW" in cases)
    chosen = sorted(planned[index])
    history = tmp_path / "history.sqlite"
    runner = subprocess.Popen([*command, "--shard", f"{index}/2", "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "REPROKIT_HISTORY": str(history)})
    try:
        wait_for(lambda: [c for c in containers_of(b.api, case="RK-SLOW") if c["State"] == "running"],
                 timeout=300, interval=0.1, what="RK-SLOW's steps running on engine B")
    finally:
        runner.kill()  # SIGKILL: the runner dies with no chance to clean up or to record
        runner.communicate(timeout=60)
    assert containers_of(b.api, owner_pid=str(runner.pid))  # what a dead runner leaves behind...
    gc = subprocess.run([*command[:3], "gc"], capture_output=True, text=True, timeout=120)
    assert gc.returncode == 0, gc.stderr
    assert containers_of(b.api, owner_pid=str(runner.pid)) == []  # ...`gc` removes
    rerun = by_case(reprokit(*command[1:], "--shard", f"{index}/2", "--json", history=history))
    assert sorted(rerun) == chosen
    assert {case: r["verdict"] for case, r in rerun.items()} == {case: CASES[case][1] for case in chosen}
    from reprokit.case.history import History

    recorded = History(history).records()
    assert all(sum(r["case"] == case for r in recorded) >= 2 for case in chosen)  # at least the re-run's records


def test_registry_credentials_from_the_docker_config_never_show_in_output_history_or_reports(docker_engine,
                                                                                               tmp_path):
    """A registry that wants a login, the login in a Docker config (as `docker login` writes it): images are pushed
    with it, and neither the password nor its base64 form appears anywhere reprokit writes. A wrong password costs
    a warning that does not carry it either."""
    import base64

    from machines import LocalRegistry, free_port

    user, secret, wrong = "ci-bot", "s3cret-" + uuid.uuid4().hex, "wr0ng-" + uuid.uuid4().hex
    guarded = LocalRegistry(tmp_path / "guarded", port=free_port(5997), path="team", login=(user, secret))
    guarded.start()
    project, cases = fresh_project(tmp_path / "project", 1)
    history = tmp_path / "history.sqlite"
    secrets = [secret, wrong, *(base64.b64encode(f"{user}:{word}".encode()).decode() for word in (secret, wrong))]

    def docker_config(password: str) -> Path:
        folder = tmp_path / f"docker-{password[:5]}"
        folder.mkdir()
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        (folder / "config.json").write_text(json.dumps({"auths": {guarded.host: {"auth": auth}}}))
        return folder

    def run(*args: str, config: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(REPROKIT), *args], capture_output=True, text=True, timeout=900,
                              env={**os.environ, "REPROKIT_HISTORY": str(history), "DOCKER_CONFIG": str(config)})

    made = []
    try:
        good, bad = docker_config(secret), docker_config(wrong)
        done = run("replay", "--json", "--registry", guarded.address, "-C", str(project), config=good)
        results = by_case(done)
        made = [results[cases[0]]["runs"]["environment"]["image"]["tag"]]
        assert results[cases[0]]["verdict"] == "REPRODUCED" and "warning:" not in done.stderr, done.stderr
        assert made[0].split(":")[1] in guarded.tags("env")  # pushed: the login worked
        refused = run("replay", "--json", "--registry", guarded.address, "-C", str(project), config=bad)
        assert refused.returncode == 0 and "warning:" in refused.stderr, refused.stderr
        written = [done.stdout, done.stderr, refused.stdout, refused.stderr,
                   run("history", "-C", str(project), config=good).stdout, history.read_bytes().decode(errors="replace")]
        for form in ("md", "json", "html"):
            report = run("report", cases[0], "--format", form, "-C", str(project), config=good)
            assert report.returncode == 0, report.stderr
            written += [report.stdout, report.stderr]
        assert not [word for word in secrets for text in written if word in text]
        assert not [p for p in project.rglob("*") if p.is_file() and any(w.encode() in p.read_bytes() for w in secrets)]
    finally:
        guarded.stop()
        for tag in made:  # the image this test made, and only that one
            docker_engine.remove_image(tag)
