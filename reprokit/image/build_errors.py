"""A failed build explained so a person can act on it: what failed, one package per line (name, wanted version,
what the suite or index offers, and the spec file and line of the pin), the full log kept in a file whose path
is printed, and no line wider than the terminal (issue 15: an apt command of 20,000 characters on one line)."""
from __future__ import annotations

import os
import re
import shutil
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reprokit.aspects.arch import MACHINES, base_reference, foreign
from reprokit.errors import BuildError

APT_PROBLEMS = (
    (r"Version '(?P<version>[^']+)' for '(?P<name>[^']+)' was not found", "version not in the suite"),
    (r"Unable to locate package (?P<name>\S+)", "no such package in the suite"),
    (r"Package '(?P<name>[^']+)' has no installation candidate", "no installation candidate"),
    (r"^\s*(?P<name>[a-z0-9][a-z0-9+.-]+) : Depends: (?P<depends>.+?)(?: but (?P<why>.+))?$", "unmet dependency"),
)
BROKEN = "you have held broken packages"  # apt's whole explanation under -qq
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PIP_PROBLEMS = (
    (r"Could not find a version that satisfies the requirement (?P<requirement>\S+)"
     r"(?: \(from versions: (?P<versions>[^)]*)\))?", "no such release on the index"),
    (r"No matching distribution found for (?P<requirement>\S+)", "no such release on the index"),
)


@dataclass(frozen=True)
class Problem:
    """One package a build could not install."""

    name: str
    wanted: str
    why: str
    offers: str = ""
    where: str = ""

    def line(self) -> str:
        offered = f"; offered: {self.offers}" if self.offers else ""
        at = f" ({self.where})" if self.where else ""
        return f"{self.name} {self.wanted}: {self.why}{offered}{at}"


LOG_TAIL = 15
PIP_FOUND_NOTHING = r"No matching distribution|Could not find a version"
HINTS = [
    (r"Unable to locate package|has no installation candidate|Version '.*' for '.*' was not found",
     "check that the package and version exist in that Debian suite (apt-cache policy NAME in a container of it)"),
    (PIP_FOUND_NOTHING,
     "check that the pin exists on PyPI and supports the image's Python version"),
    (r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSL",
     "the build does not trust this network's TLS proxy: set REPROKIT_CA_BUNDLE to the host's CA bundle"),
    (r"Temporary failure resolving|Could not resolve|Network is unreachable",
     "the build cannot reach the package mirror; check the host's network and apt sources"),
    (r"unknown timezone", "use a name from the tz database, e.g. 'Europe/Berlin' (ls /usr/share/zoneinfo)"),
]


def explain_failure(spec, failure, *, engine, reproduce: str) -> BuildError:
    """The BuildError for ``failure`` (an engine's BuildFailure) of ``spec``'s build: its hint, the base suite's
    offers and apt's conflicts asked of ``engine``, and ``reproduce``, the command to run it again."""
    tail = [line for line in failure.log if line.strip()][-LOG_TAIL:] + [failure.error]
    base = base_reference(spec)
    return explain(spec, failure.step, failure.log, failure.error, hint=build_hint(tail, spec), reproduce=reproduce,
                   tail=LOG_TAIL, offers=suite_offers(engine, base), conflicts=suite_conflicts(engine, base))


def build_hint(tail: list[str], spec) -> str | None:
    """The hint for a failed build's last lines; a missing wheel on a foreign architecture says so."""
    text = "\n".join(tail)
    hint = next((h for pattern, h in HINTS if re.search(pattern, text)), None)
    if hint is not None and foreign(spec) and re.search(PIP_FOUND_NOTHING, text):
        machine = MACHINES[spec.arch]
        hint += (f", and has a wheel for linux/{machine} (or an sdist): the build runs on {spec.arch}, and many "
                 f"packages publish x86_64 wheels only for some versions (check the files on PyPI for "
                 f"'{machine}')")
    return hint


def explain(spec, step: str, log: list[str], error: str, *, hint: str | None, reproduce: str, tail: int,
            offers: Callable[[str], str] | None = None, conflicts: Callable[[list[str]], list] | None = None,
            width: int | None = None, folder: Path | None = None) -> BuildError:
    """The BuildError for a failed build of ``spec``: failing packages first, the log's last lines, the log file.
    ``offers``: package name -> what the base image's suite has of it; ``conflicts``: pins -> apt's unmet
    dependencies (reprokit.collect.settle.Unmet), asked when apt only says it has 'held broken packages'."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    log = [ANSI.sub("", line) for line in log]  # docker colours apt's stderr, which splits 'E' from its message
    path = write_log(spec.name, step, log, error, folder=folder)
    found = find_problems(spec, log, offers)
    if not found and conflicts and any(BROKEN in line for line in log):
        found = conflict_problems(spec, conflicts, offers)
    problems = [p.line() for p in found]
    lines = [line for line in log if line.strip()][-tail:] + [error]
    inner = max(20, width - 4)
    head = len(f"error: building environment '{spec.name}' failed at step: ")  # as the CLI prints it
    return BuildError(spec.name, step, [piece for line in lines for piece in fit(clip(line, 2 * inner), inner)],
                      shown_step=short_step(step, max(30, width - head)),
                      problems=[piece for line in problems for piece in fit(line, inner)],
                      log_file=fit_path(str(path), width - 13),
                      hint="\n".join(fit(hint, width - 6, indent="      ")) if hint else None,
                      reproduce="\n".join(fit(reproduce, width - 11, indent="    ")))


def fit_path(path: str, width: int) -> str:
    """A path that a person copies: whole when it fits, else on a line of its own."""
    return path if len(path) <= width else "\n    " + path


def find_problems(spec, log: list[str], offers: Callable[[str], str] | None = None) -> list[Problem]:
    """Each package apt or pip named in ``log`` as not installable, with the spec's pin and where it is written."""
    from reprokit.contract.values import debian_package_name, pip_requirement_name

    declared = {debian_package_name(p): p for p in spec.system_packages}
    python = {pip_requirement_name(p): p for p in spec.python_packages}
    found: dict[str, Problem] = {}
    for line in log:
        for pattern, why in APT_PROBLEMS:
            match = re.search(pattern, line)
            if match and match.group("name") not in found:
                name = match.group("name").split(":")[0]
                pin = declared.get(name, name)
                if why == "unmet dependency":
                    why = f"needs {match.group('depends')}" + (f" but {match.group('why')}" if match.group("why") else "")
                found[name] = Problem(name, _wanted(pin, "="), why, _offered(offers, name), pin_location(spec, pin))
                break
        for pattern, why in PIP_PROBLEMS:
            match = re.search(pattern, line)
            if match:
                requirement = match.group("requirement")
                name = pip_requirement_name(requirement)
                if name in found:
                    break
                versions = [v.strip() for v in (match.groupdict().get("versions") or "").split(",") if v.strip()]
                shown = ", ".join(versions[-5:]) + (f" (and {len(versions) - 5} older)" if len(versions) > 5 else "")
                pin = python.get(name, requirement)
                found[name] = Problem(name, _wanted(pin, "=="), why, shown if versions else "",
                                      pin_location(spec, pin))
                break
    return list(found.values())


