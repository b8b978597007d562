"""A read-only root filesystem (`read_only: true`) and tmpfs mounts (`tmpfs: {/tmp: 16m}`), as in a hardened pod."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, Merge, SpecField, mapping
from reprokit.contract.values import SIZE, absolute, size_bytes

# Mounts every container has; a collection's tmpfs at these paths says nothing about the customer's setup.
SYSTEM_MOUNTS = ("/dev", "/dev/shm", "/run", "/run/lock", "/sys", "/proc", "/tmp/.reprokit")


def _tmpfs(value: dict[str, str]) -> dict[str, str]:
    for path, size in value.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"{path!r} is not an absolute path; write e.g. '/tmp: 16m'")
        absolute(path)
        if not SIZE.match(str(size)):
            raise ValueError(f"{path}: {size!r} is not a size; write e.g. '16m' or '1g'")
    return value


class ReadOnly(Aspect):
    """`read_only: true`, `tmpfs: {path: size}`. Applied when the container is created: no rebuild. The case's
    files and the steps' outputs still need somewhere to go: the workdir (and reprokit's own /tmp/.reprokit)
    become volumes of their own, which `env show` says."""

    name = "read_only"
    fields = {"read_only": SpecField(bool, False, description="root filesystem read-only (a hardened pod)"),
              "tmpfs": SpecField(Annotated[dict[str, str], AfterValidator(_tmpfs)], {}, merge=Merge.MAP,
                                 description="writable tmpfs mounts: absolute path -> size, e.g. {/tmp: 16m}")}
    rebuild = False
    fact_script = ("section root_mount; awk '$2 == \"/\" {print $4}' /proc/mounts | tail -1 | cut -d, -f1\n"
                   "section tmpfs; awk '$3 == \"tmpfs\" {print $2, $4}' /proc/mounts")

    def container(self, spec) -> dict[str, Any]:
        settings: dict[str, Any] = {"tmpfs": dict(spec.tmpfs)} if spec.tmpfs else {}
        if spec.read_only:
            settings.update(read_only=True, writable=(spec.workdir,))
        return settings

    def read_facts(self, sections) -> dict[str, Any]:
        mounts = {}
        for line in sections.get("tmpfs", []):
            path, _, options = line.partition(" ")
            if path != "/dev" and not path.startswith(("/proc/", "/sys/")):
                size = next((o.split("=", 1)[1] for o in options.split(",") if o.startswith("size=")), "?")
                mounts[path] = size
        return {"root_filesystem": (sections.get("root_mount") or ["?"])[0], "tmpfs": mounts}

    def check(self, spec, facts) -> str | None:
        problems = []
        if spec.read_only and facts.get("root_filesystem") != "ro":
            problems.append(f"read_only declared, but / is mounted {facts.get('root_filesystem')!r}")
        for path, size in spec.tmpfs.items():
            found = mapping(facts.get("tmpfs")).get(path)
            if found is None:
                problems.append(f"tmpfs {path}: not mounted")
            elif found[-1:].isalpha() and found[:-1].isdigit() and size_bytes(found.lower()) != size_bytes(size.lower()):
                problems.append(f"tmpfs {path}: {size} declared, mounted with size {found}")
        return "; ".join(problems) or None

    def notes(self, spec) -> list[str]:
        if not spec.read_only:
            return []
        return [f"read-only root: the workdir {spec.workdir} and /tmp/.reprokit are volumes of their own, so the "
                "case's files are copied there and the steps can write there; everything else is read-only"
                + (f" except the tmpfs mounts {', '.join(spec.tmpfs)}" if spec.tmpfs else "")]

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        facts = context.facts
        mounts = {str(path): str(size) for path, size in mapping(facts.get("tmpfs_mounts")).items()
                  if str(path) not in SYSTEM_MOUNTS and str(path).startswith("/")}
        sized = {}
        for path, size in mounts.items():
            kib = size.lower().removesuffix("k")
            sized[path] = f"{int(kib) // 1024}m" if kib.isdigit() and int(kib) % 1024 == 0 else size.lower()
        found: dict[str, Any] = {"tmpfs": {p: s for p, s in sized.items() if SIZE.match(s)}}
        if facts.get("root_read_only") is True:
            found["read_only"] = True
        return found
