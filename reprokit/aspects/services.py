"""Services the steps talk to (`services: {db: {image: "postgres:15", env: {...}}}`): databases, caches, brokers at
the customer's version, started on a private network before the steps (see reprokit/services/)."""
from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from reprokit.aspects.base import Aspect, Merge, SpecField
from reprokit.contract.values import ENV_NAME, Frozen, absolute

# A service's name is its hostname on the run's network: one DNS label.
SERVICE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class Ready(Frozen):
    """When a service counts as ready: one of a port that listens, a log line, a command that succeeds."""

    port: int | None = Field(default=None, ge=1, le=65535, description="a TCP port the service listens on")
    log: str | None = Field(default=None, description="a regex its log must match")
    run: str | None = Field(default=None, description="a shell command in the service that must exit 0")
    timeout: float = Field(default=60, gt=0, le=3600, description="seconds before the run gives up")

    @model_validator(mode="after")
    def _one_kind(self) -> Ready:
        kinds = [k for k in ("port", "log", "run") if getattr(self, k) is not None]
        if len(kinds) > 1:
            raise ValueError(f"ready gives {' and '.join(kinds)}; give one of port, log, run")
        if self.log is not None:
            try:
                re.compile(self.log)
            except re.error as error:
                raise ValueError(f"ready.log {self.log!r} is not a regular expression: {error}") from None
        return self


class Service(Frozen):
    """One service: the image the customer runs, with the official image's meaning of env and command."""

    image: str = Field(description="e.g. postgres:15; pulled where a registry answers, else built from Debian")
    env: dict[str, str] = {}
    command: tuple[str, ...] | None = Field(default=None, description="e.g. [postgres, -c, max_connections=20]")
    ready: Ready | None = None
    files: dict[str, str] = Field(default={}, description="absolute path in the service -> text or {source: file}")
    stand_in: bool = Field(default=False, description="where no registry answers, accept another server standing in "
                                                      "for the image (mysql -> the nearest MariaDB; not the same server)")

    @model_validator(mode="before")
    @classmethod
    def _numbers(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("env"), dict):
            data = {**data, "env": {k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                                    for k, v in data["env"].items()}}
        return data

    @model_validator(mode="after")
    def _valid(self) -> Service:
        from reprokit.contract.reference import parse_reference

        parse_reference(self.image)  # raises InvalidValue naming the bad part
        for key in self.env:
            if not ENV_NAME.match(key):
                raise ValueError(f"env: {key!r} is not an environment variable name (letters, digits, _)")
        for path in self.files:
            absolute(path)
        return self


def _services(value: dict[str, Service]) -> dict[str, Service]:
    for name in value:
        if not SERVICE_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid service name: it is the hostname the steps use, so write "
                             "lowercase letters, digits and '-' (e.g. 'db', 'cache-1')")
    return value


class Services(Aspect):
    """`services:`. Started fresh for every attempt on a network of the run's own; changing one needs no new app
    image. Atoms: a service's image (its version) is `services.NAME`; each env var, the command, `ready` and
    each seed file are atoms of their own; a service on one side only is one atom."""

    name = "services"
    fields = {"services": SpecField(Annotated[dict[str, Service], AfterValidator(_services)], {}, merge=Merge.MAP,
                                    sources=lambda services: [(name, "files") for name, s in services.items()
                                                              if isinstance(s, dict) and "files" in s],
                                    description="containers started before the steps, by hostname")}
    rebuild = False

    def validate(self, spec) -> None:
        if spec.services and spec.network == "none":
            raise ValueError("network: services need a network: `network: none` would cut the steps off from "
                             f"{', '.join(spec.services)}; remove one of the two")

    def atoms(self, spec) -> dict[str, str]:
        flat: dict[str, str] = {}
        for name, service in sorted(spec.services.items()):
            flat[f"services.{name}"] = service.image
            flat.update({f"services.{name}.env.{k}": v for k, v in sorted(service.env.items())})
            if service.command is not None:
                flat[f"services.{name}.command"] = json.dumps(list(service.command))
            if service.ready is not None:
                flat[f"services.{name}.ready"] = service.ready.model_dump_json(exclude_none=True)
            flat.update({f"services.{name}.files.{p}": text for p, text in sorted(service.files.items())})
        return flat

    def diff(self, baseline, customer) -> list[tuple[str, str | None, str | None, Any]]:
        """Per-part atoms where both sides have a service; one whole-service atom where only one side does.
        Rows are (name, baseline text, customer text, the customer's value as `apply_atom` takes it)."""
        before, after = self.atoms(baseline), self.atoms(customer)
        only = set(baseline.services) ^ set(customer.services)
        rows = []
        for key in [*before, *(k for k in after if k not in before)]:
            name = key.split(".")[1]
            if name in only:
                if key == f"services.{name}":
                    whole = customer.services.get(name)
                    rows.append((key, before.get(key), after.get(key), whole and whole.model_dump()))
            elif before.get(key) != after.get(key):
                rows.append((key, before.get(key), after.get(key), self.value(customer, "services", key[9:])))
        return rows

    def value(self, spec, field_name: str, key: str | None) -> Any:
        """``key`` is 'NAME' (the image), or 'NAME.env.X', 'NAME.command', 'NAME.ready', 'NAME.files.PATH'."""
        name, _, part = (key or "").partition(".")
        service = spec.services.get(name)
        if service is None:
            return None
        if not part:
            return service.image
        kind, _, item = part.partition(".")
        data = service.model_dump()
        return data[kind].get(item) if item else data.get(kind)

    def apply_atom(self, data: dict, field_name: str, key: str | None, value: Any) -> None:
        services = {name: dict(s) for name, s in data["services"].items()}
        name, _, part = (key or "").partition(".")
        if not part:
            if value is None:
                services.pop(name, None)
            elif isinstance(value, str) and name in services:
                services[name]["image"] = value
            else:
                services[name] = value if isinstance(value, dict) else {"image": value}
        else:
            kind, _, item = part.partition(".")
            target = services.setdefault(name, {"image": "?"})
            if item:
                target[kind] = {k: v for k, v in dict(target.get(kind) or {}).items() if k != item}
                if value is not None:
                    target[kind][item] = value
            else:
                target[kind] = value
        data["services"] = services

    def notes(self, spec) -> list[str]:
        return [f"services: {', '.join(spec.services)} start before the steps on a network of the run's own, "
                "fresh for every attempt; each name is the hostname the steps use"] if spec.services else []
