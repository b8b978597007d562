"""Redaction: secret-looking names and values become ``<redacted:sha256-prefix>``; a summary says where.

The patterns live in one place, the collector (``reprokit/collector/collector.py``), because it must
redact on the customer's machine without importing reprokit. This module imports them from there, and
renders them into the ``sh`` fallback collector (``awk_patterns``), so the three never drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from reprokit.collect.collector import collector as _patterns

SECRET_WORDS = _patterns.SECRET_WORDS
SECRET_VALUES = _patterns.SECRET_VALUES
marker = _patterns.marker
secret_name = _patterns.secret_name
is_marker = _patterns.MARKER.match


@dataclass(frozen=True)
class Redaction:
    """One redacted value: where it was and why (a place and a pattern name; never the value)."""

    where: str
    why: str

    def describe(self) -> str:
        return f"{self.where} ({self.why})"


@dataclass(frozen=True)
class Summary:
    """Everything redacted in one document, in the order found."""

    redactions: tuple[Redaction, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.redactions)

    def places(self) -> list[str]:
        return [r.where for r in self.redactions]

    def describe(self) -> str:
        if not self.redactions:
            return "nothing redacted"
        return f"{len(self.redactions)} value(s) redacted: " + ", ".join(r.describe() for r in self.redactions)

    def to_list(self) -> list[dict[str, str]]:
        return [{"where": r.where, "why": r.why} for r in self.redactions]


def redact(document: Any, *, allow: Iterable[str] = ()) -> tuple[Any, Summary]:
    """A redacted copy of a JSON-like document (maps, lists, text) and what was redacted in it.

    Env vars and config keys with secret-looking names lose their whole value; secret-looking values
    (PEM private keys, cloud keys, JWTs, bearer tokens, ``user:password@`` in URLs) are replaced wherever
    they appear; maps under ``files`` are config text, redacted line by line. Names in ``allow`` keep
    their value. Already redacted values stay as they are, so redacting twice changes nothing.
    """
    copy, found = _patterns.redact_document(document, allow=set(allow))
    return copy, _summary(found)


def redact_text(text: str, *, where: str = "text") -> tuple[str, Summary]:
    """``text`` (a log, a report) with secret-looking values replaced."""
    found: list[dict] = []
    return _patterns.redact_text(text, where, found), _summary(found)


def redact_config(text: str, *, where: str, allow: Iterable[str] = ()) -> tuple[str, Summary]:
    """A config file's text with secret-named keys' values and secret-looking values replaced."""
    found: list[dict] = []
    return _patterns.redact_config(text, where, set(allow), found), _summary(found)


def _summary(found: list[dict]) -> Summary:
    return Summary(tuple(Redaction(item["where"], item["why"]) for item in found))


# -- the sh fallback's copy of the patterns ---------------------------------------------------------------


def awk_patterns() -> str:
    """The patterns as awk assignments (for a BEGIN block of the sh collector), rendered from the collector's."""
    lines = [f"secret_words = {_awk_string(' '.join(SECRET_WORDS))}",
             f"pem_begin = {_awk_string(_patterns.PEM_BEGIN)}",
             f"pem_end = {_awk_string(_patterns.PEM_END)}",
             f"assignment = {_awk_string(_patterns.ASSIGNMENT)}",
             f"name_safe = {_awk_string(' '.join(_patterns.NAME_SAFE))}",
             f"nvalues = {len(SECRET_VALUES)}"]
    for i, (kind, pre, secret, post) in enumerate(SECRET_VALUES, 1):
        lines += [f"vkind[{i}] = {_awk_string(kind)}", f"vpre[{i}] = {_awk_string(pre)}",
                  f"vsecret[{i}] = {_awk_string(secret)}", f"vpost[{i}] = {_awk_string(post)}"]
    return "\n".join("    " + line for line in lines)


def _awk_string(text: str) -> str:
    """An awk string literal; the patterns contain no backslashes, so only quotes and tabs need care."""
    if "\\" in text:
        raise ValueError(f"pattern {text!r} has a backslash; the collector's patterns must not (see its docstring)")
    return '"' + text.replace('"', '\\"').replace("\t", "\\t") + '"'
