"""Pins apt can install together: `env import` asks apt itself (`apt-get install -s`, a simulation, in a container
of the base image) and settles conflicts before the spec is written, so the build succeeds on the first try.

A pinned library older than what a newer unpinned package needs (zlib1g-dev from the mirror wants zlib1g
1:1.2.13.dfsg-1+deb12u1, the customer's zlib1g is 1:1.2.13.dfsg-1) is settled by pinning that package at the
customer's version too, when the customer has it and the mirror serves it, else by taking the library's version
the mirror serves (said in "not exactly reproduced").
"""
from __future__ import annotations

import re
import shlex
from contextlib import contextmanager
from dataclasses import dataclass, field

ROUNDS = 6
PLATFORM = ("python3", "python3-venv")  # what the build's platform layer installs before the pins (aspects.python)
UNMET = re.compile(r"^\s*(?:(?P<package>[a-z0-9][a-z0-9+.-]*(?::\S+)?) : )?\s*(?:Pre)?Depends: (?P<needs>\S+)"
                   r"(?: \((?P<relation>[<>=]+) (?P<version>[^)]+)\))?(?: but (?P<why>.+))?$")


@dataclass(frozen=True)
class Unmet:
    """One dependency apt could not satisfy: ``package`` needs ``needs`` (``relation`` ``version``) but ``why``."""

    package: str
    needs: str
    relation: str = ""
    version: str = ""
    why: str = ""

    def describe(self) -> str:
        wanted = f" ({self.relation} {self.version})" if self.relation else ""
        return f"{self.package} needs {self.needs}{wanted}" + (f" but {self.why}" if self.why else "")


def unmet_dependencies(text: str) -> list[Unmet]:
    """The 'unmet dependencies' apt lists, continuation lines attributed to the package above them."""
    found, current = [], ""
    for line in text.splitlines():
        match = UNMET.match(line)
        if not match:
            continue
        current = (match.group("package") or current).split(":")[0]
        found.append(Unmet(current, match.group("needs").split(":")[0], match.group("relation") or "",
                           match.group("version") or "", match.group("why") or ""))
    return found


def removals(text: str) -> list[Unmet]:
    """Packages apt's simulation would remove to install the pins (`Remv NAME [VERSION]`): the platform layer's
    python3-venv, say, whose python3.11 a pin downgrades; settled like an unmet dependency."""
    return [Unmet(m.group(1).split(":")[0], m.group(1).split(":")[0], "=", m.group(2),
                  "the pins would remove it") for m in re.finditer(r"^Remv (\S+) \[([^\]]+)\]", text, re.M)]


def simulate_command(pins: list[str]) -> str:
    """The install the build runs (reprokit.aspects.python.apt_install), simulated, with apt's full explanation."""
    words = " ".join(shlex.quote(p) for p in pins)
    return f"apt-get install -s --no-install-recommends --allow-downgrades {words} 2>&1"


@dataclass
class Settled:
    """The pins after settling, with what changed and why."""

    pins: list[str]
    changed: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # package -> (customer's, pinned, why)
    added: list[str] = field(default_factory=list)  # packages pinned at the customer's version to keep the set whole
    remaining: list[Unmet] = field(default_factory=list)  # what apt still cannot do (the build will say so)


@contextmanager
def apt_container(image: str, *, engine=None, timeout: float = 300):
    """A throwaway container of ``image`` with fresh package lists and the platform layer's packages installed,
    as the build has them when it installs the pins; yields a function: pins -> (exit code, apt's output)."""
    from reprokit.engine import ContainerConfig, get_engine
    from reprokit.errors import RunError

    engine = engine or get_engine()
    with engine.start(image, ContainerConfig(labels={"reprokit.purpose": "apt-simulation"})) as container:
        update = container.exec(f"apt-get update -qq && apt-get install -y -qq {' '.join(PLATFORM)} >/dev/null",
                                timeout=timeout)
        if update.exit_code != 0:
            raise RunError(f"apt-get update failed in a container of {image}: {update.stderr.strip()[-300:]}",
                           reproduce=f"docker run --rm {image} apt-get update")

        def simulate(pins: list[str]) -> tuple[int, str]:
            run = container.exec(simulate_command(pins), timeout=timeout)
            return run.exit_code, run.stdout
        yield simulate


def settle(image: str, pins: list[str], installed: dict[str, str], index, *, engine=None,
           timeout: float = 300) -> Settled:
    """Run apt's simulation in one container of ``image`` until the pins install together (or nothing more can
    be changed); ``installed``: the customer's versions; ``index``: the suite's PackageIndex."""
    result = Settled(list(pins))
    if not pins:
        return result
    with apt_container(image, engine=engine, timeout=timeout) as simulate:
        for _ in range(ROUNDS):
            code, output = simulate(result.pins)
            removed = removals(output)
            if code == 0 and not removed:
                result.remaining = []
                return result
            result.remaining = unmet_dependencies(output) + removed
            if not _settle_once(result, installed, index):
                return result
    return result


def explain_conflict(image: str, pins: list[str], *, engine=None) -> list[Unmet]:
    """Why apt refused the pins ('you have held broken packages', which a quiet build log leaves at that): its
    simulation in a container of ``image`` names each unmet dependency."""
    with apt_container(image, engine=engine) as simulate:
        code, output = simulate(pins)
    return unmet_dependencies(output) + removals(output)


def _settle_once(result: Settled, installed: dict[str, str], index) -> bool:
    """One round of changes for what apt named (unmet dependencies, removals); False when none could be made."""
    pinned = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in result.pins if "=" in p}
    changed = False
    for unmet in result.remaining:
        package = unmet.package
        if unmet.why == "the pins would remove it" or (unmet.needs in pinned and unmet.why.endswith("is to be installed")):
            if package not in pinned and package in installed and index.has(package, installed[package]):
                result.pins.append(f"{package}={installed[package]}")  # keep the customer's whole set
                result.added.append(package)
                pinned[package] = installed[package]
                changed = True
                continue
        if unmet.needs not in pinned or not unmet.why.endswith("is to be installed"):
            continue
        newest = index.newest(unmet.needs)
        if newest and newest != pinned[unmet.needs]:
            customers = result.changed.get(unmet.needs, (pinned[unmet.needs],))[0]
            result.changed[unmet.needs] = (customers, newest, unmet.describe())
            result.pins = [f"{unmet.needs}={newest}" if p.split("=", 1)[0] == unmet.needs else p for p in result.pins]
            pinned[unmet.needs] = newest
            changed = True
    return changed
