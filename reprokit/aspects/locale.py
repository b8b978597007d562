"""The locale of an environment (`locale: de_DE.UTF-8`): generated in the image, LANG set."""
from __future__ import annotations

import re
import shlex
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, Layer, SpecField, mapping


def _locale(value: str | None) -> str | None:
    if value is not None and not re.match(r"^[A-Za-z]{2,3}(_[A-Z]{2})?(\.[A-Za-z0-9-]+)?(@\w+)?$|^C(\.UTF-8)?$", value):
        raise ValueError(f"{value!r} is not a locale; write e.g. 'de_DE.UTF-8'")
    return value


def _generated(spec) -> bool:
    return bool(spec.locale) and not spec.locale.startswith("C")


class Locale(Aspect):
    """`locale: de_DE.UTF-8` (C and C.UTF-8 need nothing generated)."""

    name = "locale"
    fields = {"locale": SpecField(Annotated[str | None, AfterValidator(_locale)], None)}
    layer = Layer.LOCALE
    fact_script = "section locale; locale 2>/dev/null | sed -n 's/^LANG=//p'"

    def platform_packages(self, spec) -> list[str]:
        return ["locales"] if _generated(spec) else []

    def render(self, spec, options) -> str:
        """Generate the locale and set LANG. Cheap (~2 s); rebuilt when the locale changes."""
        lines = []
        if _generated(spec):
            name = shlex.quote(spec.locale)
            charset = spec.locale.partition(".")[2] or "ISO-8859-1"
            lines.append(f"RUN echo {shlex.quote(spec.locale + ' ' + charset)} >> /etc/locale.gen && locale-gen {name} >/dev/null")
        if spec.locale:
            lines.append(f"ENV LANG={spec.locale}")
        return "\n".join(lines)

    def check(self, spec, facts) -> str | None:
        if spec.locale and facts.get("locale") and facts["locale"] != spec.locale:
            return f"locale {spec.locale}: found {facts['locale']}"
        return None

    def read_facts(self, sections) -> dict[str, Any]:
        return {"locale": (sections.get("locale") or [""])[0]}

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        facts, lost = context.facts, context.lost
        settings = mapping(facts.get("locale")) or {k: v for k, v in mapping(facts.get("env")).items()
                                                    if k in ("LANG", "LC_ALL")}
        lang = settings.get("LC_ALL") or settings.get("LANG")
        if settings.get("LC_ALL") and settings.get("LANG") and settings["LC_ALL"] != settings["LANG"]:
            lost.append(f"locale: LC_ALL={settings['LC_ALL']} overrides LANG={settings['LANG']}; the image sets LANG only")
        if not lang or lang == "POSIX":
            return {}
        return {"locale": str(lang).replace(".utf8", ".UTF-8")}
