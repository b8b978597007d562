"""Frozen models of what reprokit executes: environments, cases, signatures and verdicts."""
from __future__ import annotations

import hashlib
import re
from enum import Enum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import InvalidValue

DEBIAN_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$")
SIZE = re.compile(r"^\d+(\.\d+)?[bkmg]?$", re.IGNORECASE)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Environment names (file stems) and case ids (folders); bounded so a name is always a valid file name.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DEFAULT_LIMITS = {"memory": "2g", "pids": 1024}


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def pip_requirement_name(requirement: str) -> str:
    """The normalized project name of a pip requirement string ('Jinja2==2.11.3' -> 'jinja2')."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        fixed = re.sub(r"(?<![=<>!~])=(?!=)", "==", requirement)
        hint = f"; did you mean '{fixed}'?" if fixed != requirement else ""
        raise InvalidValue(f"{requirement!r} is not a pip requirement{hint}") from None


def debian_package_name(package: str) -> str:
    """The package name of a Debian package spec ('sqlite3=3.34.1-3' -> 'sqlite3')."""
    if not DEBIAN_PACKAGE.match(package):
        fixed = package.replace("==", "=").strip().lower()
        hint = f"; did you mean '{fixed}'?" if fixed != package and DEBIAN_PACKAGE.match(fixed) else \
            "; write 'name' or 'name=version' as apt-get expects"
        raise InvalidValue(f"{package!r} is not a Debian package spec{hint}")
    return package.split("=", 1)[0].split(":", 1)[0]


def pinned_version(requirement: str) -> str | None:
    """The exact version a pip requirement pins ('markupsafe==2.1.0; python_version<"4"' -> '2.1.0'), if any."""
    from packaging.requirements import Requirement

    specifiers = list(Requirement(requirement).specifier)
    exact = [s.version for s in specifiers if s.operator in ("==", "===") and "*" not in s.version]
    return exact[0] if len(specifiers) == 1 and exact else None


class Limits(Frozen):
    """Resource limits applied to every container of an environment."""

    memory: str | None = Field(default=DEFAULT_LIMITS["memory"], description="e.g. 256m, 2g; null for none")
    cpus: float | None = Field(default=None, gt=0, le=256)
    pids: int | None = Field(default=DEFAULT_LIMITS["pids"], gt=0, le=4_194_304)

    @field_validator("memory")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and not SIZE.match(str(value)):
            raise ValueError(f"{value!r} is not a memory size; write e.g. '256m' or '2g'")
        return value


class EnvironmentSpec(Frozen):
    """A declared machine: what the image contains and how its containers run."""

    name: str = Field(description="the file stem under environments/, or '<case>/<role>' when inline")
    description: str = ""
    os: str = Field(description="base image reference, e.g. debian:bookworm")
    python: str = Field(default="system", description="'system' = the distro's python3, or 'X.Y' that must match")
    system_packages: tuple[str, ...] = ()
    python_packages: tuple[str, ...] = ()
    env: dict[str, str] = {}
    files: dict[str, str] = Field(default={}, description="absolute path in the container -> text")
    user: str | None = None
    workdir: str = "/work"
    timezone: str | None = None
    locale: str | None = None
    limits: Limits = Limits()
    network: Literal["bridge", "none"] = "bridge"
    source: Path | None = Field(default=None, exclude=True, description="the file it was loaded from")

    @field_validator("os")
    @classmethod
    def _os(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$", value):
            raise ValueError(f"{value!r} is not an image reference; write e.g. 'debian:bookworm'")
        return value

    @field_validator("python")
    @classmethod
    def _python(cls, value: str) -> str:
        if value != "system" and not re.match(r"^3\.\d{1,2}$", value):
            raise ValueError(f"{value!r} is not 'system' or a version like '3.9'")
        return value

    @field_validator("system_packages")
    @classmethod
    def _system_packages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _unique(value, debian_package_name)
        return value

    @field_validator("python_packages")
    @classmethod
    def _python_packages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _unique(value, pip_requirement_name)
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_numbers(cls, value):
        """``PORT: 8080`` means the string '8080'; a bare true/false is ambiguous and stays an error."""
        if isinstance(value, dict):
            return {k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                    for k, v in value.items()}
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name (letters, digits, _)")
        for key, text in value.items():
            if "\n" in text or "\x00" in text:
                raise ValueError(f"{key}: {text[:40]!r}... has a line break, which an image's environment cannot "
                                 "hold; put multi-line text in a file under `files`")
        return value

    @field_validator("files")
    @classmethod
    def _files(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value:
            _absolute(path)
        return value

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, value: str) -> str:
        return _absolute(value)

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^([a-z_][a-z0-9_-]{0,31}|\d+(:\d+)?)$", value):
            raise ValueError(f"{value!r} is not a user name or 'uid:gid'; write e.g. 'app' or '1000:1000'")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$", value):
            raise ValueError(f"{value!r} is not a tz database name; write e.g. 'Asia/Kolkata' or 'UTC'")
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z]{2,3}(_[A-Z]{2})?(\.[A-Za-z0-9-]+)?(@\w+)?$|^C(\.UTF-8)?$", value):
            raise ValueError(f"{value!r} is not a locale; write e.g. 'de_DE.UTF-8'")
        return value

    def start(self, **options):
        """Build if needed and start a container: ``with env.start() as box: box.run("python3 -V")``."""
        from .run import start

        return start(self, **options)

    def content_hash(self) -> str:
        """Hash of everything that defines the environment (not its name or where it came from)."""
        data = self.model_dump_json(exclude={"name", "description", "source"})
        return hashlib.sha256(data.encode()).hexdigest()


def _unique(items: tuple[str, ...], name_of) -> None:
    seen: dict[str, str] = {}
    for item in items:
        name = name_of(item)
        if name in seen:
            raise ValueError(f"{item!r} repeats package {name!r} (already {seen[name]!r}); keep one")
        seen[name] = item


def _absolute(path: str) -> str:
    if not path.startswith("/") or not _plain_path(path):
        raise ValueError(f"{path!r} is not an absolute path inside the container; write e.g. '/etc/app.ini'")
    return path


def _plain_path(path: str) -> bool:
    """No '..', no empty or trailing component, no whitespace or control characters (they would reach the
    Dockerfile and the shell as syntax)."""
    parts = path.strip("/").split("/")
    return (bool(path.strip("/")) and not path.endswith("/") and ".." not in parts and "" not in parts
            and not re.search(r"[\x00-\x20\x7f]", path))


# How each EnvironmentSpec field merges under `extends` and splits into isolation's atoms: scalars are one
# value; maps are one entry per key; package lists are one entry per package name.
SCALAR_FIELDS = ("os", "python", "user", "workdir", "timezone", "locale", "network")
MAP_FIELDS = ("env", "files", "limits")
PACKAGE_FIELDS = {"system_packages": debian_package_name, "python_packages": pip_requirement_name}


class Step(Frozen):
    """One shell command of a case, run in the workdir."""

    run: str = Field(min_length=1)
    timeout: float = Field(default=300, gt=0, le=86_400, description="seconds before the step is killed")


class Signature(Frozen):
    """What the bug looks like in a run; every given field must hold."""

    exit_code: int | Literal["nonzero"] | None = None
    stdout_contains: str | None = None
    stderr_contains: str | None = None
    output_matches: str | None = Field(default=None, description="regex over stdout+stderr")
    oom_killed: bool | None = None
    timed_out: bool | None = None

    @field_validator("output_matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"{value!r} is not a regular expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Signature:
        if not self.model_dump(exclude_none=True):
            raise ValueError("a signature needs at least one of " + ", ".join(type(self).model_fields))
        return self


class Status(str, Enum):
    """Where a case stands; decides which verdict a replay expects."""

    OPEN = "open"
    FIXED = "fixed"
    KNOWN_ERROR = "known-error"

    def describe(self) -> str:
        return {
            "open": "not fixed yet: a replay expects the bug to reproduce",
            "fixed": "fixed: a replay expects the bug to stay absent",
            "known-error": "known, with a workaround for support: a replay expects it to reproduce",
        }[self.value]


class Case(Frozen):
    """One ticket's reproduction: the steps, where to run them, and what the bug looks like."""

    id: str = Field(pattern=NAME.pattern)
    title: str
    customer: str = ""
    environment: EnvironmentSpec
    baseline: EnvironmentSpec
    files: dict[str, str] = Field(default={}, description="path relative to the workdir -> text")
    steps: tuple[Step, ...] = Field(min_length=1)
    expect: Signature
    status: Status = Status.OPEN
    fixed_in: str | None = None
    workaround: str | None = None
    notes: str | None = None
    masks: tuple[str, ...] = Field(default=(), description="extra regexes masked out of output diffs")
    signatures: tuple[str, ...] = Field(default=(), description="known-error regexes over a customer's log")
    folder: Path | None = Field(default=None, exclude=True)

    @field_validator("files")
    @classmethod
    def _relative(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value:
            if path.startswith("/") or not _plain_path(path):
                raise ValueError(f"{path!r} must be a path inside the workdir, e.g. 'repro.py'")
        return value

    @field_validator("masks", "signatures")
    @classmethod
    def _regexes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{pattern!r} is not a regular expression: {error}") from None
        return value


class Verdict(str, Enum):
    """The outcome of running a case in the customer environment and the baseline."""

    REPRODUCED = "REPRODUCED"
    NOT_REPRODUCED = "NOT_REPRODUCED"
    EVERYWHERE = "EVERYWHERE"
    BASELINE_ONLY = "BASELINE_ONLY"
    FLAKY = "FLAKY"
    ERROR = "ERROR"

    def describe(self) -> str:
        return {
            "REPRODUCED": "the bug shows in the customer environment and not in the baseline",
            "NOT_REPRODUCED": "the bug shows in neither environment",
            "EVERYWHERE": "the bug shows in both environments: it is not environment-specific",
            "BASELINE_ONLY": "the bug shows in the baseline but not in the customer environment",
            "FLAKY": "the bug shows in some repeats and not in others",
            "ERROR": "an environment could not be built or started",
        }[self.value]

