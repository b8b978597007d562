"""Facts: what an environment really is, read from inside a running container, and what did not take effect.

Each aspect contributes shell printing `section NAME` blocks; one exec runs them all, and each aspect reads
its own sections back. A declared value whose fact disagrees makes the run ERROR, naming the aspect."""
from __future__ import annotations

from reprokit.aspects.registry import ASPECTS

PREAMBLE = "section() { printf '\\n@@reprokit-fact %s\\n' \"$1\"; }\n"


def facts_script() -> str:
    """One script for every aspect; each section is framed, so a missing tool only empties its own section."""
    return PREAMBLE + "\n".join(a.fact_script for a in ASPECTS if a.fact_script) + "\n"


def parse_facts(text: str) -> dict:
    """Facts by name, from what `facts_script` printed, in registry order."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@reprokit-fact "):
            current = line.split(" ", 1)[1]
            sections[current] = []
        elif current is not None and line.strip():
            sections[current].append(line)
    facts: dict = {}
    for aspect in ASPECTS:
        if aspect.fact_script:
            facts.update(aspect.read_facts(sections))
    return facts


def not_in_effect(spec, facts: dict) -> dict[str, str]:
    """Aspect name -> why, for every declared value that the facts show did not take effect."""
    if not facts:
        return {}
    found = {aspect.name: aspect.check(spec, facts) for aspect in ASPECTS}
    return {name: why for name, why in found.items() if why}


def step_prelude(spec) -> str:
    """Shell lines every step runs first (umask, a faked clock, ...), from the aspects that need them."""
    return "".join(line + "\n" for line in (a.step_prelude(spec) for a in ASPECTS) if line)
