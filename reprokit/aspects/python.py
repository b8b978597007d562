"""The python an environment runs (`python: system` or `"3.9"`), checked before and during the build."""
from __future__ import annotations

import re
import shlex
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, Layer, SpecField
from reprokit.errors import SpecError

# The python3 each Debian suite ships; checked before any build so a wrong `python:` fails at once.
DEBIAN_PYTHON = {"buster": "3.7", "bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13", "forky": "3.13"}


def _python(value: str) -> str:
    if value != "system" and not re.match(r"^3\.\d{1,2}$", value):
        raise ValueError(f"{value!r} is not 'system' or a version like '3.9'")
    return value


def debian_python(image: str) -> str | None:
    """The X.Y of python3 in a Debian suite's image ('debian:bullseye' -> '3.9'); None for other images."""
    name, _, suite = image.partition(":")
    return DEBIAN_PYTHON.get(suite) if name.endswith("debian") else None


def python_version(spec) -> str | None:
    """The X.Y of the environment's python3: declared, or known for the Debian suite of its image."""
    return spec.python if spec.python != "system" else debian_python(spec.os)


def check_python(spec) -> None:
    """``python: "3.9"`` must be what the base image's python3 is; known Debian suites are checked here."""
    if spec.python == "system":
        return
    provided = debian_python(spec.os)
    if provided is not None and provided != spec.python:
        where = f"{spec.source.parent.name}/{spec.source.name}" if spec.source else spec.name
        others = [s for s, v in DEBIAN_PYTHON.items() if v == spec.python]
        hint = (f"use os: debian:{others[0]} for Python {spec.python}, " if others else "") + \
            f"or set python: system (Python {provided} on {spec.os})"
        raise SpecError(where, "python", f"{spec.python!r} does not match {spec.os}, which provides Python {provided}",
                        hint=hint)


def apt_install(packages: list[str]) -> str:
    words = " ".join(shlex.quote(p) for p in packages)
    return ("RUN apt-get update -qq \\\n"
            f" && apt-get install -y -qq --no-install-recommends --allow-downgrades {words} \\\n"
            " && rm -rf /var/lib/apt/lists/*")


class Python(Aspect):
    """`python: system` or `"3.9"`. Owns the platform layer, where python3 and every aspect's helper packages
    are installed."""

    name = "python"
    fields = {"python": SpecField(Annotated[str, AfterValidator(_python)], "system",
                                  description="'system' = the distro's python3, or 'X.Y' that must match")}
    layer = Layer.PLATFORM
    fact_script = "section python; python3 -c 'import sys; print(\"%d.%d.%d\" % sys.version_info[:3])' 2>/dev/null"

    def platform_packages(self, spec) -> list[str]:
        """python3, and python3-venv when python packages go into a venv (see python_packages)."""
        return ["python3", "python3-venv"] if spec.python_packages else ["python3"]

    def render(self, spec, options) -> str:
        """python3 and what other aspects need (tzdata, locales, ...), and a declared python version checked.
        Runs once per base image and feature set (~20 s); shared by every environment on the same os, so
        system-package or pip changes never rebuild it."""
        check_python(spec)
        install = apt_install(list(options.platform_packages))
        if spec.python == "system":
            return install
        # An image we know nothing about is checked here, as soon as its python3 is installed.
        return (install + f" \\\n && python3 -c 'import sys; v=\"%d.%d\" % sys.version_info[:2]; "
                f"sys.exit(0 if v == \"{spec.python}\" else \"python: {spec.python} declared but the image has \" + v)'")

    def check(self, spec, facts) -> str | None:
        if spec.python != "system" and not str(facts.get("python", "")).startswith(spec.python + "."):
            return f"python {spec.python}: found {facts.get('python') or 'none'}"
        return None

    def read_facts(self, sections) -> dict[str, Any]:
        return {"python": (sections.get("python") or [""])[0]}
