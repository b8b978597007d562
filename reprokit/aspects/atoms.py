"""Atoms: two environments' declared difference split into indivisible changes, and hybrids made from them.

What an atom is, and whether applying it needs a rebuild, is each aspect's to say; this module only iterates
the registry."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from reprokit.aspects.registry import ASPECTS, aspect_of
from reprokit.contract.models import EnvironmentSpec


@dataclass(frozen=True)
class Atom:
    """One indivisible difference: a field (and key) whose value goes from ``baseline`` to ``customer``;
    None means absent on that side."""

    field: str
    key: str | None
    baseline: str | None
    customer: str | None
    order: int = field(default=0, compare=False)  # position in atoms(): hybrids apply atoms in this order
    value: Any = field(default=None, compare=False, repr=False)  # the customer's value as the spec holds it

    @property
    def name(self) -> str:
        return self.field if self.key is None else f"{self.field}.{self.key}"

    @property
    def rebuild(self) -> bool:
        """Does applying it need another image? (No for what is applied when the container starts.)"""
        return aspect_of(self.field).rebuild

    def describe(self) -> str:
        return f"{self.name}: {_shown(self.baseline)} -> {_shown(self.customer)}"

    def to_dict(self) -> dict:
        return {"name": self.name, "field": self.field, "key": self.key, "baseline": self.baseline,
                "customer": self.customer, "rebuild": self.rebuild}


def _shown(value: str | None) -> str:
    if value is None:
        return "(absent)"
    if "\n" in value.rstrip("\n") or len(value) > 60:
        digest = hashlib.sha256(value.encode()).hexdigest()[:8]
        return f"<{len(value.splitlines())} lines, sha256 {digest}>"
    return value.rstrip("\n")


def flatten_spec(spec: EnvironmentSpec) -> dict[str, str]:
    """An environment as 'field[.key]' -> value, one entry per independently changeable thing (every
    aspect's atoms, in registry order); unset optional fields are absent."""
    return {name: value for aspect in ASPECTS for name, value in aspect.atoms(spec).items()}


def atoms(baseline: EnvironmentSpec, customer: EnvironmentSpec) -> list[Atom]:
    """Every declared difference between ``baseline`` and ``customer``, one atom each, in registry order."""
    rows = [row for aspect in ASPECTS for row in aspect.diff(baseline, customer)]
    return [Atom(aspect_field(name), name.partition(".")[2] or None, before, after, order=i, value=value)
            for i, (name, before, after, value) in enumerate(rows)]


def aspect_field(name: str) -> str:
    return name.partition(".")[0]


def hybrid(baseline: EnvironmentSpec, applied, *, name: str | None = None) -> EnvironmentSpec:
    """The baseline with ``applied`` atoms (or groups of atoms, anything with `.atoms`) set to the customer's
    values."""
    data = baseline.model_dump()
    # A fixed order (the customer's, for added packages) so one set of atoms always gives one image.
    flat = sorted((a for item in applied for a in getattr(item, "atoms", (item,))), key=lambda a: a.order)
    for atom in flat:
        aspect_of(atom.field).apply_atom(data, atom.field, atom.key, atom.value)
    data["name"] = name or f"{baseline.name}+{len(flat)}"
    data["description"] = f"{baseline.name} plus " + (", ".join(a.name for a in flat) or "nothing")
    return type(baseline).model_validate(data)
