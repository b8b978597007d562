"""Building with a fake engine: content addressing, base images, and build errors with step, tail and hint."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fakes import FakeEngine
from reprokit.aspects.python_packages import find_ca_bundle
from reprokit.image.build import build
from reprokit.image.render import render_for_build
from reprokit.image.build_errors import LOG_TAIL
from reprokit.engine import BuildFailure
from reprokit.errors import BuildError, EngineError
from reprokit.run.box import start
from reprokit.contract.models import EnvironmentSpec


def env(**fields) -> EnvironmentSpec:
    return EnvironmentSpec(**{"name": "acme", "os": "debian:bookworm", **fields})


def test_first_build_calls_the_engine_with_labels_and_the_content_tag():
    engine = FakeEngine()
    image = build(env(), engine=engine)
    assert image.built and len(engine.builds) == 1
    call = engine.builds[0]
    assert call["tag"] == image.tag == render_for_build(env()).tag()
    assert call["labels"]["reprokit.environment"] == "acme"
    assert call["labels"]["reprokit.spec-hash"] == image.image_hash


def test_unchanged_spec_makes_no_build_call():
    engine = FakeEngine()
    first = build(env(), engine=engine)
    second = build(env(name="renamed", description="same content"), engine=engine)
    assert len(engine.builds) == 1
    assert (second.built, second.tag, second.id) == (False, first.tag, first.id)


def test_changed_spec_builds_a_new_image():
    engine = FakeEngine()
    first = build(env(), engine=engine)
    second = build(env(env={"A": "1"}), engine=engine)
    assert len(engine.builds) == 2 and second.built and second.tag != first.tag


class SlowEngine(FakeEngine):
    """Builds take a moment, long enough for a second thread to ask for the same image meanwhile."""

    def build(self, *args, **kwargs):
        time.sleep(0.2)
        return super().build(*args, **kwargs)


def test_two_threads_needing_one_image_build_it_once_and_both_get_it():
    engine = SlowEngine()
    with ThreadPoolExecutor(max_workers=2) as pool:
        images = list(pool.map(lambda _: build(env(env={"A": "1"}), engine=engine), range(2)))
    assert len(engine.builds) == 1
    assert images[0].id == images[1].id and sorted(i.built for i in images) == [False, True]


def test_build_reports_cached_and_total_steps():
    image = build(env(timezone="UTC"), engine=FakeEngine(cached_steps=2))
    assert image.cached_steps == 2 and image.total_steps >= 3


def test_build_passes_log_lines_on():
    lines: list[str] = []
    build(env(), engine=FakeEngine(), on_line=lines.append)
    assert lines and lines[0].startswith("Step 1/")


def test_build_failure_becomes_build_error_with_step_tail_and_hint(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")  # the step is cut to the terminal's width (image/build_errors.py)
    log = [f"noise {i}" for i in range(40)] + ["", "E: Unable to locate package sqlite9"]
    failure = BuildFailure("Step 3/6 : RUN apt-get install sqlite9", log,
                           "The command '/bin/sh -c apt-get install sqlite9' returned a non-zero code: 100")
    spec = env(system_packages=("sqlite9",), source="environments/acme.yaml")
    with pytest.raises(BuildError) as caught:
        build(spec, engine=FakeEngine(fail_build=failure))
    error = caught.value
    assert error.step == "Step 3/6 : RUN apt-get install sqlite9"
    assert error.log_tail[-2:] == ["E: Unable to locate package sqlite9", failure.error]
    assert len(error.log_tail) == LOG_TAIL + 1 and "" not in error.log_tail
    assert error.hint.startswith("check that the package and version exist")
    assert error.reproduce == "reprokit env build acme"
    text = str(error)
    assert text.startswith("building environment 'acme' failed at step: Step 3/6 : RUN apt-get install sqlite9")
    assert "    E: Unable to locate package sqlite9" in text and "hint: " in text and "reproduce: " in text


@pytest.mark.parametrize("line, hint", [
    ("ERROR: No matching distribution found for flask==99", "check that the pin exists on PyPI"),
    ("SSL: CERTIFICATE_VERIFY_FAILED", "REPROKIT_CA_BUNDLE"),
    ("unknown timezone Mars/Olympus", "tz database"),
])
def test_build_errors_get_a_hint_matching_their_log(line, hint):
    with pytest.raises(BuildError) as caught:
        build(env(), engine=FakeEngine(fail_build=BuildFailure("Step 2/2 : RUN x", [line], "exit 1")))
    assert hint in caught.value.hint


def test_missing_base_image_is_pulled_when_a_registry_has_it():
    engine = FakeEngine(images={}, pullable=("debian:bookworm",))
    assert build(env(), engine=engine).built and engine.pulls == ["debian:bookworm"]


def test_missing_base_image_without_registry_says_how_to_bootstrap_it():
    engine = FakeEngine(images={})
    with pytest.raises(EngineError) as caught:
        build(env(), engine=engine)
    assert "debian:bookworm is not present" in caught.value.message
    assert "reprokit images bootstrap debian:bookworm;" in caught.value.hint and "--registry" in caught.value.hint
    assert engine.builds == []


def test_ca_bundle_comes_from_reprokit_ca_bundle_first(tmp_path, monkeypatch):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("pem")
    monkeypatch.setenv("REPROKIT_CA_BUNDLE", str(bundle))
    assert find_ca_bundle() == bundle
    assert render_for_build(env(python_packages=("flask",))).context["reprokit-build-ca.pem"] == b"pem"


def test_start_applies_limits_network_and_env_and_removes_the_container():
    engine = FakeEngine()
    spec = env(network="none", limits={"memory": "256m", "pids": 64, "cpus": 0.5})
    with start(spec, engine=engine, env={"X": "1"}, labels={"reprokit.case": "C"}) as box:
        box.run("echo hi", timeout=5)
        config = engine.running[0].config
    assert (config.memory, config.pids, config.cpus, config.network) == ("256m", 64, 0.5, "none")
    assert config.env == {"X": "1"} and config.labels["reprokit.case"] == "C"
    assert engine.containers[0].commands[0]["workdir"] == "/work" and engine.running == []


def test_start_removes_the_container_when_the_block_raises():
    engine = FakeEngine()
    with pytest.raises(RuntimeError):
        with start(env(), engine=engine):
            raise RuntimeError("inside the with")
    assert len(engine.containers) == 1 and engine.running == []


# -- another architecture ----------------------------------------------------------------------------------------


@pytest.fixture
def amd64_host(monkeypatch):
    from reprokit.aspects import arch as arch_module

    monkeypatch.setattr(arch_module, "host_arch", lambda: "amd64")


def test_an_arm64_environment_builds_on_the_arm64_base_and_gets_an_arm64_image(amd64_host):
    engine = FakeEngine()
    engine.add_image("arm64v8/debian:bookworm", arch="arm64")
    image = build(env(arch="arm64"), engine=engine)
    assert engine.builds[0]["dockerfile"].startswith("FROM arm64v8/debian:bookworm\n")
    assert engine.image_architecture(image.tag) == "arm64"


def test_a_missing_arm64_base_says_how_to_bootstrap_it_for_that_architecture(amd64_host):
    engine = FakeEngine()  # debian:bookworm (amd64) is there; that must not count
    with pytest.raises(EngineError) as caught:
        build(env(arch="arm64"), engine=engine)
    assert "base image arm64v8/debian:bookworm is not present" in caught.value.message
    assert "reprokit images bootstrap debian:bookworm --arch arm64;" in caught.value.hint
    assert engine.builds == [] and engine.pulls == ["arm64v8/debian:bookworm"]


def test_a_base_of_the_wrong_architecture_stops_the_build_before_it_starts(amd64_host):
    """The classic builder would build on it without a word, and the 'arm64' image would be amd64."""
    engine = FakeEngine()
    engine.add_image("arm64v8/debian:bookworm", arch="amd64")  # e.g. a `docker import` of an arm64 rootfs
    with pytest.raises(EngineError, match="base image arm64v8/debian:bookworm is amd64, not arm64") as caught:
        build(env(arch="arm64"), engine=engine)
    assert "reprokit images bootstrap debian:bookworm --arch arm64 --force" in caught.value.hint
    assert engine.builds == []


def test_an_image_built_with_another_architecture_than_declared_is_removed_and_refused(amd64_host):
    class PlatformIgnoringBuilder(FakeEngine):
        def build(self, dockerfile, context, **options):
            outcome = super().build(dockerfile, context, **options)
            self.architectures[outcome.image_id] = "amd64"
            return outcome

    engine = PlatformIgnoringBuilder()
    engine.add_image("arm64v8/debian:bookworm", arch="arm64")
    with pytest.raises(EngineError, match=r"the image reprokit/env:\w+ is amd64, not the declared arch arm64"):
        build(env(arch="arm64"), engine=engine)
    assert engine.removed_images == [engine.builds[0]["tag"]]
    assert engine.image_id(engine.builds[0]["tag"]) is None  # a rerun builds again instead of reusing it


def test_an_environment_without_arch_is_not_checked(amd64_host):
    engine = FakeEngine()
    engine.add_image("debian:bookworm", arch="arm64")  # whatever an unlabelled base says, as before
    assert build(env(), engine=engine).built


def test_a_missing_wheel_on_a_foreign_architecture_names_the_architecture_in_the_hint(amd64_host):
    line = ("ERROR: No matching distribution found for tensorflow-io-gcs-filesystem==0.29.0")
    engine = FakeEngine(fail_build=BuildFailure("Step 5/9 : RUN pip install", [line], "exit 1"))
    engine.add_image("arm64v8/debian:bookworm", arch="arm64")
    with pytest.raises(BuildError) as caught:
        build(env(arch="arm64", python_packages=("tensorflow-io-gcs-filesystem==0.29.0",)), engine=engine)
    assert caught.value.hint.startswith("check that the pin exists on PyPI and supports the image's Python version")
    assert "has a wheel for linux/aarch64 (or an sdist): the build runs on arm64" in " ".join(caught.value.hint.split())
    with pytest.raises(BuildError) as native:
        build(env(python_packages=("tensorflow-io-gcs-filesystem==0.29.0",)), engine=engine)
    assert "aarch64" not in native.value.hint
