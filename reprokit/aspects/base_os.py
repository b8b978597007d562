"""The OS image an environment starts from (`os`), and, chosen with it, the python a collection implies."""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, Layer, SpecField, mapping

DEBIAN_RELEASES = {"10": "buster", "11": "bullseye", "12": "bookworm", "13": "trixie"}


def _image_reference(value: str) -> str:
    if not re.match(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$", value):
        raise ValueError(f"{value!r} is not an image reference; write e.g. 'debian:bookworm'")
    return value


class BaseOS(Aspect):
    """`os: debian:bullseye`. The first layer; changing it rebuilds everything, so isolate groups it with what
    the suite decides (its python, pinned Debian versions)."""

    name = "os"
    fields = {"os": SpecField(Annotated[str, AfterValidator(_image_reference)], ...,
                              description="base image reference, e.g. debian:bookworm")}
    layer = Layer.BASE
    fact_script = "section os_release; cat /etc/os-release 2>/dev/null\nsection kernel; uname -r"

    def render(self, spec, options) -> str:
        """The base image. Changes only with `os` (and `arch`); every other layer builds on it."""
        from reprokit.aspects.arch import base_reference

        return f"FROM {base_reference(spec)}\nARG DEBIAN_FRONTEND=noninteractive"

    def read_facts(self, sections) -> dict[str, Any]:
        release = dict(line.split("=", 1) for line in sections.get("os_release", []) if "=" in line)
        return {"os": release.get("PRETTY_NAME", "").strip('"'), "kernel": _first(sections, "kernel")}

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        """The Debian suite of the customer's machine; another OS maps to the suite with their python."""
        from reprokit.aspects.python import DEBIAN_PYTHON, debian_python

        facts, lost = context.facts, context.lost
        release = mapping(facts.get("os_release"))
        version = str(mapping(facts.get("python")).get("version") or "")
        minor = ".".join(version.split(".")[:2])
        codename = release.get("VERSION_CODENAME") or DEBIAN_RELEASES.get(str(release.get("VERSION_ID", "")).split(".")[0])
        if context.options.get("os"):
            image = context.options["os"]
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
            return {"os": image, "python": minor}
        if minor:
            lost.append(f"python: the customer runs Python {version} ({mapping(facts.get('python')).get('executable', '?')}),"
                        f" {image} provides {provided or 'an unknown version'}; python: system")
        return {"os": image, "python": "system"}


def image_is_native(facts: dict) -> bool:
    release = mapping(facts.get("os_release"))
    return not release or release.get("ID") == "debian"


def _first(sections: dict[str, list[str]], name: str) -> str:
    lines = sections.get(name) or [""]
    return lines[0]
