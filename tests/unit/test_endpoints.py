"""Which engine: --engine, DOCKER_HOST, Docker contexts (reprokit/engine/endpoints.py), from files only."""
from __future__ import annotations

import hashlib
import json

import pytest

from reprokit.engine.endpoints import DEFAULT, contexts, resolve, split_engines
from reprokit.errors import InvalidValue


def docker_config(home, *, current: str | None = None, **endpoints: str):
    """A Docker config folder under ``home`` with a context per keyword (name -> docker endpoint URL)."""
    folder = home / ".docker"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"auths": {}, **({"currentContext": current} if current else {})}))
    for name, url in endpoints.items():
        meta = folder / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
        meta.mkdir(parents=True)
        (meta / "meta.json").write_text(json.dumps({"Name": name, "Metadata": {},
                                                    "Endpoints": {"docker": {"Host": url, "SkipTLSVerify": False}}}))
    return {"HOME": str(home)}


def test_without_anything_set_the_local_socket_is_used(tmp_path):
    assert resolve(environ={"HOME": str(tmp_path)}).url == DEFAULT


def test_docker_host_wins_over_the_current_context(tmp_path):
    environ = docker_config(tmp_path, current="ci", ci="tcp://10.0.0.5:2375")
    assert resolve(environ={**environ, "DOCKER_HOST": "unix:///run/other.sock"}).url == "unix:///run/other.sock"


def test_the_current_context_of_the_docker_config_names_the_engine(tmp_path):
    environ = docker_config(tmp_path, current="ci", ci="tcp://10.0.0.5:2375")
    endpoint = resolve(environ=environ)
    assert (endpoint.url, endpoint.source) == ("tcp://10.0.0.5:2375", "context ci")


def test_docker_context_variable_wins_over_the_config(tmp_path):
    environ = docker_config(tmp_path, current="ci", ci="tcp://10.0.0.5:2375", lab="ssh://me@lab")
    assert resolve(environ={**environ, "DOCKER_CONTEXT": "lab"}).url == "ssh://me@lab"


def test_the_default_context_means_the_usual_lookup(tmp_path):
    assert resolve(environ=docker_config(tmp_path, current="default")).url == DEFAULT


def test_an_explicit_engine_wins_and_may_be_a_url_a_socket_path_or_a_context(tmp_path):
    environ = {**docker_config(tmp_path, ci="tcp://10.0.0.5:2375"), "DOCKER_HOST": "tcp://elsewhere:2375"}
    assert resolve("unix:///tmp/b/docker.sock", environ=environ).url == "unix:///tmp/b/docker.sock"
    assert resolve("/tmp/b/docker.sock", environ=environ).url == "unix:///tmp/b/docker.sock"
    assert resolve("ci", environ=environ).url == "tcp://10.0.0.5:2375"


def test_an_unknown_context_is_a_user_mistake_listing_the_known_ones(tmp_path):
    environ = docker_config(tmp_path, ci="tcp://10.0.0.5:2375", lab="tcp://lab:2375")
    with pytest.raises(InvalidValue) as caught:
        resolve("labb", environ=environ)
    assert "'labb'" in caught.value.message and "ci, lab" in caught.value.hint


def test_a_context_with_tls_material_carries_its_folder(tmp_path):
    environ = docker_config(tmp_path, secure="tcp://10.0.0.5:2376")
    tls = tmp_path / ".docker" / "contexts" / "tls" / hashlib.sha256(b"secure").hexdigest() / "docker"
    tls.mkdir(parents=True)
    assert resolve("secure", environ=environ).tls == tls


def test_contexts_are_listed_by_name(tmp_path):
    assert contexts(docker_config(tmp_path, a="tcp://a:1", b="tcp://b:1")) == {"a": "tcp://a:1", "b": "tcp://b:1"}


def test_engines_split_on_commas_and_an_engine_named_twice_is_refused():
    assert split_engines(" unix:///a.sock, ,tcp://b:2375 ") == ["unix:///a.sock", "tcp://b:2375"]
    with pytest.raises(InvalidValue):
        split_engines("tcp://b:2375,tcp://b:2375")
    with pytest.raises(InvalidValue):
        split_engines(" , ")
