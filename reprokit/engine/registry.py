"""Images shared between machines through a container registry: pulled before a build, pushed after one.

With a registry (``--registry HOST[:PORT]/PATH``, ``REPROKIT_REGISTRY``, or ``registry = "..."`` in the
project's ``reprokit.toml`` or ``[tool.reprokit]`` of its ``pyproject.toml``), an image reprokit needs and does
not have is first pulled from ``<registry>/<name>`` (``reprokit/env:<hash>`` -> ``<registry>/env:<hash>``,
``reprokit/service:<...>`` -> ``<registry>/service:<...>``, ``debian:<suite>`` -> ``<registry>/debian:<suite>``)
and tagged with its usual local name, so nothing downstream changes and the image id is the builder's. An image
built here is pushed; one reused from the engine is pushed if the registry lacks it (looked up once per process).
The registry's name is a tag only while an image moves: ``reprokit images`` sees the usual names alone.

A registry that does not answer costs one warning (a ReprokitWarning), after which this process builds locally
and shares nothing; a push that fails leaves the local image as it is. Credentials are the engine's business:
it reads them from the Docker config (``docker login``), and an address carrying them is refused unread.
"""
from __future__ import annotations

import os
import re
import threading
import tomllib
import warnings
from pathlib import Path
from typing import Mapping

from reprokit.engine.protocol import Engine, Moved
from reprokit.errors import EngineError, InvalidValue, ReprokitWarning, SpecError

VARIABLE = "REPROKIT_REGISTRY"
_HOST = re.compile(r"^(?:localhost|\[[0-9a-fA-F:]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9-]+(?=:))(?::\d{1,5})?$")
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
# A push that failed with these words found no registry (rather than being refused by one): stop pulling too.
_GONE = ("connection refused", "no such host", "i/o timeout", "eof", "connection reset", "dial tcp", "timeout")


def parse_address(value: str, *, source: str) -> str:
    """``HOST[:PORT][/PATH]`` checked and normalised (no trailing slash); the message says how to fix a bad one.
    Credentials in the address are refused without echoing them."""
    address = value.strip().rstrip("/")
    if "://" in address:
        bare = address.split("://", 1)[1]
        raise InvalidValue(f"{source}: a registry is HOST[:PORT]/PATH, without a scheme",
                           hint=f"write {_stripped(bare)!r}; http or https is the engine's choice (127.0.0.0/8 and "
                                "the engine's insecure-registries are spoken to over plain http)")
    host, _, path = address.partition("/")
    if "@" in host:
        raise InvalidValue(f"{source}: the registry address {_masked(address)!r} carries credentials, which would "
                           "show in logs and process lists", hint=f"write {_stripped(address)!r} and log "
                           f"in once: docker login {host.rpartition('@')[2]} (the engine reads the Docker config)")
    if not _HOST.match(host):
        raise InvalidValue(f"{source}: {address!r} does not start with a registry host (a name with a dot or a port, "
                           "or localhost)", hint=f"write e.g. 'registry.example.com/{address}' or "
                           f"'127.0.0.1:5000/{address}'; Docker Hub is 'docker.io/{address}'")
    for component in filter(None, path.split("/")):
        if not _COMPONENT.match(component):
            raise InvalidValue(f"{source}: {address!r}: the path part {component!r} is not a valid repository name",
                               hint="use lowercase letters, digits and single separators (. _ -)"
                                    + (f"; e.g. {component.lower()!r}" if component != component.lower() else ""))
    return address


def _masked(text: str) -> str:
    """``user:secret@host/path`` -> ``***@host/path``: an address shown in a message never carries credentials."""
    host, slash, path = text.partition("/")
    return ("***@" + host.rpartition("@")[2] if "@" in host else host) + slash + path


def _stripped(text: str) -> str:
    return _masked(text).removeprefix("***@")


