"""Debian packages an environment installs (`system_packages`), pins honoured."""
from __future__ import annotations

import fnmatch
import re
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, Layer, Merge, SpecField, mapping
from reprokit.aspects.python import apt_install
from reprokit.contract.values import compare_versions
from reprokit.contract.values import debian_package_name, unique

# Packages that belong to a machine, not to an image: never pinned, always listed.
MACHINE_PACKAGES = ("linux-image-*", "linux-headers-*", "linux-modules-*", "firmware-*", "grub*", "*-dkms",
                    "intel-microcode", "amd64-microcode", "shim-*")
BASE_PRIORITIES = ("required", "important")


class SystemPackages(Aspect):
    """`system_packages: [sqlite3, "libsqlite3-0=3.34.1-3+deb11u1"]`."""

    name = "system_packages"
    fields = {"system_packages": SpecField(
        Annotated[tuple[str, ...], AfterValidator(lambda v: unique(v, debian_package_name))], (),
        merge=Merge.PACKAGES, name_of=debian_package_name)}
    layer = Layer.SYSTEM_PACKAGES
    fact_script = "section dpkg; dpkg-query -W -f '${Package}=${Version}\\n' 2>/dev/null"

    def render(self, spec, options) -> str:
        """The declared Debian packages, pins honoured (downgrades allowed). Rebuilt when the list changes."""
        return apt_install(list(spec.system_packages)) if spec.system_packages else ""

    def check(self, spec, facts) -> str | None:
        packages = facts.get("debian_packages", {})
        missing = []
        for pin in spec.system_packages:
            name, _, version = pin.partition("=")
            if version and packages and packages.get(name.split(":")[0]) != version:
                missing.append(f"system package {pin}: found {packages.get(name.split(':')[0], 'not installed')}")
        return "; ".join(missing) or None

    def read_facts(self, sections) -> dict[str, Any]:
        return {"debian_packages": dict(_split(line, "=") for line in sections.get("dpkg", []))}

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        """The packages the app can feel (see `choose`), or with ``options['all_system_packages']`` every one
        added to the base system; packages from other repositories are listed, not pinned; with
        ``options['debian_index']`` (image -> PackageIndex) each pin is checked against the suite's mirror."""
        from reprokit.aspects.base_os import image_is_native

        facts, lost = context.facts, context.lost
        installed = {str(k): str(v) for k, v in mapping(facts.get("debian_packages")).items()}
        rpm = mapping(facts.get("rpm_packages"))
        if rpm:
            lost.append(f"{len(rpm)} rpm packages: rpm-based systems cannot be built here (listed in the collection)")
        if not image_is_native(facts) and installed:
            lost.append(f"{len(installed)} Debian-format packages of a foreign distro: not pinned")
            return {"system_packages": []}
        chosen, reasons = choose(facts, installed, context.options)
        if chosen is None:
            lost.append(f"{len(installed)} Debian packages listed but none pinned: choose with --system-packages GLOB")
            return {"system_packages": []}
        machine = [p for p in chosen if any(fnmatch.fnmatch(p, m) for m in MACHINE_PACKAGES)]
        if machine:
            lost.append(f"machine packages (kernel, firmware, boot): {', '.join(machine)}")
        chosen = [p for p in chosen if p not in machine]
        provider = context.options.get("debian_index")
        index = provider(context.data.get("os")) if provider and context.data.get("os") else None
        collected = mapping(facts.get("debian_origins"))
        outside = {p: o for p in installed if not (o := origin_of(p, installed[p], collected, index)).startswith("debian")}
        for package, origin in outside.items():
            reasons[package] = f"not reproducible from Debian's mirror: {origin}"
        pins, foreign = [], [f"{p} {installed[p]} ({outside[p]})" for p in chosen if p in outside]
        for package in (p for p in chosen if p not in outside):
            pin = _checked_pin(package, installed[package], index, context)
            if pin:
                pins.append(pin)
            else:
                reasons[package] = "not reproduced: the suite has no such package"
        settle = context.options.get("debian_settle")
        if settle and index is not None and pins:
            pins = _settled(settle(context.data["os"], pins, installed, index), reasons, context)
        if foreign:
            lost.append(f"{len(foreign)} chosen system package(s) from outside Debian: {', '.join(foreign)}; to have "
                        "them, install them in a case step or a base image that adds their repository")
        if len(outside) > len(foreign):
            names = sorted(p for p in outside if p not in chosen)
            lost.append(f"{len(names)} other installed package(s) from outside Debian, not pinned: "
                        f"{', '.join(_families(names))}")
        _summarise(context, installed, pins, reasons)
        return {"system_packages": pins}


# Packages whose versions support engineers most often chase, pinned whenever the customer has them.
BEHAVIOUR_PACKAGES = ("python3", "python3.*", "libpython3*", "libssl*", "openssl", "libsqlite3*", "sqlite3", "libpq*",
                      "ca-certificates", "tzdata", "locales", "locales-all", "libc6", "libc-bin")

BUILD_ONLY = ("-dev", "-dbg", "-doc")  # headers and debug files: not what the app feels at run time


