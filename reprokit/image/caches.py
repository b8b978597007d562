"""Package caches for builds: Debian packages come through apt-cacher-ng on the host, so the second environment
that needs them does not download them again.

`.ci/setup.sh` installs apt-cacher-ng (Debian's package) and starts it on 127.0.0.1:3142, its Debian backend the
host's own mirror; ``REPROKIT_APT_CACHE=HOST:PORT`` names another, ``REPROKIT_BUILD_CACHE=off`` builds without.
A build reaches it as Docker's predefined proxy build args on the host's network (`BuildProxy`), which Docker
keeps out of the image's history, config and layer cache keys: the Dockerfile, its content hash and the image are
those of a direct build, and no proxy setting stays in the image.

Only plain HTTP is cached (apt's mirror). HTTPS (pip's PyPI, a mirror over https) passes through uncached
(CONNECT): caching it would mean intercepting TLS, which changes what the image trusts; the host CA bundle stays
trusted for the build only, as without a cache. Why pip has no cache here: README, "Package caches".

A cache that does not answer costs one warning per process, and builds go direct; a build through it that fails
fetching packages is built again directly, with a warning.
"""
from __future__ import annotations

import os
import re
import socket
import threading
import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable, Mapping

from reprokit.engine import BuildFailure, BuildOutcome, BuildProxy, Engine
from reprokit.errors import InvalidValue, ReprokitWarning

DEFAULT_ADDRESS = "127.0.0.1:3142"
ADDRESS_VARIABLE = "REPROKIT_APT_CACHE"
SWITCH_VARIABLE = "REPROKIT_BUILD_CACHE"
ACNG_CONFIG = Path("/etc/apt-cacher-ng/acng.conf")
PROBE_TIMEOUT_S = 0.3
# apt's words when it could not fetch through the cache (it went down meanwhile, or its backend refused).
FETCH_FAILED = re.compile(r"Failed to fetch|Unable to fetch some archives|Could not connect to|"
                          r"Some index files failed to download")


class CacheState(str, Enum):
    """Whether builds go through the apt cache."""

    ON = "on"
    OFF = "off"
    DOWN = "down"

    def describe(self) -> str:
        return {"on": "builds fetch Debian packages through it",
                "off": f"turned off ({SWITCH_VARIABLE}=off): builds download directly",
                "down": "it does not answer: builds download directly"}[self.value]


@dataclass(frozen=True)
class AptCache:
    """The apt cache builds would use, and its state."""

    address: str  # HOST:PORT
    state: CacheState

    @property
    def proxy(self) -> BuildProxy | None:
        return BuildProxy(f"http://{self.address}") if self.state is CacheState.ON else None


def answers(address: str, *, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Does something accept TCP connections at ``address``? (A loopback connect takes well under 1 ms.)"""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError:
        return False
    return True


def apt_cache(environ: Mapping[str, str] = os.environ, *, probe: Callable[[str], bool] = answers) -> AptCache:
    """The apt cache named by the environment (default 127.0.0.1:3142): off, on, or down (``probe`` says)."""
    address = _address(environ.get(ADDRESS_VARIABLE, "").strip() or DEFAULT_ADDRESS)
    switch = environ.get(SWITCH_VARIABLE, "").strip().lower()
    if switch not in ("", "on", "off"):
        raise InvalidValue(f"{SWITCH_VARIABLE}={switch!r} is neither 'on' nor 'off'",
                           hint=f"unset it (the cache is used when it answers) or set {SWITCH_VARIABLE}=off")
    if switch == "off":
        return AptCache(address, CacheState.OFF)
    return AptCache(address, CacheState.ON if probe(address) else CacheState.DOWN)


def leaves_no_trace(dockerfile: str) -> bool:
    """Can this Dockerfile be built through a proxy without a trace? Docker's classic builder records a RUN of a
    build that has build args as '|N NAME=value... cmd' (naming the N args the Dockerfile declares), and as the
    bare command when it has none: a RUN before any ARG would get another history and cache key through the cache
    (no layer shared with a direct build). After an ARG (reprokit's environments start with ARG DEBIAN_FRONTEND)
    both record '|1 DEBIAN_FRONTEND=...'. Service recipes run before any ARG: they build directly."""
    stage = False
    for line in dockerfile.splitlines():
        word = (line.split(maxsplit=1) or [""])[0].upper()
        stage = stage or word == "FROM"
        if stage and word in ("ARG", "RUN"):
            return word == "ARG"
    return True


def build_through_cache(engine: Engine, dockerfile: str, context: dict[str, bytes], *, tag: str,
                        labels: dict[str, str], on_line: Callable[[str], None]) -> BuildOutcome:
    """``engine.build``, its Debian packages through the apt cache when the cache is on, the engine on this host
    (a loopback cache) and the Dockerfile leaves no trace; else directly. A build through the cache that fails
    fetching packages is built again directly."""
    proxy = _proxy_for(engine, dockerfile)
    if proxy is None:
        return engine.build(dockerfile, context, tag=tag, labels=labels, on_line=on_line)
    try:
        return engine.build(dockerfile, context, tag=tag, labels=labels, on_line=on_line, proxy=proxy)
    except BuildFailure as failure:
        words = fetch_failure(failure)
        if words is None:
            raise
        warnings.warn(f"the build of {tag} could not fetch packages through the apt cache at {proxy.url} "
                      f"({words}); building it again directly", ReprokitWarning, stacklevel=2)
    return engine.build(dockerfile, context, tag=tag, labels=labels, on_line=on_line)


def fetch_failure(failure: BuildFailure) -> str | None:
    """apt's line saying it could not fetch, when that is why the build failed; else None."""
    for line in reversed([*failure.log[-40:], failure.error]):
        if FETCH_FAILED.search(line):
            return line.strip()[:200]
    return None


def cache_size(config: Path = ACNG_CONFIG) -> int | None:
    """Bytes in apt-cacher-ng's cache folder (CacheDir of its config); None when there is none here."""
    text = config.read_text(errors="replace") if config.is_file() else ""
    match = re.search(r"^\s*CacheDir\s*:\s*(\S+)", text, re.M)
    folder = Path(match.group(1) if match else "/var/cache/apt-cacher-ng")
    if not folder.is_dir():
        return None
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


_down_said = threading.Event()


def _proxy_for(engine: Engine, dockerfile: str) -> BuildProxy | None:
    if not leaves_no_trace(dockerfile):
        return None
    cache = apt_cache()
    if cache.address.startswith(("127.", "localhost:", "[::1]:")) and not engine.endpoint.startswith("unix://"):
        return None  # the engine's host network is another machine's: its loopback has no such cache
    if cache.state is CacheState.DOWN and not _down_said.is_set():
        _down_said.set()
        warnings.warn(f"the apt cache at {cache.address} does not answer: builds download Debian packages directly "
                      f"(start it: bash .ci/setup.sh as root; or {SWITCH_VARIABLE}=off)", ReprokitWarning,
                      stacklevel=3)
    return cache.proxy


def _address(value: str) -> str:
    match = re.fullmatch(r"(?:[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})", value)
    if not match or not 0 < int(match.group(1)) < 65536:
        raise InvalidValue(f"{ADDRESS_VARIABLE}={value!r} is not HOST:PORT",
                           hint=f"write e.g. {ADDRESS_VARIABLE}={DEFAULT_ADDRESS} (apt-cacher-ng's address, no scheme)")
    return value
