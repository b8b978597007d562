"""Frozen models of what reprokit executes: environments, cases, signatures and verdicts."""
from __future__ import annotations

import hashlib
import re
from enum import Enum
from pathlib import Path
from typing import Literal, Sequence

from pydantic import Field, create_model, field_validator, model_validator

from reprokit.aspects.limits import DEFAULT_LIMITS, Limits
from reprokit.contract.values import (NAME, Frozen, debian_package_name, pinned_version, pip_requirement_name,
                                  plain_path)

__all__ = ["DEFAULT_LIMITS", "NAME", "Case", "EnvironmentBase", "EnvironmentSpec", "Frozen", "Limits", "Signature", "Status", "Step",
           "Verdict", "debian_package_name", "environment_model", "pinned_version", "pip_requirement_name"]



class EnvironmentBase(Frozen):
    """What every environment has besides its aspects' fields: its name, description and source file."""

    name: str = Field(description="the file stem under environments/, or '<case>/<role>' when inline")
    description: str = ""
    source: Path | None = Field(default=None, exclude=True, description="the file it was loaded from")

    @model_validator(mode="after")
    def _aspects_agree(self) -> EnvironmentBase:
        """Each aspect checks its value against the others (services need a network, say)."""
        from reprokit.aspects.registry import ASPECTS

        for aspect in ASPECTS:
            if all(hasattr(self, name) for name in aspect.fields):
                aspect.validate(self)
        return self

    def start(self, **options):
        """Build if needed and start a container (and the services): ``with env.start() as box: box.run(...)``.
        The run stage does it, reached through the public API, so the contract does not depend on the stages."""
        import reprokit

        return reprokit.start(self, **options)

    def content_hash(self) -> str:
        """Hash of everything that defines the environment (not its name or where it came from)."""
        data = self.model_dump_json(exclude={"name", "description", "source"})
        return hashlib.sha256(data.encode()).hexdigest()


def environment_model(aspects: Sequence | None = None) -> type[EnvironmentBase]:
    """The EnvironmentSpec model for a list of aspects (the registry's by default): one field per aspect field.
    Cached, so a test that registers a toy aspect gets a model with its field and everyone else the same one."""
    from reprokit.aspects.registry import ASPECTS

    aspects = tuple(ASPECTS if aspects is None else aspects)
    key = tuple(id(a) for a in aspects)
    if key not in _MODELS:
        fields = {name: (f.annotation, Field(default=f.default, description=f.description or None))
                  for aspect in aspects for name, f in aspect.fields.items()}
        _MODELS[key] = create_model("EnvironmentSpec", __base__=EnvironmentBase, __module__=__name__,
                                    __doc__="A declared machine: what the image contains and how its containers run.",
                                    **fields)
    return _MODELS[key]


_MODELS: dict[tuple, type[EnvironmentBase]] = {}
EnvironmentSpec = environment_model()


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
    environment: EnvironmentBase
    baseline: EnvironmentBase
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
            if path.startswith("/") or not plain_path(path):
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