def choose(facts: dict, installed: dict[str, str], options: dict) -> tuple[list[str] | None, dict[str, str]]:
    """(the installed packages to pin, why each was chosen or left out); None when nothing can be chosen.

    By default: the owners of the shared libraries the python's extension modules link (the collector reads
    them), the BEHAVIOUR_PACKAGES, and the packages matching ``options['system_packages']`` globs (comma
    lists allowed). ``options['all_system_packages']``: every package below priority 'important' instead.
    """
    named = [g.strip() for text in options.get("system_packages") or () for g in str(text).split(",") if g.strip()]
    reasons: dict[str, str] = {}
    if options.get("all_system_packages"):
        priorities = mapping(facts.get("debian_priorities"))
        if not priorities and installed and not named:
            return None, reasons
        for package in installed:
            if priorities.get(package) not in BASE_PRIORITIES or any(fnmatch.fnmatch(package, g) for g in named):
                reasons[package] = "added to the base system"
    else:
        native = mapping(facts.get("native_libraries"))
        for library, owner in sorted(mapping(native.get("library_owners")).items()):
            if owner in installed:
                reasons.setdefault(owner, f"owns {library.rsplit('/', 1)[-1]}, which python extensions load")
        for package in installed:
            if any(fnmatch.fnmatch(package, g) for g in BEHAVIOUR_PACKAGES) and not package.endswith(BUILD_ONLY):
                reasons.setdefault(package, "often behind a behaviour difference")
            elif any(fnmatch.fnmatch(package, g) for g in named):
                reasons.setdefault(package, "named with --system-packages")
    chosen = sorted(reasons)
    left = "part of the base system" if options.get("all_system_packages") else \
        "the app's python does not load it (--system-packages NAME pins it)"
    for package in installed:
        reasons.setdefault(package, left)
    return chosen, reasons


DEBIAN_VERSION = re.compile(r"[+~]deb\d+u\d+|\+b\d+$")


def origin_of(package: str, version: str, origins: dict, index) -> str:
    """'debian ...', 'other HOST' (a repository that is not Debian's) or 'local ...' (served by no repository)."""
    served = origins.get(package)
    if isinstance(served, list) and served:
        debian = [s for s in map(str, served) if s.startswith("Debian/") or s.split("@")[-1].endswith("debian.org")]
        if debian:
            return "debian " + debian[0]
        return f"other repository {str(served[0]).split('@')[-1]}"
    if isinstance(served, list) or index is not None and not index.has(package):
        # No repository the customer has serves this version. Debian's when the suite has the package and this
        # version is older (the suite moved on) or carries Debian's stable-update marker; else someone else's
        # (nodesource's nodejs 20 beside Debian's 18).
        if index is not None and index.has(package):
            newest = index.newest(package)
            if DEBIAN_VERSION.search(version) or compare_versions(version, newest) <= 0:
                return "debian (a version no longer served)"
        elif index is None:  # nothing to tell by (--no-mirror-check): pinned as it is, the build will say
            return "debian (origin unknown: not checked against the mirror)"
        return "local: no configured repository serves this version (installed from a file, or its repository removed)"
    return "debian (origin not collected)"


def _checked_pin(package: str, version: str, index, context: ImportContext) -> str | None:
    """``package=version``, or the version the mirror serves when it has not that one (noted); None when the
    suite does not have the package at all."""
    if index is None or index.has(package, version):
        return f"{package}={version}"
    newest = index.newest(package)
    if newest is None:
        context.lost.append(f"system package {package} {version}: {index.image}'s suite has no such package")
        return None
    why = "newer than the mirror's" if compare_versions(version, newest) > 0 else "no longer served by the mirror"
    context.inexact.append(f"system package {package}: customer has {version} ({why}); pinned {newest}")
    context.comments.setdefault("system_packages", {})[package] = f"customer: {version} ({why})"
    return f"{package}={newest}"


def _families(names: list[str]) -> list[str]:
    """Names with their plug-ins folded in: 'google-cloud-cli (+14 google-cloud-cli-*)', 'kubectl', 'nodejs'."""
    roots = [n for n in names if not any(n.startswith(r + "-") for r in names if r != n)]
    shown = []
    for root in roots:
        more = sum(1 for n in names if n.startswith(root + "-"))
        shown.append(f"{root} (+{more} {root}-*)" if more else root)
    return shown


def _settled(settled, reasons: dict[str, str], context: ImportContext) -> list[str]:
    """The pins apt's simulation settled on (reprokit.collect.settle), with why each change was made."""
    for package in settled.added:
        reasons[package] = "pinned at the customer's version so that the chosen packages install together"
    for package, (customers, pinned, why) in settled.changed.items():
        context.inexact.append(f"system package {package}: customer has {customers}; pinned {pinned}, because {why}")
        context.comments.setdefault("system_packages", {})[package] = f"customer: {customers}, because {why}"
    if settled.remaining:
        context.lost.append("apt still cannot install the pins together: " +
                            "; ".join(u.describe() for u in settled.remaining))
    return sorted(settled.pins)


def _summarise(context: ImportContext, installed: dict[str, str], pins: list[str], reasons: dict[str, str]) -> None:
    """The counts in the description, and every installed package with why it was (not) pinned in a side file."""
    if not installed:
        return
    pinned = {p.split("=", 1)[0] for p in pins}
    left = len(installed) - len(pinned)
    side = f"environments/{context.options['name']}.system-packages.txt" if context.options.get("name") else \
        "the side file *.system-packages.txt"
    context.notes.append(f"system packages: {len(pinned)} of {len(installed)} installed pinned, {left} not "
                         f"(every one with its reason in {side}; --all-system-packages pins all)")
    context.side_files["system-packages.txt"] = "".join(
        f"{'pinned' if p in pinned else 'not pinned'}\t{p}={v}\t{reasons.get(p, '')}\n"
        for p, v in sorted(installed.items()))


def _split(line: str, sep: str) -> tuple[str, str]:
    key, _, value = line.partition(sep)
    return key, value
