"""The errors reprokit raises, each one fixable from its message alone.

    ReprokitError                 base: everything a user can act on
    ├── SpecError                 an environment or case file is wrong (file, line, field, value, fix)
    ├── InvalidValue              one value is wrong (also a ValueError, so pydantic validators report it
    │                             with its field, and a command-line value gets a message, not a traceback)
    ├── EngineError               the Docker engine is missing, unreachable or refused a call
    │   └── EngineLost            an engine that answered stopped answering in the middle of a call
    ├── BuildError                an image build failed (failing step, last log lines, hint)
    ├── RunError                  a container could not be started or a step could not be executed
    ├── IsolateError              isolation cannot start (endpoints do not behave as the case says)
    └── BundleError               a case bundle is unsafe, tampered with or malformed

ReprokitWarning (a UserWarning, not an error) is what reprokit says when it carries on in a degraded way:
a registry that does not answer, say, after which images are built locally.

Every error carries ``hint`` (how to fix it) and ``reproduce`` (a command that shows it again);
``str(error)`` renders all of them, so the CLI prints the message and exits 2 with no traceback.
"""
from __future__ import annotations

from pathlib import Path


class ReprokitError(Exception):
    """Base of every error a user can fix; the CLI prints it without a traceback."""

    def __init__(self, message: str, *, hint: str | None = None, reproduce: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.reproduce = reproduce

    def __str__(self) -> str:
        parts = [self.message]
        if self.hint:
            parts.append(f"hint: {self.hint}")
        if self.reproduce:
            parts.append(f"reproduce: {self.reproduce}")
        return "\n".join(parts)


class SpecError(ReprokitError):
    """A spec file is wrong: names the file, line, field, bad value and the fix."""

    def __init__(self, file: Path | str | None, field: str, problem: str, *, line: int | None = None,
                 hint: str | None = None):
        where = str(file) if file else "<inline>"
        if line is not None:
            where += f":{line}"
        prefix = f"{where}: {field}: " if field else f"{where}: "
        super().__init__(prefix + problem, hint=hint)
        self.file, self.line, self.field, self.problem = file, line, field, problem


class InvalidValue(ReprokitError, ValueError):
    """One value is wrong (a package spec, a version, an option); the message says why and how to fix it."""


class EngineError(ReprokitError):
    """The Docker engine is not reachable or refused a request."""


class EngineLost(EngineError):
    """An engine stopped answering in the middle of a call (it died or restarted): names the engine and what
    reprokit was doing, so a replay can tell a lost engine from a broken case and retry on it once."""

    def __init__(self, endpoint: str, doing: str, cause: object):
        super().__init__(f"the engine at {endpoint} stopped answering while {doing}: {cause}",
                         hint=f"check the engine (docker -H {endpoint} info); once it is back, "
                              f"'reprokit gc --engine {endpoint}' removes what the interrupted run left")
        self.endpoint, self.doing = endpoint, doing


class BuildError(ReprokitError):
    """An image build failed; carries the failing step and the tail of the build log."""

    def __init__(self, environment: str, step: str, log_tail: list[str], *, hint: str | None = None,
                 reproduce: str | None = None, problems: list[str] = (), log_file: str | None = None,
                 shown_step: str | None = None):
        """``step`` whole; ``shown_step``: how the message shows it (cut to the terminal's width)."""
        tail = "\n".join("    " + line for line in log_tail)
        failed = "".join(f"\n    {line}" for line in problems)
        super().__init__(f"building environment '{environment}' failed at step: {shown_step or step}" +
                         (f"\n  what failed, one package per line:{failed}" if problems else "") +
                         f"\n  last log lines:\n{tail}" + (f"\n  full log: {log_file}" if log_file else ""),
                         hint=hint, reproduce=reproduce)
        self.environment, self.step, self.log_tail = environment, step, log_tail
        self.problems, self.log_file = list(problems), log_file


class RunError(ReprokitError):
    """A container could not be started, or a command could not be executed in it."""


class IsolateError(ReprokitError):
    """Isolation cannot start: the endpoints do not behave as the case says."""


class BundleError(ReprokitError):
    """A case bundle is unsafe, tampered with, or not a reprokit bundle."""


class ReprokitWarning(UserWarning):
    """reprokit carries on in a degraded way (a registry that does not answer: images are built locally)."""
