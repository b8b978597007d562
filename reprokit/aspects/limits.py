"""Resource limits of an environment's containers (`limits: {memory, cpus, pids, nofile, shm}`)."""
from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from reprokit.aspects.base import Aspect, ImportContext, Merge, SpecField, mapping
from reprokit.contract.values import Frozen, size, size_bytes

DEFAULT_LIMITS = {"memory": "2g", "pids": 1024}
MAX_NOFILE = 1 << 20  # the kernel's default fs.nr_open


class Limits(Frozen):
    """Resource limits applied to every container of an environment."""

    memory: str | None = Field(default=DEFAULT_LIMITS["memory"], description="e.g. 256m, 2g; null for none")
    cpus: float | None = Field(default=None, gt=0, le=256)
    pids: int | None = Field(default=DEFAULT_LIMITS["pids"], gt=0, le=4_194_304)
    nofile: int | None = Field(default=None, description="open files (soft = hard), e.g. 1024; null: the engine's")
    shm: str | None = Field(default=None, description="size of /dev/shm, e.g. 64m; null: the engine's (64m)")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        return size(value)

    @field_validator("shm", mode="before")
    @classmethod
    def _shm(cls, value: Any) -> Any:
        if value is not None and not (isinstance(value, str) and re.match(r"^\d+(\.\d+)?[bkmg]?$", value, re.I)):
            raise ValueError(f"{value!r} is not a size for /dev/shm; write e.g. '64m' or '1g'")
        return value

    @field_validator("nofile", mode="before")
    @classmethod
    def _nofile(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_NOFILE):
            raise ValueError(f"{value!r} is not a number of open files; write a whole number from 1 to "
                             f"{MAX_NOFILE}, e.g. 1024")
        return value


class LimitsAspect(Aspect):
    """`limits:`, applied when the container is created (cgroups, rlimits, /dev/shm): no rebuild."""

    name = "limits"
    fields = {"limits": SpecField(Limits, Limits(), merge=Merge.MAP)}
    rebuild = False
    fact_script = "\n".join([
        "section memory_limit; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null",
        "section pids_limit; cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max 2>/dev/null",
        "section cpu_limit; cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo \"$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null)\"",
        "section nofile; ulimit -n; ulimit -Hn",
        "section shm; df -k /dev/shm 2>/dev/null | awk 'NR==2 {print $2}'",
    ])

    def container(self, spec) -> dict[str, Any]:
        limits = spec.limits
        return {"memory": limits.memory, "cpus": limits.cpus, "pids": limits.pids, "nofile": limits.nofile,
                "shm": limits.shm}

    def read_facts(self, sections) -> dict[str, Any]:
        one = {k: (v[0] if v else "") for k, v in sections.items()}
        cpu = one.get("cpu_limit", "").split()
        nofile = sections.get("nofile") or []
        shm = one.get("shm", "")
        return {
            "memory_limit": _limit(one.get("memory_limit", "")),
            "pids_limit": one.get("pids_limit", ""),
            "cpu_limit": f"{int(cpu[0]) / int(cpu[1]):g}" if len(cpu) == 2 and cpu[0].lstrip("-").isdigit()
            and int(cpu[0]) > 0 else "max",
            "nofile": "/".join(nofile[:2]),
            "shm_kib": shm,
        }

    def check(self, spec, facts) -> str | None:
        limits, problems = spec.limits, []
        if limits.memory and facts.get("memory_limit", "").isdigit() and \
                int(facts["memory_limit"]) != size_bytes(limits.memory):
            problems.append(f"memory {limits.memory}: the container's cgroup says {facts['memory_limit']} bytes")
        if limits.pids and facts.get("pids_limit", "").isdigit() and int(facts["pids_limit"]) != limits.pids:
            problems.append(f"pids {limits.pids}: the container's cgroup says {facts['pids_limit']}")
        if limits.nofile and facts.get("nofile") and facts["nofile"] != f"{limits.nofile}/{limits.nofile}":
            problems.append(f"nofile {limits.nofile}: `ulimit -n`/`ulimit -Hn` say {facts['nofile']}")
        if limits.shm and facts.get("shm_kib", "").isdigit() and \
                int(facts["shm_kib"]) != size_bytes(limits.shm) // 1024:
            problems.append(f"shm {limits.shm}: /dev/shm is {facts['shm_kib']} KiB")
        return "; ".join(problems) or None

    def apply_atom(self, data: dict, field_name: str, key: str | None, value: Any) -> None:
        """A limit absent on one side means no limit there (None), not the default."""
        data[field_name] = {**dict(data[field_name]), key: value}

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        """The customer's cgroup limits and open-files/shm sizes (an image carries none: the defaults apply)."""
        facts = context.facts
        cgroup = mapping(facts.get("cgroup"))
        limits: dict[str, Any] = {}
        if cgroup and context.kind != "image":
            memory, cpus, pids = (str(cgroup.get(k, "max")) for k in ("memory", "cpus", "pids"))
            mib = int(memory) // (1 << 20) if memory.isdigit() else 0
            limits = {"memory": (f"{mib}m" if int(memory) == mib << 20 else memory) if memory.isdigit() else None,
                      "cpus": float(cpus) if re.match(r"^\d+(\.\d+)?$", cpus) else None,
                      "pids": int(pids) if pids.isdigit() else None}
        if context.kind == "image":
            return {"limits": limits}
        nofile = str(mapping(facts.get("ulimits")).get("nofile", ""))
        if nofile.isdigit() and 0 < int(nofile) <= MAX_NOFILE:
            limits["nofile"] = int(nofile)
        shm = str(facts.get("shm_kib", ""))
        if shm.isdigit() and int(shm) > 0 and int(shm) != 65536:  # 64m is Docker's default and reprokit's
            limits["shm"] = f"{int(shm) // 1024}m" if int(shm) % 1024 == 0 else f"{shm}k"
        return {"limits": limits}


def _limit(value: str) -> str:
    return value if not value.isdigit() or int(value) < 1 << 60 else "max"