def conflict_problems(spec, conflicts: Callable[[list[str]], list], offers: Callable[[str], str] | None) -> list[Problem]:
    """One Problem per unmet dependency apt's simulation names for the spec's pins (none when it cannot be run)."""
    from reprokit.contract.values import debian_package_name

    declared = {debian_package_name(p): p for p in spec.system_packages}
    try:
        unmet = conflicts(list(spec.system_packages))
    except Exception:  # the explanation is extra: without it the error still stands, with its log
        return []
    return [Problem(u.needs, _wanted(declared.get(u.needs, u.needs), "="), u.describe(), _offered(offers, u.needs),
                    pin_location(spec, declared[u.needs]) if u.needs in declared else "") for u in unmet]


def suite_conflicts(engine, image: str) -> Callable[[list[str]], list]:
    """pins -> the unmet dependencies apt's simulation finds for them on ``image``."""
    from reprokit.collect.settle import explain_conflict

    return lambda pins: explain_conflict(image, pins, engine=engine)


def suite_offers(engine, image: str) -> Callable[[str], str]:
    """package name -> what ``image``'s suite has of it, from its mirror's index (read once, then cached)."""
    from reprokit.collect.mirror import read_package_index

    index = []

    def offers(name: str) -> str:
        if not index:
            index.append(read_package_index(image, engine=engine))
        return index[0].offers(name)
    return offers


def _wanted(pin: str, separator: str) -> str:
    return pin.split(separator, 1)[1] if separator in pin else "(any version)"


def _offered(offers: Callable[[str], str] | None, name: str) -> str:
    if offers is None:
        return ""
    try:
        return offers(name)
    except Exception:  # what the suite offers is extra information: its absence must not hide the error
        return ""


def pin_location(spec, pin: str) -> str:
    """'environments/acme.yaml:12', the file and line where ``pin`` is written: the environment's own file, else
    the other environments of its project (the pin may come from a parent through `extends`)."""
    if not spec.source:
        return ""
    own = Path(spec.source)
    for path in [own, *sorted(own.parent.glob("*.yaml"))]:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, 1):
            if re.search(r"(^|[\s\[,'\"-])" + re.escape(pin) + r"($|[\s\],'\"#])", line):
                return f"{_shown(path)}:{number}"
    return ""


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def short_step(step: str, width: int) -> str:
    """A Dockerfile step as a person reads it: its first line, cut to ``width`` with its word count when longer."""
    first = step.splitlines()[0] if step else ""
    if len(first) <= width:
        return first
    suffix = f" ... ({len(first.split())} words)"
    return first[:max(10, width - len(suffix))].rstrip() + suffix


def clip(line: str, limit: int) -> str:
    """A log line of at most ``limit`` characters: a longer one (a command naming 800 packages) is cut, and says
    how long it was; the log file has it whole."""
    if len(line) <= limit:
        return line
    note = f" ... ({len(line)} characters, whole in the full log)"
    return line[:max(10, limit - len(note))] + note


def fit(text: str, width: int, *, indent: str = "  ") -> list[str]:
    """``text`` broken into lines of at most ``width`` characters, continuation lines indented."""
    lines = []
    for line in text.splitlines() or [""]:
        lines += textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=True,
                               break_on_hyphens=False, drop_whitespace=True) or [""]
    return lines


def log_folder() -> Path:
    """$REPROKIT_BUILD_LOGS, else ~/.cache/reprokit/build-logs."""
    folder = os.environ.get("REPROKIT_BUILD_LOGS")
    return Path(folder) if folder else Path.home() / ".cache" / "reprokit" / "build-logs"


def write_log(name: str, step: str, log: list[str], error: str, *, folder: Path | None = None) -> Path:
    """The whole build log of a failure, its step in full, in a file of its own."""
    folder = folder or log_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    path.write_text(f"step: {step}\n\n" + "\n".join(log) + f"\n\nerror: {error}\n", encoding="utf-8")
    return path
