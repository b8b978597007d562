"""Collect: turn what a customer sends (a collection, a pip freeze, a `dpkg -l` listing, an image) into an
environment spec under environments/, re-redacted, with what a container cannot reproduce written down."""
from __future__ import annotations

import io

import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

from reprokit.errors import InvalidValue, ReprokitError, RunError, SpecError
from reprokit.redact import Redaction, Summary, is_marker, redact, redact_text
from reprokit.aspects.base_os import DEBIAN_RELEASES
from reprokit.aspects.env import IGNORED_IMPORT as IGNORED_ENV

FORMAT = "reprokit-collection"
SUPPORTED_VERSIONS = (1,)


class CollectionKind(str, Enum):
    """What a customer sent."""

    COLLECTION = "collection"
    PIP_FREEZE = "pip-freeze"
    DPKG_LIST = "dpkg-list"
    IMAGE = "image"

    def __str__(self) -> str:
        return self.value

    def describe(self) -> str:
        return {"collection": "the output of reprokit's collector script: every dimension it could read",
                "pip-freeze": "a `pip freeze`: python packages only",
                "dpkg-list": "a `dpkg -l`: Debian packages only",
                "image": "facts read from an image the customer provided (reprokit env from-image)"}[self.value]


@dataclass(frozen=True)
class Collection:
    """What a customer sent, redacted again on arrival, as one facts mapping (collector format 1)."""

    facts: dict
    source: str
    kind: CollectionKind = CollectionKind.COLLECTION
    collector: str = ""
    collected_at: str = ""
    redactions: Summary = field(default_factory=Summary)


@dataclass(frozen=True)
class Imported:
    """An environment derived from a collection: the YAML fields, and what could not be carried over."""

    data: dict
    unreproducible: tuple[str, ...]
    placeholders: tuple[str, ...]
    redactions: Summary
    inexact: tuple[str, ...] = ()  # imported, but not at the customer's exact value (the mirror moved on, say)
    comments: dict = field(default_factory=dict)  # field -> item name -> YAML comment beside that item
    side_files: dict = field(default_factory=dict)  # suffix -> text, written as environments/NAME.SUFFIX


# -- the collector the customer runs -----------------------------------------------------------------------


def collector_script(*, sh: bool = False) -> str:
    """The single-file collector: Python 3.6+ stdlib, or POSIX sh with the patterns filled in from Python's."""
    folder = resources.files("reprokit.collect.collector")
    if not sh:
        return folder.joinpath("collector.py").read_text(encoding="utf-8")
    from reprokit.collect.collector.collector import CERTIFICATE
    from reprokit.redact import awk_patterns

    # The certificate pattern holds a tab, CR and newline (never a backslash): awk reads them back from escapes.
    certificate = CERTIFICATE.replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")
    template = folder.joinpath("collector.sh").read_text(encoding="utf-8")
    return template.replace("REPROKIT_RENDERED=__RENDERED__", "REPROKIT_RENDERED=yes") \
                   .replace("#@@PATTERNS@@", awk_patterns()) \
                   .replace("#@@CERTIFICATE@@", f'    certificate = "{certificate}"')


# -- reading what the customer sent ------------------------------------------------------------------------


