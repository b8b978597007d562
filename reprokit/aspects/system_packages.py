"""Debian packages an environment installs (`system_packages`), pins honoured."""
from __future__ import annotations

import fnmatch
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, Layer, Merge, SpecField, mapping
from reprokit.aspects.python import apt_install
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
        """Every installed package below priority 'important' (what was added to the base system), or those
        matching ``options['system_packages']`` globs; kernel/firmware/boot packages are listed, not pinned."""
        from reprokit.aspects.base_os import image_is_native

        facts, lost = context.facts, context.lost
        installed = {str(k): str(v) for k, v in mapping(facts.get("debian_packages")).items()}
        rpm = mapping(facts.get("rpm_packages"))
        if rpm:
            lost.append(f"{len(rpm)} rpm packages: rpm-based systems cannot be built here (listed in the collection)")
        if not image_is_native(facts) and installed:
            lost.append(f"{len(installed)} Debian-format packages of a foreign distro: not pinned")
            return {"system_packages": []}
        priorities = mapping(facts.get("debian_priorities"))
        globs = context.options.get("system_packages")
        globs = list(globs) if globs is not None else None
        if globs is None and not priorities and installed:
            lost.append(f"{len(installed)} Debian packages listed but none pinned: choose with --system-packages GLOB")
            return {"system_packages": []}
        chosen, machine = [], []
        for package, version in sorted(installed.items()):
            wanted = any(fnmatch.fnmatch(package, g) for g in globs) if globs is not None else \
                priorities.get(package) not in BASE_PRIORITIES
            if wanted and any(fnmatch.fnmatch(package, m) for m in MACHINE_PACKAGES):
                machine.append(package)
            elif wanted:
                chosen.append(f"{package}={version}")
        if machine:
            lost.append(f"machine packages (kernel, firmware, boot): {', '.join(machine)}")
        return {"system_packages": chosen}


def _split(line: str, sep: str) -> tuple[str, str]:
    key, _, value = line.partition(sep)
    return key, value
