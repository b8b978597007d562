"""Extra /etc/hosts names the steps resolve (`hosts: {billing.acme.internal: 10.1.2.3}`)."""
from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, Merge, SpecField, mapping
from reprokit.contract.values import HOSTNAME

LOCAL = ("localhost", "ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes",
         "ip6-allrouters")


def is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _hosts(value: dict[str, str]) -> dict[str, str]:
    for name, address in value.items():
        if not HOSTNAME.match(name):
            raise ValueError(f"{name!r} is not a hostname; write e.g. 'billing.acme.internal'")
        if not isinstance(address, str) or not (is_address(address) or HOSTNAME.match(address)):
            raise ValueError(f"{name}: {address!r} is not an IP address or a service name; write e.g. 10.1.2.3")
    return value


class Hosts(Aspect):
    """`hosts: {name: address}`; added when the container is created (no rebuild). An address that is not an
    IP names a service of the environment (see services)."""

    name = "hosts"
    fields = {"hosts": SpecField(Annotated[dict[str, str], AfterValidator(_hosts)], {}, merge=Merge.MAP,
                                 description="extra /etc/hosts names -> an IP address or a service name")}
    rebuild = False
    fact_script = "section etc_hosts; cat /etc/hosts; section own_hostname; cat /proc/sys/kernel/hostname"

    def container(self, spec) -> dict[str, Any]:
        fixed = {name: address for name, address in spec.hosts.items() if is_address(address)}
        return {"hosts": fixed} if fixed else {}

    def read_facts(self, sections) -> dict[str, Any]:
        own = (sections.get("own_hostname") or [""])[0]
        entries = {}
        for line in sections.get("etc_hosts", []):
            words = line.split("#", 1)[0].split()
            if own in words[1:]:
                continue  # the container's own address line, which Docker writes
            for name in words[1:]:
                if name not in LOCAL:
                    entries[name] = words[0]
        return {"hosts": entries}

    def validate(self, spec) -> None:
        services = getattr(spec, "services", {}) or {}
        for name, address in spec.hosts.items():
            if not is_address(address) and address not in services:
                known = f"services here: {', '.join(services)}" if services else "this environment has no services"
                raise ValueError(f"hosts.{name}: {address!r} is neither an IP address nor a service of this "
                                 f"environment ({known}); write an IP such as 10.1.2.3 or a service's name")

    def check(self, spec, facts) -> str | None:
        seen = mapping(facts.get("hosts"))
        wrong = [f"{name} -> {seen.get(name, 'absent')}" for name, address in spec.hosts.items()
                 if is_address(address) and seen.get(name) != address]
        return f"/etc/hosts has {', '.join(wrong)}" if wrong else None

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        entries = {str(k): str(v) for k, v in mapping(context.facts.get("etc_hosts")).items()
                   if HOSTNAME.match(str(k)) and is_address(str(v)) and str(k) not in LOCAL
                   and not str(v).startswith("127.") and str(v) != "::1"}
        return {"hosts": entries} if entries else {}
