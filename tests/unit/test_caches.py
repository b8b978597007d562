"""The apt cache for builds (reprokit/image/caches.py): its state, its address, and when a build goes through it."""
from __future__ import annotations

import socket
import warnings

import pytest

from fakes import FakeEngine
from reprokit import doctor
from reprokit.engine import BuildFailure, BuildProxy
from reprokit.errors import InvalidValue, ReprokitWarning
from reprokit.image import caches
from reprokit.image.build import build
from reprokit.image.render import render_for_build
from reprokit.image.caches import AptCache, CacheState, apt_cache, build_through_cache, leaves_no_trace
from reprokit.contract.models import EnvironmentSpec
from reprokit.services.recipes import recipe_for

LOCAL = "unix:///var/run/docker.sock"
FETCH_ERROR = "E: Failed to fetch http://deb.debian.org/debian/pool/main/s/sqlite3/sqlite3_3.40.1-2_amd64.deb  503"


def env(**fields) -> EnvironmentSpec:
    return EnvironmentSpec(**{"name": "acme", "os": "debian:bookworm", "system_packages": ["sqlite3"], **fields})


@pytest.fixture
def listening():
    """A loopback port that accepts connections (where the cache would answer)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def closed():
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture
def cache_at(monkeypatch):
    """Turn the cache on at an address (the unit tests' default is off); the 'down' warning not yet said."""
    monkeypatch.setattr(caches, "_down_said", caches.threading.Event())

    def use(address: str) -> None:
        monkeypatch.delenv("REPROKIT_BUILD_CACHE")
        monkeypatch.setenv("REPROKIT_APT_CACHE", address)
    return use


def test_the_cache_is_on_at_the_default_address_when_it_answers():
    cache = apt_cache({}, probe=lambda address: address == "127.0.0.1:3142")
    assert cache == AptCache("127.0.0.1:3142", CacheState.ON)
    assert cache.proxy == BuildProxy("http://127.0.0.1:3142")


def test_a_cache_that_does_not_answer_is_down_and_gives_no_proxy():
    cache = apt_cache({"REPROKIT_APT_CACHE": "10.0.0.5:3142"}, probe=lambda address: False)
    assert (cache.address, cache.state, cache.proxy) == ("10.0.0.5:3142", CacheState.DOWN, None)
    assert "directly" in cache.state.describe()


def test_off_turns_the_cache_off_without_probing_it():
    def probe(address):
        raise AssertionError("probed")
    cache = apt_cache({"REPROKIT_BUILD_CACHE": "off"}, probe=probe)
    assert cache.state is CacheState.OFF and cache.proxy is None
    assert "REPROKIT_BUILD_CACHE=off" in cache.state.describe()


@pytest.mark.parametrize("environ, words", [({"REPROKIT_APT_CACHE": "http://127.0.0.1:3142"}, "is not HOST:PORT"),
                                            ({"REPROKIT_APT_CACHE": "127.0.0.1"}, "is not HOST:PORT"),
                                            ({"REPROKIT_BUILD_CACHE": "maybe"}, "neither 'on' nor 'off'")])
def test_a_bad_setting_is_refused_with_its_fix(environ, words):
    with pytest.raises(InvalidValue, match=words) as caught:
        apt_cache(environ, probe=lambda address: True)
    assert "REPROKIT_" in caught.value.hint


def test_the_proxy_is_plain_http_only_so_https_is_never_sent_to_the_cache():
    args = BuildProxy("http://127.0.0.1:3142").build_args()
    assert args["http_proxy"] == args["HTTP_PROXY"] == "http://127.0.0.1:3142"
    assert not {"https_proxy", "HTTPS_PROXY"} & set(args) and "127.0.0.1" in args["no_proxy"]


def test_the_probe_tells_a_listening_port_from_a_closed_one(listening, closed):
    assert caches.answers(listening) and not caches.answers(closed)


def test_environments_leave_no_trace_but_a_run_before_any_arg_would():
    assert leaves_no_trace(render_for_build(env()).dockerfile)  # ARG DEBIAN_FRONTEND comes first
    assert not leaves_no_trace("FROM debian:bookworm\nRUN apt-get update\nARG X=1\n")
    assert not leaves_no_trace("ARG SUITE=bookworm\nFROM debian:$SUITE\nRUN apt-get update\n")  # before FROM: no
    assert leaves_no_trace("FROM debian:bookworm\nLABEL a=b\n")  # nothing runs
    assert not leaves_no_trace(recipe_for("postgres:15").dockerfile)  # service recipes build directly


def test_a_build_through_the_cache_has_the_same_dockerfile_and_tag_as_a_direct_one(cache_at, listening):
    direct = build(env(), engine=(plain := FakeEngine(endpoint=LOCAL)))
    cache_at(listening)
    through = build(env(), engine=(cached := FakeEngine(endpoint=LOCAL)))
    assert cached.builds[0]["proxy"] == BuildProxy(f"http://{listening}") and plain.builds[0]["proxy"] is None
    assert cached.builds[0]["dockerfile"] == plain.builds[0]["dockerfile"]
    assert (through.tag, through.image_hash) == (direct.tag, direct.image_hash)


def test_a_cache_that_is_down_warns_once_and_builds_go_direct(cache_at, closed):
    cache_at(closed)
    engine = FakeEngine(endpoint=LOCAL)
    with pytest.warns(ReprokitWarning, match=f"apt cache at {closed} does not answer") as said:
        build(env(), engine=engine)
        build(env(env={"A": "1"}), engine=engine)
    assert len([w for w in said if "does not answer" in str(w.message)]) == 1
    assert [b["proxy"] for b in engine.builds] == [None, None]


def test_a_remote_engine_does_not_use_a_loopback_cache(cache_at, listening):
    cache_at(listening)
    engine = FakeEngine(endpoint="tcp://10.0.0.7:2376")
    build(env(), engine=engine)
    assert engine.builds[0]["proxy"] is None


class FetchFailsThroughProxy(FakeEngine):
    """The cache answers, but what it fetched failed (its backend refused): the build through it fails like apt."""

    def build(self, dockerfile, context, *, proxy=None, **options):
        if proxy is not None:
            self.builds.append({"tag": options["tag"], "proxy": proxy})
            raise BuildFailure("Step 3/9 : RUN apt-get update", ["Get:1 http://deb.debian.org ...", FETCH_ERROR],
                               "The command '/bin/sh -c apt-get ...' returned a non-zero code: 100")
        return super().build(dockerfile, context, **options)


def test_a_build_that_fails_fetching_through_the_cache_is_built_again_directly(cache_at, listening):
    cache_at(listening)
    engine = FetchFailsThroughProxy(endpoint=LOCAL)
    with pytest.warns(ReprokitWarning, match="could not fetch packages through the apt cache .*503.*again directly"):
        image = build(env(), engine=engine)
    assert image.built and [b["proxy"] is None for b in engine.builds] == [False, True]


def test_a_build_failing_for_another_reason_is_not_retried(cache_at, listening):
    cache_at(listening)
    engine = FakeEngine(endpoint=LOCAL, fail_build=BuildFailure("Step 3/9 : RUN apt-get install", [
        "E: Unable to locate package sqlite4"], "returned a non-zero code: 100"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReprokitWarning)
        with pytest.raises(BuildFailure):
            build_through_cache(engine, render_for_build(env()).dockerfile, {}, tag="t", labels={},
                                on_line=lambda line: None)
    assert len(engine.builds) == 1


def test_doctor_reports_the_cache_its_size_and_that_down_is_no_failure():
    on = doctor.build_cache_check(AptCache("127.0.0.1:3142", CacheState.ON), size=3 * 2**20)
    assert on.ok and "127.0.0.1:3142: on, 3.0 MiB on disk" in on.detail and "pip" in on.detail
    down = doctor.build_cache_check(AptCache("127.0.0.1:3142", CacheState.DOWN), size=None)
    assert not down.ok and not down.required and ".ci/setup.sh" in down.fix


def test_the_cache_size_is_read_from_the_folder_its_config_names(tmp_path):
    (tmp_path / "cache" / "debrep").mkdir(parents=True)
    (tmp_path / "cache" / "debrep" / "sqlite3_3.40.1-2_amd64.deb").write_bytes(b"x" * 1000)
    (tmp_path / "acng.conf").write_text(f"# CacheDir: /elsewhere\nCacheDir: {tmp_path / 'cache'}\nPort: 3142\n")
    assert caches.cache_size(tmp_path / "acng.conf") == 1000
    (tmp_path / "acng.conf").write_text(f"CacheDir: {tmp_path / 'absent'}\n")
    assert caches.cache_size(tmp_path / "acng.conf") is None