def configured(option: str | None, *, project_root: Path | None,
               environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """The registry address to use and where it was set: ``--registry`` (``option``), else ``REPROKIT_REGISTRY``
    (an empty value: none, whatever the files say), else ``reprokit.toml``, else ``pyproject.toml``'s
    ``[tool.reprokit]``. ``(None, "")`` when nothing sets one."""
    environ = os.environ if environ is None else environ
    if option is not None:
        return (parse_address(option, source="--registry") if option.strip() else None), "--registry"
    if VARIABLE in environ:
        value = environ[VARIABLE]
        return (parse_address(value, source=VARIABLE) if value.strip() else None), VARIABLE
    for name, table in (("reprokit.toml", ()), ("pyproject.toml", ("tool", "reprokit"))):
        path = project_root / name if project_root is not None else None
        if path is None or not path.is_file():
            continue
        value = _setting(path, table)
        if value is not None:
            where = f"{path}: {'.'.join((*table, 'registry'))}"
            return (parse_address(value, source=where) if value.strip() else None), str(path)
    return None, ""


def _setting(path: Path, table: tuple[str, ...]) -> str | None:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SpecError(path, "", f"cannot be read as TOML: {error}", hint="fix the file, or set REPROKIT_REGISTRY "
                        "(an empty value means no registry) to leave it unread") from None
    for key in table:
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, dict) or "registry" not in data:
        return None
    value = data["registry"]
    if not isinstance(value, str):
        raise SpecError(path, ".".join((*table, "registry")), f"{value!r} is not a string",
                        hint='write registry = "HOST[:PORT]/PATH", e.g. registry = "127.0.0.1:5000/reprokit"')
    return value


