"""What the Debian mirror serves a base image: every package version of its suite and pockets, read once from a
container of that image and cached on disk, and dpkg's version order to tell which is newest.

`env import` checks each system-package pin against it before writing the spec (issue 15): a customer's version
the mirror no longer has (security updates moved on) or does not have yet becomes the version it serves.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import cmp_to_key
from pathlib import Path

from reprokit.contract.values import compare_versions  # noqa: F401 (Debian version order, used and re-exported)

# Runs as root in a container of the base image: each Packages index apt knows, whatever its compression, as
# "name version suite" lines (~130k for bookworm main with its pockets, read in ~8 s).
INDEX_SCRIPT = r"""set -e
apt-get update -qq >/dev/null
apt-get indextargets --format '$(FILENAME) $(RELEASE)' 'Created-By: Packages' | while read -r file suite; do
  /usr/lib/apt/apt-helper cat-file "$file" | awk -v suite="$suite" \
    '/^Package: /{name=$2} /^Version: /{print name, $2, suite}'
done
"""
MAX_AGE_S = 24 * 3600  # a mirror moves on (point releases, security updates): read it again after a day


@dataclass(frozen=True)
class PackageIndex:
    """The versions a base image's apt can install: name -> {version: suite (pocket) serving it}."""

    image: str
    versions: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, image: str, text: str) -> PackageIndex:
        versions: dict[str, dict[str, str]] = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3:
                versions.setdefault(parts[0], {}).setdefault(parts[1], parts[2])
        return cls(image, versions)

    def has(self, name: str, version: str | None = None) -> bool:
        return name in self.versions and (version is None or version in self.versions[name])

    def newest(self, name: str) -> str | None:
        """The version apt would pick (all pockets have the same priority, so the highest)."""
        served = self.versions.get(name)
        return max(served, key=cmp_to_key(compare_versions)) if served else None

    def offers(self, name: str, *, limit: int = 3) -> str:
        """What the suite has of ``name``, newest first, for a person to read ('nothing' when absent)."""
        served = sorted(self.versions.get(name, {}).items(), key=cmp_to_key(lambda a, b: compare_versions(b[0], a[0])))
        if not served:
            return "nothing"
        shown = ", ".join(f"{v} ({suite})" for v, suite in served[:limit])
        return shown + (f" and {len(served) - limit} older" if len(served) > limit else "")


def cache_folder() -> Path:
    """$REPROKIT_PACKAGE_INDEX, else ~/.cache/reprokit/package-index: one JSON file per base image id."""
    folder = os.environ.get("REPROKIT_PACKAGE_INDEX")
    return Path(folder) if folder else Path.home() / ".cache" / "reprokit" / "package-index"


def read_package_index(image: str, *, engine=None, folder: Path | None = None, timeout: float = 300) -> PackageIndex:
    """The package index of ``image``'s suite, from the cache when it is younger than a day, else read in a
    throwaway container of the image (network needed: it runs apt-get update) and cached."""
    from reprokit.engine import ContainerConfig, get_engine
    from reprokit.errors import RunError

    engine = engine or get_engine()
    image_id = engine.image_id(image)
    if not image_id:
        raise RunError(f"base image {image} is not present, so its mirror cannot be read",
                       hint=f"make it first: reprokit images bootstrap {image}")
    path = (folder or cache_folder()) / f"{image_id.split(':')[-1][:32]}.json"
    if path.is_file() and time.time() - path.stat().st_mtime < MAX_AGE_S:
        return PackageIndex(image, json.loads(path.read_text()))
    config = ContainerConfig(labels={"reprokit.purpose": "package-index"})
    with engine.start(image, config) as container:
        result = container.exec(INDEX_SCRIPT, timeout=timeout)
    if result.exit_code != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise RunError(f"reading the package index in a container of {image} failed (exit {result.exit_code}):\n"
                       f"{tail}", hint="check the mirror is reachable from containers",
                       reproduce=f"docker run --rm {image} sh -c 'apt-get update && apt-cache policy'")
    index = PackageIndex.parse(image, result.stdout)
    if not index.versions:  # apt-get update succeeded but listed nothing: never cache that as the suite's truth
        raise RunError(f"the package index of {image} is empty", hint="check the image's apt sources",
                       reproduce=f"docker run --rm {image} sh -c 'apt-get update && apt-cache policy'")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(index.versions))
    temporary.replace(path)
    return index