def read_collection(path: Path | str, *, allow: Iterable[str] = ()) -> Collection:
    """A collection JSON/YAML, a pip freeze / requirements file or a `dpkg -l` listing, re-redacted."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        raise SpecError(path, "", f"cannot read the file: {error.strerror}") from None
    return parse_collection(text, source=str(path), allow=allow)


def parse_collection(text: str, *, source: str, allow: Iterable[str] = ()) -> Collection:
    head = text.lstrip()[:4000]
    if head.startswith("{") or FORMAT in head:
        document = _structured(text, source)
        kind = CollectionKind.COLLECTION
    elif re.search(r"^(Desired=|[a-z][a-z]  \S)", head, re.M) and re.search(r"^ii  ", text, re.M):
        document, kind = {"facts": parse_dpkg_list(text)}, CollectionKind.DPKG_LIST
    else:
        document, kind = {"facts": {"python": {"pip_freeze": parse_requirements(text, source)}}}, CollectionKind.PIP_FREEZE
    earlier = document.pop("redactions", None)
    if not isinstance(document.get("facts"), dict):
        raise SpecError(source, "facts", "missing or not a mapping", hint="is this a reprokit collection?")
    facts, summary = redact(document["facts"], allow=allow)  # places read as the collector's: env.X, files.Y
    summary = Summary(tuple(Redaction(str(r.get("where")), str(r.get("why"))) for r in earlier or ()
                            if isinstance(r, dict)) + tuple(Redaction(r.where, r.why + ", on import")
                                                            for r in summary.redactions))
    collector, collected_at = (redact_text(str(document.get(k, "")))[0][:40] for k in ("collector", "collected_at"))
    return Collection(facts, source, kind, collector, collected_at, summary)


def _structured(text: str, source: str) -> dict:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        try:
            document = YAML(typ="safe", pure=True).load(text)
        except YAMLError as error:
            raise SpecError(source, "", f"neither JSON nor YAML: {str(error)[:200]}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SpecError(source, "format", f"expected {FORMAT!r}, got {(document or {}).get('format')!r}"
                        if isinstance(document, dict) else f"expected a mapping, got {type(document).__name__}",
                        hint="make one with the script from 'reprokit collect --script FILE'")
    if document.get("version") not in SUPPORTED_VERSIONS:
        raise SpecError(source, "version", f"{document.get('version')!r} is not a collection format reprokit reads",
                        hint=f"supported: {', '.join(map(str, SUPPORTED_VERSIONS))}; upgrade reprokit")
    return document


def parse_requirements(text: str, source: str) -> list[str]:
    """pip freeze / requirements lines, comments and options dropped, continuations joined."""
    lines = []
    for number, raw in enumerate(text.replace("\\\n", "").splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("--"):
            continue
        if line.startswith("-e ") or line.startswith("-r ") or line.startswith("-c "):
            lines.append(line)
            continue
        if not re.match(r"^[A-Za-z0-9]", line):
            raise SpecError(source, f"line {number}", f"{line!r} is not a requirement",
                            hint="give a pip freeze output, a requirements file, a dpkg -l listing or a collection")
        lines.append(line)
    return lines


def parse_dpkg_list(text: str) -> dict:
    """`dpkg -l` output: installed packages, and the Debian release their versions name (+debNNuM)."""
    packages = {}
    for line in text.splitlines():
        parts = line.split(None, 4)
        if len(parts) >= 3 and parts[0] == "ii":
            packages[parts[1].split(":", 1)[0]] = parts[2]
    releases = re.findall(r"deb(\d+)u\d", " ".join(packages.values()))
    facts: dict[str, Any] = {"debian_packages": packages}
    if releases:
        number = max(set(releases), key=releases.count)
        if number in DEBIAN_RELEASES:
            facts["os_release"] = {"ID": "debian", "VERSION_ID": number, "VERSION_CODENAME": DEBIAN_RELEASES[number],
                                   "GUESSED_FROM": "+deb%su versions in the listing" % number}
    return facts


# -- from an image -------------------------------------------------------------------------------------------

# Facts of the throwaway container the collector runs in, not of the image: Docker names it (its id), writes its
# /etc/hosts and sets its mounts and /dev/shm at run time; the clock is this host's, the umask `docker exec`'s.
CONTAINER_FACTS = ("hostname", "etc_hosts", "umask", "time_epoch", "root_read_only", "tmpfs_mounts", "shm_kib")


def from_image(image: str, *, files: Iterable[str] = (), allow: Iterable[str] = (), timeout: float = 300,
               engine=None) -> Collection:
    """Run the collector in a container of ``image`` (python3 if it has one, else sh) and read its output."""
    from reprokit.engine import ContainerConfig, get_engine

    engine = engine or get_engine()
    if not engine.image_id(image) and not engine.pull(image):
        raise ReprokitError(f"image {image!r} is not present and cannot be pulled",
                            hint=f"load it first (docker load -i FILE.tar) and check: docker image inspect {image}")
    arguments = " ".join([*(f"--file {shlex.quote(f)}" for f in files), *(f"--allow {shlex.quote(a)}" for a in allow)])
    command = (f"if command -v python3 >/dev/null 2>&1; then python3 /tmp/reprokit-collect.py {arguments}; "
               f"else sh /tmp/reprokit-collect.sh {arguments}; fi")
    config = ContainerConfig(network="none", labels={"reprokit.purpose": "collect"})
    with engine.start(image, config) as container:
        container.put_files("/tmp", {"reprokit-collect.py": collector_script().encode(),
                                     "reprokit-collect.sh": collector_script(sh=True).encode()})
        result = container.exec(command, timeout=timeout)
    if result.exit_code != 0 or not result.stdout.strip().startswith("{"):
        tail = "\n".join(result.stderr.strip().splitlines()[-10:])
        raise RunError(f"the collector failed in a container of {image} (exit {result.exit_code}):\n{tail}",
                       hint="run it by hand: reprokit collect --script c.py && docker run --rm -i "
                            f"{image} python3 - < c.py")
    collection = parse_collection(result.stdout, source=f"image {image}", allow=allow)
    facts = {k: v for k, v in collection.facts.items() if k not in CONTAINER_FACTS}
    return Collection(facts, collection.source, CollectionKind.IMAGE, collection.collector, collection.collected_at,
                      collection.redactions)


# -- collection -> environment ---------------------------------------------------------------------------------


def to_environment(collection: Collection, *, name: str, only: str | None = None,
                   system_packages: Iterable[str] | None = None, os: str | None = None,
                   collected_at: datetime | None = None, all_system_packages: bool = False,
                   debian_index: Callable[[str], Any] | None = None, debian_settle: Callable | None = None,
                   python_index: Callable[[list[str], str | None], dict[str, str]] | None = None) -> Imported:
    """The environment fields a collection implies, in file-contract order, and what it cannot reproduce.

    ``only``: pin only that python package and its dependency closure. ``system_packages``: globs of Debian
    packages to pin besides those the app can feel (the owners of the libraries its python extensions load,
    and python3, libssl, libsqlite3, libpq, tzdata, ...); ``all_system_packages``: every installed package
    whose priority is below 'important' instead. ``os``: the base image, when the collection cannot say.
    ``debian_index``: base image -> its mirror's PackageIndex (reprokit.collect.mirror), to replace pins the
    mirror cannot serve; ``debian_settle``: (image, pins, installed, index) -> Settled, apt's own check that
    the pins install together (reprokit.collect.settle.settle); ``python_index``: (pins, 'X.Y' or None) -> {pin: problem}, to report missing and
    yanked releases (reprokit.collect.pyindex.check_python_pins). Without them nothing is checked.
    ``collected_at``: when the collection was really taken (e.g. the ticket's time, with its time zone);
    the machine's own clock is compared with it, so a wrong clock can be carried over. Without it, nothing
    can tell: the collection's own timestamps come from the very clock in question.
    """
    from reprokit.aspects.base import ImportContext
    from reprokit.aspects.registry import ASPECTS

    if collected_at is not None and collected_at.utcoffset() is None:
        raise InvalidValue(f"collected_at {collected_at.isoformat()!r} has no time zone",
                           hint="give one, e.g. datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)")
    context = ImportContext(collection.facts, collection.kind,
                            {"only": only, "system_packages": system_packages, "os": os,
                             "collected_at": collected_at, "all_system_packages": all_system_packages,
                             "debian_index": debian_index, "debian_settle": debian_settle, "python_index": python_index, "name": name})
    data: dict[str, Any] = context.data
    data["description"] = ""
    for aspect in ASPECTS:  # in registry order: os (and with it python) first
        data.update(aspect.from_collection(context))
    facts, lost = collection.facts, context.lost
    lost += _host_only(facts, data)
    placeholders = [f"env.{k}" for k, v in data["env"].items() if is_marker(v)]
    placeholders += [f"files.{p}" for p, text in data["files"].items() if "<redacted:" in text]
    data["description"] = _description(collection, name, lost, placeholders) + \
        ("\nNot exactly reproduced: " + "; ".join(context.inexact) + "." if context.inexact else "") + \
        ("\nDerived: " + "; ".join(context.notes) + "." if context.notes else "")
    data = {k: v for k, v in data.items() if v not in (None, [], {}) or k == "limits"}
    data = {k: data[k] for k in _contract_order(data)}
    return Imported(data, tuple(lost), tuple(placeholders), collection.redactions, tuple(context.inexact),
                    context.comments, context.side_files)


def _host_only(facts: dict, data: dict) -> list[str]:
    """What a container cannot reproduce, besides what the aspects noted; ``data``: the fields imported."""
    host = _mapping(facts.get("host"))
    lost = []
    if facts.get("kernel"):
        lost.append(f"kernel {facts['kernel']}: a container runs on the build host's kernel")
    if host.get("cpu_model"):
        lost.append(f"CPU {host['cpu_model']} ({host.get('cpu_count', '?')} cores)")
    if host.get("selinux") not in (None, "", "absent"):
        lost.append(f"SELinux {host['selinux']}: containers here run without it")
    for name, value in _mapping(facts.get("ulimits")).items():
        if name != "nofile" or _mapping(data.get("limits")).get("nofile") is None:  # else limits.nofile has it
            lost.append(f"ulimit {name}={value}: not set by environments")
    if str(host.get("in_container", "true")).lower() == "false":
        lost.append("collected on a host, not in a container: its services and init system are not reproduced")
    others = [f"{p} ({v})" for p, v in _mapping(facts.get("pythons")).items()
              if p != _mapping(facts.get("python")).get("executable")]
    if others:
        lost.append(f"other pythons on the machine: {', '.join(others)}")
    return lost


def _contract_order(data: dict) -> list[str]:
    """Field names as the file contract lists them: description, then the aspects in registry order."""
    from reprokit.aspects.registry import spec_fields

    return ["description", *(name for name in spec_fields() if name in data)]


def _description(collection: Collection, name: str, lost: list[str], placeholders: list[str]) -> str:
    made = f"Imported from {Path(collection.source).name if collection.kind != 'image' else collection.source}" \
        f" ({collection.kind}{', ' + collection.collector + ' collector' if collection.collector else ''}" \
        f"{', ' + collection.collected_at if collection.collected_at else ''})."
    parts = [made]
    if lost:
        parts.append("Not reproduced in a container: " + "; ".join(lost) + ".")
    if placeholders:
        parts.append("Redacted values to replace with test values: " + ", ".join(placeholders) + ".")
    return "\n".join(parts)


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}



# -- writing the environment file ------------------------------------------------------------------------------


def write_environment(imported: Imported, *, name: str, root: Path | str | None = None, force: bool = False) -> Path:
    """Write ``environments/<name>.yaml`` (placeholders marked by comments), then load it back to check it."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    from reprokit.contract.load import Project, check_name, load_environment, write_checked

    project = Project.at(root)
    check_name(name, "--name")
    path = project.environments / f"{name}.yaml"
    document = CommentedMap(imported.data)
    for key, value in document.items():
        if isinstance(value, dict):  # config files and CA certificates read as text, not as escaped strings
            document[key] = CommentedMap({k: _block(v) if f"{key}.{k}" not in imported.placeholders else v
                                          for k, v in value.items()})
    for place in imported.placeholders:
        key, _, item = place.partition(".")
        document[key].yaml_add_eol_comment("REDACTED by the collector: replace with a test value", item)
    _comment_items(document, imported.comments)
    document.yaml_set_start_comment("Written by 'reprokit env import'. Check the description: it lists what a "
                                    "container cannot reproduce.")
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 120
    text = io.StringIO()
    yaml.dump(document, text)
    written = write_checked(path, text.getvalue(), force=force, shown=project.show(path),
                            check=lambda: load_environment(name, root=project.root))
    for suffix, content in imported.side_files.items():
        (project.environments / f"{name}.{suffix}").write_text(content, encoding="utf-8")
    return written


def _comment_items(document: Any, comments: dict) -> None:
    """A comment beside each list item named in ``comments`` (field -> package name -> text)."""
    from ruamel.yaml.comments import CommentedSeq

    from reprokit.aspects.registry import spec_fields

    for key, notes in comments.items():
        if key not in document:
            continue
        name_of = spec_fields()[key].name_of
        items = CommentedSeq(document[key])
        for at, item in enumerate(items):
            if name_of(item) in notes:
                items.yaml_add_eol_comment(notes[name_of(item)], at)
        document[key] = items


def _block(value: Any) -> Any:
    """Multi-line text as a YAML literal block where that keeps it byte for byte, else as it is."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    if not isinstance(value, str) or "\n" not in value.rstrip("\n") or \
            any(line != line.rstrip() or not line.isprintable() for line in value.split("\n")):
        return value
    return LiteralScalarString(value)


def reproducible_facts(facts: dict) -> dict:
    """The facts an environment reproduces exactly, in one comparable shape (for round trips and diffs)."""
    python = _mapping(facts.get("python"))
    user = _mapping(facts.get("user"))
    env = {k: v for k, v in _mapping(facts.get("env")).items() if k not in IGNORED_ENV}
    freeze = python.get("pip_freeze") or facts.get("pip_freeze") or []
    return {"python": python.get("version"), "pip_freeze": sorted(freeze),
            "env": env, "timezone": _mapping(facts.get("timezone")).get("name") or None,
            "locale": _mapping(facts.get("locale")).get("LANG"),
            "user": f"{user.get('uid')}:{user.get('gid')}"}