class Registry:
    """One registry, as this process uses it: what it pulled and pushed, and whether it still answers."""

    def __init__(self, address: str, *, source: str = "") -> None:
        self.address = parse_address(address, source=source or "registry")
        self.source = source
        self.pulling = self.pushing = True  # False once it failed: one warning, then local builds only
        self._known: set[tuple[str, str]] = set()  # (engine, local name) the registry is known to have
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Registry({self.address!r})"

    def remote(self, local: str) -> str:
        """The registry's name for a local image name: ``reprokit/env:abc`` -> ``<address>/env:abc``."""
        name = local
        for prefix in ("docker.io/", "library/", "reprokit/"):
            name = name.removeprefix(prefix)
        return f"{self.address}/{name}"

    def pull(self, engine: Engine, local: str) -> str | None:
        """Fetch ``local`` from the registry into ``engine`` under its local name; its image id, or None when
        the registry lacks it or does not answer (then a warning, once)."""
        if not self.pulling:
            return None
        remote = self.remote(local)
        with self._lock_for(engine, local):
            present = engine.image_id(local)
            if present:  # another thread of this process fetched or built it meanwhile
                return present
            moved = engine.pull(remote)
            if moved.moved is Moved.UNREACHABLE:
                self._fail(engine, moved.detail, pushing_only=False)
            if not moved:
                return None
            try:
                engine.tag(remote, local)
            finally:
                _untag(engine, remote)
            self._known.add((engine.endpoint, local))
            return engine.image_id(local)

    def push(self, engine: Engine, local: str) -> bool:
        """Send ``local`` (just built here) to the registry; False if that failed (the local image stands)."""
        if not self.pushing:
            return False
        with self._lock_for(engine, local):
            return self._push(engine, local)

    def offer(self, engine: Engine, local: str) -> None:
        """Make sure the registry has ``local`` (reused from the engine): looked up once per process, pushed if
        missing."""
        if not self.pushing or (engine.endpoint, local) in self._known:
            return
        with self._lock_for(engine, local):
            if (engine.endpoint, local) in self._known:
                return
            found = engine.lookup(self.remote(local))
            if found:
                self._known.add((engine.endpoint, local))
            elif found.moved is Moved.UNREACHABLE:
                self._fail(engine, found.detail, pushing_only=False)
            else:
                self._push(engine, local)

    def _push(self, engine: Engine, local: str) -> bool:
        remote = self.remote(local)
        try:
            engine.tag(local, remote)
            moved = engine.push(remote)
        except EngineError as error:  # a tag the engine refused: the local image is untouched either way
            moved, detail = None, error.message
        else:
            detail = moved.detail
        finally:
            _untag(engine, remote)
        if moved:
            self._known.add((engine.endpoint, local))
            return True
        gone = moved is not None and any(word in detail.lower() for word in _GONE)
        self._fail(engine, detail, pushing_only=not gone)
        return False

    def _fail(self, engine: Engine, detail: str, *, pushing_only: bool) -> None:
        """Stop using the registry (for pushes only, when it answered but refused one) and say so, once."""
        from reprokit.redact import redact_text

        with self._lock:
            was = (self.pulling, self.pushing)
            self.pushing = False
            self.pulling = self.pulling and pushing_only
            if (self.pulling, self.pushing) == was:
                return
        words = redact_text(detail or "no reason given", where="registry")[0]
        if pushing_only:
            message = (f"registry {self.address} refused a push from the engine at {engine.endpoint} ({words}); "
                       "images built here stay local for the rest of this run (images are still pulled from it)")
        else:
            message = (f"registry {self.address} does not answer the engine at {engine.endpoint} ({words}); "
                       "building images locally and sharing none for the rest of this run")
        warnings.warn(message, ReprokitWarning, stacklevel=3)

    def _lock_for(self, engine: Engine, local: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault((engine.endpoint, local), threading.Lock())


def _untag(engine: Engine, remote: str) -> None:
    """Drop the registry's name of an image; its local name keeps the image."""
    try:
        engine.remove_image(remote)
    except EngineError:
        pass  # refused: a stray extra tag, which `reprokit images list` shows


_current: Registry | None = None
_chosen = False
_choice_lock = threading.Lock()


def use_registry(address: str | None, *, source: str = "") -> Registry | None:
    """Share images through the registry at ``address`` in this process (None: through none), whatever
    REPROKIT_REGISTRY says. Returns it."""
    global _current, _chosen
    with _choice_lock:
        _current, _chosen = (Registry(address, source=source) if address else None), True
        return _current


def current_registry() -> Registry | None:
    """The process's registry: the one ``use_registry`` chose, else REPROKIT_REGISTRY's (read once)."""
    global _current, _chosen
    with _choice_lock:
        if not _chosen:
            address, source = configured(None, project_root=None)
            _current, _chosen = (Registry(address, source=source) if address else None), True
        return _current


_projects: set[Path] = set()


def use_registry_of(project_root: Path) -> Registry | None:
    """Share images as the project at ``project_root`` says (REPROKIT_REGISTRY, else its files), decided once
    per project: for `pytest cases/`, which has no --registry."""
    with _choice_lock:
        if project_root in _projects:
            return _current
        _projects.add(project_root)
    address, source = configured(None, project_root=project_root)
    return use_registry(address, source=source)


def obtain(engine: Engine, local: str) -> tuple[str, bool] | None:
    """``local``'s image id and whether it was pulled: present in ``engine`` (then offered to the registry, which
    may lack it), else pulled from the process's registry; None when neither has it."""
    present = engine.image_id(local)
    if present:
        offer(engine, local)
        return present, False
    pulled = pull(engine, local)
    return (pulled, True) if pulled else None


def pull(engine: Engine, local: str) -> str | None:
    """``Registry.pull`` through the process's registry; None without one."""
    registry = current_registry()
    return registry.pull(engine, local) if registry else None


def push(engine: Engine, local: str) -> bool:
    registry = current_registry()
    return registry.push(engine, local) if registry else False


def offer(engine: Engine, local: str) -> None:
    registry = current_registry()
    if registry:
        registry.offer(engine, local)
