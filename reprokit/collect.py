"""Collect: turn what a customer sends (a collection, a pip freeze, a `dpkg -l` listing, an image) into an
environment spec under environments/, re-redacted, with what a container cannot reproduce written down."""
from __future__ import annotations

import io

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from .errors import ReprokitError, RunError, SpecError
from .redact import Redaction, Summary, is_marker, redact, redact_text
from .render import DEBIAN_PYTHON, debian_python

FORMAT = "reprokit-collection"
SUPPORTED_VERSIONS = (1,)
# Env vars a container sets for itself, or that other spec fields carry (locale, timezone, the venv).
IGNORED_ENV = {"HOSTNAME", "HOME", "PWD", "OLDPWD", "SHLVL", "_", "TERM", "PATH", "VIRTUAL_ENV", "LANG", "LC_ALL",
               "LC_CTYPE", "LANGUAGE", "TZ", "USER", "LOGNAME", "MAIL", "SHELL", "LS_COLORS", "DISPLAY", "SSH_CLIENT",
               "SSH_CONNECTION", "SSH_TTY", "SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "XDG_SESSION_ID", "DBUS_SESSION_BUS_ADDRESS"}
# Packages that belong to a machine, not to an image: never pinned, always listed.
MACHINE_PACKAGES = ("linux-image-*", "linux-headers-*", "linux-modules-*", "firmware-*", "grub*", "*-dkms",
                    "intel-microcode", "amd64-microcode", "shim-*")
BASE_PRIORITIES = ("required", "important")
DEBIAN_RELEASES = {"10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie"}


@dataclass(frozen=True)
class Collection:
    """What a customer sent, redacted again on arrival, as one facts mapping (collector format 1)."""

    facts: dict
    source: str
    kind: str = "collection"  # collection | pip-freeze | dpkg-list | image
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


# -- the collector the customer runs -----------------------------------------------------------------------


def collector_script(*, sh: bool = False) -> str:
    """The single-file collector: Python 3.6+ stdlib, or POSIX sh with the patterns filled in from Python's."""
    folder = resources.files("reprokit.collector")
    if not sh:
        return folder.joinpath("collector.py").read_text(encoding="utf-8")
    from .redact import awk_patterns

    template = folder.joinpath("collector.sh").read_text(encoding="utf-8")
    return template.replace("REPROKIT_RENDERED=__RENDERED__", "REPROKIT_RENDERED=yes") \
                   .replace("#@@PATTERNS@@", awk_patterns())


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
        kind = "collection"
    elif re.search(r"^(Desired=|[a-z][a-z]  \S)", head, re.M) and re.search(r"^ii  ", text, re.M):
        document, kind = {"facts": parse_dpkg_list(text)}, "dpkg-list"
    else:
        document, kind = {"facts": {"python": {"pip_freeze": parse_requirements(text, source)}}}, "pip-freeze"
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


def from_image(image: str, *, files: Iterable[str] = (), allow: Iterable[str] = (), timeout: float = 300,
               engine=None) -> Collection:
    """Run the collector in a container of ``image`` (python3 if it has one, else sh) and read its output."""
    from .engine import ContainerConfig, get_engine

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
    return Collection(collection.facts, collection.source, "image", collection.collector,
                      collection.collected_at, collection.redactions)


# -- collection -> environment ---------------------------------------------------------------------------------


def to_environment(collection: Collection, *, name: str, only: str | None = None,
                   system_packages: Iterable[str] | None = None, os: str | None = None) -> Imported:
    """The environment fields a collection implies, in file-contract order, and what it cannot reproduce.

    ``only``: pin only that python package and its dependency closure. ``system_packages``: globs of Debian
    packages to pin (default: every installed package whose priority is below 'important', i.e. what
    was added to the base system). ``os``: the base image, when the collection cannot say.
    """
    facts, lost = collection.facts, []
    image, python = _base_image(facts, os, lost)
    data: dict[str, Any] = {"description": "", "os": image, "python": python}
    data["system_packages"] = _system_packages(facts, system_packages, lost, foreign=not image_is_native(facts))
    data["python_packages"] = _python_packages(facts, only, lost)
    env = {k: str(v) for k, v in _mapping(facts.get("env")).items() if k not in IGNORED_ENV and _env_name(k)}
    data["env"] = dict(sorted(env.items()))
    data["files"] = {path: text for path, text in _mapping(facts.get("files")).items() if text != "<unreadable>"}
    lost += [f"file {path}: the collector could not read it" for path, text in _mapping(facts.get("files")).items()
             if text == "<unreadable>"]
    data["user"] = _user(facts, lost)
    data["timezone"] = _timezone(facts, lost)
    data["locale"] = _locale(facts, lost)
    data["limits"] = _limits(facts, collection.kind)
    lost += _host_only(facts)
    placeholders = [f"env.{k}" for k, v in data["env"].items() if is_marker(v)]
    placeholders += [f"files.{p}" for p, text in data["files"].items() if "<redacted:" in text]
    data["description"] = _description(collection, name, lost, placeholders)
    data = {k: v for k, v in data.items() if v not in (None, [], {}) or k == "limits"}
    return Imported(data, tuple(lost), tuple(placeholders), collection.redactions)


def image_is_native(facts: dict) -> bool:
    release = _mapping(facts.get("os_release"))
    return not release or release.get("ID") == "debian"


def _base_image(facts: dict, override: str | None, lost: list[str]) -> tuple[str, str]:
    release = _mapping(facts.get("os_release"))
    version = str(_mapping(facts.get("python")).get("version") or "")
    minor = ".".join(version.split(".")[:2])
    codename = release.get("VERSION_CODENAME") or DEBIAN_RELEASES.get(str(release.get("VERSION_ID", "")).split(".")[0])
    if override:
        image = override
    elif release.get("ID") == "debian" and codename:
        image = f"debian:{codename}"
        if release.get("GUESSED_FROM"):
            lost.append(f"os: guessed {image} from {release['GUESSED_FROM']}")
    else:
        suite = next((s for s, v in DEBIAN_PYTHON.items() if v == minor), "bookworm")
        image = f"debian:{suite}"
        described = release.get("PRETTY_NAME") or release.get("ID") or "an unknown OS (no os-release)"
        lost.append(f"os: {described} cannot be built here; {image} chosen" + (f" for its Python {minor}" if minor else ""))
    provided = debian_python(image)
    if minor and provided == minor:
        return image, minor
    if minor:
        lost.append(f"python: the customer runs Python {version} ({_mapping(facts.get('python')).get('executable', '?')}),"
                    f" {image} provides {provided or 'an unknown version'}; python: system")
    return image, "system"


def _system_packages(facts: dict, globs: Iterable[str] | None, lost: list[str], *, foreign: bool) -> list[str]:
    installed = {str(k): str(v) for k, v in _mapping(facts.get("debian_packages")).items()}
    rpm = _mapping(facts.get("rpm_packages"))
    if rpm:
        lost.append(f"{len(rpm)} rpm packages: rpm-based systems cannot be built here (listed in the collection)")
    if foreign and installed:
        lost.append(f"{len(installed)} Debian-format packages of a foreign distro: not pinned")
        return []
    priorities = _mapping(facts.get("debian_priorities"))
    globs = list(globs) if globs is not None else None
    if globs is None and not priorities and installed:
        lost.append(f"{len(installed)} Debian packages listed but none pinned: choose with --system-packages GLOB")
        return []
    chosen, machine = [], []
    for package, version in sorted(installed.items()):
        wanted = any(fnmatch.fnmatch(package, g) for g in globs) if globs is not None else \
            priorities.get(package) not in BASE_PRIORITIES
        if wanted and any(fnmatch.fnmatch(package, m) for m in MACHINE_PACKAGES):
            machine.append(package)
        elif wanted:
            chosen.append(f"{package}={version}")
    if machine:
        lost.append(f"machine packages (kernel, firmware, boot): {', '.join(machine)}")
    return chosen


def _python_packages(facts: dict, only: str | None, lost: list[str]) -> list[str]:
    from .spec import pip_requirement_name

    python = _mapping(facts.get("python"))
    freeze = python.get("pip_freeze") or facts.get("pip_freeze") or []
    pins: dict[str, str] = {}
    for line in freeze:
        line = str(line)
        if line.startswith(("-e ", "-r ", "-c ")) or "file://" in line:
            lost.append(f"python package {line!r}: a local path or editable install; copy it into the case")
            continue
        try:
            pins[pip_requirement_name(line)] = line
        except ValueError as error:
            lost.append(f"python package line {line!r}: {error}")
    if not only:
        return list(pins.values())
    wanted = pip_requirement_name(only)
    requires = {k: v.get("requires", []) for k, v in _mapping(python.get("distributions")).items() if isinstance(v, dict)}
    if wanted not in pins:
        raise ReprokitError(f"--only {only}: the collection's pip freeze has no {wanted!r}",
                            hint=f"packages: {', '.join(sorted(pins)) or 'none'}")
    if not requires:
        raise ReprokitError(f"--only {only}: the collection has no dependency data (made from a pip freeze or by "
                            "the sh collector)", hint="collect with the Python collector, or drop --only")
    closure, todo = set(), [wanted]
    while todo:
        package = todo.pop()
        if package not in closure:
            closure.add(package)
            todo += requires.get(package, [])
    return [pins[p] for p in sorted(closure) if p in pins]


def _user(facts: dict, lost: list[str]) -> str | None:
    user = _mapping(facts.get("user"))
    uid, gid = str(user.get("uid", "")), str(user.get("gid", ""))
    if not uid.isdigit() or uid == "0":
        return None
    if user.get("name"):
        lost.append(f"user: the customer's user is named {user['name']!r}; the image runs as uid {uid}:{gid}")
    return f"{uid}:{gid}" if gid.isdigit() else uid


def _timezone(facts: dict, lost: list[str]) -> str | None:
    zone = str(_mapping(facts.get("timezone")).get("name") or "").lstrip(":")
    if zone.startswith("/") or (zone and not re.match(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$", zone)):
        lost.append(f"timezone {zone!r} is not a tz database name; not set")
        return None
    return zone or None


def _locale(facts: dict, lost: list[str]) -> str | None:
    settings = _mapping(facts.get("locale")) or {k: v for k, v in _mapping(facts.get("env")).items()
                                                 if k in ("LANG", "LC_ALL")}
    lang = settings.get("LC_ALL") or settings.get("LANG")
    if settings.get("LC_ALL") and settings.get("LANG") and settings["LC_ALL"] != settings["LANG"]:
        lost.append(f"locale: LC_ALL={settings['LC_ALL']} overrides LANG={settings['LANG']}; the image sets LANG only")
    if not lang or lang == "POSIX":
        return None
    return str(lang).replace(".utf8", ".UTF-8")


def _limits(facts: dict, kind: str) -> dict:
    cgroup = _mapping(facts.get("cgroup"))
    if not cgroup or kind == "image":  # an image carries no limits; the defaults apply
        return {}
    memory, cpus, pids = (str(cgroup.get(k, "max")) for k in ("memory", "cpus", "pids"))
    mib = int(memory) // (1 << 20) if memory.isdigit() else 0
    return {"memory": (f"{mib}m" if int(memory) == mib << 20 else memory) if memory.isdigit() else None,
            "cpus": float(cpus) if re.match(r"^\d+(\.\d+)?$", cpus) else None,
            "pids": int(pids) if pids.isdigit() else None}


def _host_only(facts: dict) -> list[str]:
    host = _mapping(facts.get("host"))
    lost = []
    if facts.get("kernel"):
        lost.append(f"kernel {facts['kernel']}: a container runs on the build host's kernel")
    if facts.get("arch") and facts["arch"] not in ("x86_64", "amd64"):
        lost.append(f"architecture {facts['arch']}: images here are built for x86_64")
    if host.get("cpu_model"):
        lost.append(f"CPU {host['cpu_model']} ({host.get('cpu_count', '?')} cores)")
    if host.get("selinux") not in (None, "", "absent"):
        lost.append(f"SELinux {host['selinux']}: containers here run without it")
    for name, value in _mapping(facts.get("ulimits")).items():
        lost.append(f"ulimit {name}={value}: not set by environments")
    if str(host.get("in_container", "true")).lower() == "false":
        lost.append("collected on a host, not in a container: its services and init system are not reproduced")
    others = [f"{p} ({v})" for p, v in _mapping(facts.get("pythons")).items()
              if p != _mapping(facts.get("python")).get("executable")]
    if others:
        lost.append(f"other pythons on the machine: {', '.join(others)}")
    return lost


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


def _env_name(name: str) -> bool:
    return bool(re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name))


# -- writing the environment file ------------------------------------------------------------------------------


def write_environment(imported: Imported, *, name: str, root: Path | str | None = None, force: bool = False) -> Path:
    """Write ``environments/<name>.yaml`` (placeholders marked by comments), then load it back to check it."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    from .load import Project, check_name, load_environment, write_checked

    project = Project.at(root)
    check_name(name, "--name")
    path = project.environments / f"{name}.yaml"
    document = CommentedMap(imported.data)
    for key in ("env", "files"):
        if key in document:
            document[key] = CommentedMap(document[key])
    for place in imported.placeholders:
        key, _, item = place.partition(".")
        document[key].yaml_add_eol_comment("REDACTED by the collector: replace with a test value", item)
    document.yaml_set_start_comment("Written by 'reprokit env import'. Check the description: it lists what a "
                                    "container cannot reproduce.")
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 120
    text = io.StringIO()
    yaml.dump(document, text)
    return write_checked(path, text.getvalue(), force=force, shown=project.show(path),
                         check=lambda: load_environment(name, root=project.root))


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
