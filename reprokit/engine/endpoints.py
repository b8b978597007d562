"""Which engine to talk to, found the way the docker CLI finds it: --engine, DOCKER_HOST, then Docker contexts.

Order (the docker CLI's): an explicit ``--engine`` (a URL, or the name of a Docker context); else
``DOCKER_HOST``; else the context named by ``DOCKER_CONTEXT`` or by ``currentContext`` in the Docker config
(``$DOCKER_CONFIG/config.json``, default ``~/.docker``), whose endpoint is in
``contexts/meta/<sha256 of its name>/meta.json``; else the local socket. Pure: reads files, opens no socket."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from reprokit.errors import InvalidValue

DEFAULT = "unix:///var/run/docker.sock"
SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://", "http://", "https://")


@dataclass(frozen=True)
class Endpoint:
    """Where an engine answers, and how that was decided (said in errors: "DOCKER_HOST", "context ci", ...)."""

    url: str
    source: str
    tls: Path | None = None  # a context's TLS material: ca.pem, cert.pem, key.pem
    skip_tls_verify: bool = False


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("DOCKER_CONFIG") or Path(environ.get("HOME") or Path.home()) / ".docker")


def resolve(explicit: str | None = None, *, environ: Mapping[str, str] | None = None) -> Endpoint:
    """The endpoint to use (see the module docstring for the order)."""
    environ = os.environ if environ is None else environ
    if explicit and explicit.startswith("/"):  # a socket's path
        return Endpoint(f"unix://{explicit}", "--engine")
    if explicit:
        return Endpoint(explicit, "--engine") if explicit.startswith(SCHEMES) else context(explicit, environ=environ)
    if environ.get("DOCKER_HOST"):
        return Endpoint(environ["DOCKER_HOST"], "DOCKER_HOST")
    name = environ.get("DOCKER_CONTEXT") or _current_context(config_dir(environ))
    if name and name != "default":
        return context(name, environ=environ)
    return Endpoint(DEFAULT, "the default socket")


def context(name: str, *, environ: Mapping[str, str] | None = None) -> Endpoint:
    """The docker endpoint of the Docker context ``name`` (``docker context create NAME --docker host=...``)."""
    environ = os.environ if environ is None else environ
    if name == "default":
        return Endpoint(environ.get("DOCKER_HOST") or DEFAULT, "context default")
    folder = config_dir(environ) / "contexts"
    digest = hashlib.sha256(name.encode()).hexdigest()
    try:
        meta = json.loads((folder / "meta" / digest / "meta.json").read_text())
        docker = meta["Endpoints"]["docker"]
        url = docker["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        known = sorted(contexts(environ))
        raise InvalidValue(f"engine {name!r} is neither a URL ({', '.join(s for s in SCHEMES[:3])}...) nor a Docker "
                           f"context with a docker endpoint under {folder}/meta",
                           hint=f"known contexts: {', '.join(known) if known else 'none'}; "
                                f"or give a URL such as unix:///var/run/docker.sock") from None
    tls = folder / "tls" / digest / "docker"
    return Endpoint(url, f"context {name}", tls if tls.is_dir() else None, bool(docker.get("SkipTLSVerify")))


def contexts(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every Docker context with a docker endpoint: name -> URL."""
    found = {}
    for meta in sorted((config_dir(environ) / "contexts" / "meta").glob("*/meta.json")):
        try:
            data = json.loads(meta.read_text())
            found[data["Name"]] = data["Endpoints"]["docker"]["Host"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def _current_context(folder: Path) -> str | None:
    try:
        value = json.loads((folder / "config.json").read_text()).get("currentContext")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def split_engines(value: str) -> list[str]:
    """``--engines URL,URL`` as a list, empty entries dropped and duplicates refused (one engine, one pool)."""
    urls = [part.strip() for part in value.split(",") if part.strip()]
    if not urls:
        raise InvalidValue(f"--engines {value!r} names no engine", hint="give URLs or context names, comma-separated")
    repeated = sorted({u for u in urls if urls.count(u) > 1})
    if repeated:
        raise InvalidValue(f"--engines names {', '.join(repeated)} twice",
                           hint="name each engine once; --jobs sets how many cases run on each at once")
    return urls
