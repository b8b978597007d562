"""Environment variables of an environment (`env: {ACME_MODE: strict}`)."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from reprokit.aspects.base import Aspect, ImportContext, Layer, Merge, SpecField, mapping
from reprokit.contract.values import ENV_NAME

# Variables a container sets for itself; not part of what an environment declares.
IGNORED_FACTS = {"HOSTNAME", "HOME", "SHLVL", "PWD", "_", "OLDPWD", "LD_PRELOAD"}  # LD_PRELOAD: the clock's
IGNORED_PREFIXES = ("FAKETIME",)  # libfaketime's own settings (see clock)
# Variables a customer's machine sets that are not theirs to reproduce, or that other aspects carry (locale,
# timezone, the venv).
IGNORED_IMPORT = {"HOSTNAME", "HOME", "PWD", "OLDPWD", "SHLVL", "_", "TERM", "PATH", "VIRTUAL_ENV", "LANG", "LC_ALL",
                  "LC_CTYPE", "LANGUAGE", "TZ", "USER", "LOGNAME", "MAIL", "SHELL", "LS_COLORS", "DISPLAY",
                  "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "SSH_AUTH_SOCK", "XDG_RUNTIME_DIR", "XDG_SESSION_ID",
                  "DBUS_SESSION_BUS_ADDRESS"}


def _numbers(value):
    """``PORT: 8080`` means the string '8080'; a bare true/false is ambiguous and stays an error."""
    if isinstance(value, dict):
        return {k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in value.items()}
    return value


def _env(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not ENV_NAME.match(key):
            raise ValueError(f"{key!r} is not an environment variable name (letters, digits, _)")
    for key, text in value.items():
        if "\n" in text or "\x00" in text:
            raise ValueError(f"{key}: {text[:40]!r}... has a line break, which an image's environment cannot "
                             "hold; put multi-line text in a file under `files`")
    return value


def env_quote(value: str) -> str:
    """A value for a Dockerfile ENV line: double-quoted, with the characters Docker interprets escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")  # no newline: refused above
    return f'"{escaped}"'


class Env(Aspect):
    """`env: {NAME: value}`. Baked into the image's last layer; isolate's probes set them at container start
    instead, so hybrids that differ only in env share one image."""

    name = "env"
    fields = {"env": SpecField(Annotated[dict[str, str], BeforeValidator(_numbers), AfterValidator(_env)], {},
                               merge=Merge.MAP)}
    layer = Layer.ENV
    rebuild = False
    overlay = True
    fact_script = "section env; env"

    def render(self, spec, options) -> str:
        """ENV, the last layer: editing a value rebuilds in well under a second."""
        if not spec.env:
            return ""
        return "ENV " + " \\\n    ".join(f"{k}={env_quote(v)}" for k, v in sorted(spec.env.items()))

    def start_env(self, spec) -> dict[str, str]:
        return dict(spec.env)

    def read_facts(self, sections) -> dict[str, Any]:
        pairs = (line.partition("=") for line in sections.get("env", []) if "=" in line)
        return {"env": {k: v for k, _, v in pairs if k not in IGNORED_FACTS and not k.startswith(IGNORED_PREFIXES)}}

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        env = {k: str(v) for k, v in mapping(context.facts.get("env")).items()
               if k not in IGNORED_IMPORT and ENV_NAME.match(str(k))}
        return {"env": dict(sorted(env.items()))}
