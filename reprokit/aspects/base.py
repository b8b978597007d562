"""The interface every dimension of a machine implements: one Aspect per module, registered in `registry`.

An aspect owns, for its spec field(s):
  - the field, its validation and how it merges under `extends` (`fields`, `Merge`);
  - how it is built: a Dockerfile fragment at its place in the layer order (`layer`, `render`, `context`),
    and the Debian packages it needs in the platform layer (`platform_packages`);
  - how it is applied when a container is created (`container`) or around each step (`step_prelude`);
  - how it is observed from inside a running container (`fact_script`, `read_facts`) and how a declared
    value that did not take effect is found (`check`);
  - how it splits into atoms for isolate (`atoms`, `apply_atom`, `rebuild`, `overlay`);
  - how `env import` maps a customer's collection back onto it (`from_collection`);
  - what `env show` should say about it (`notes`).
Every method has a neutral default, so an aspect implements only what it has.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, Callable, ClassVar

# An aspect sees the whole environment (reprokit.contract.models.EnvironmentSpec), which is built from the
# aspects' fields: naming that class here would tie the two modules in a circle.
EnvironmentSpec = Any


class Merge(str, Enum):
    """How a field merges under `extends` and splits into atoms."""

    SCALAR = "scalar"
    MAP = "map"
    PACKAGES = "packages"

    def describe(self) -> str:
        return {"scalar": "the child's value replaces the parent's; one atom",
                "map": "merged key by key; one atom per key",
                "packages": "merged by package name (the child's pin replaces the parent's); one atom per package"
                }[self.value]


class Layer(IntEnum):
    """Where an aspect's Dockerfile fragment goes: what changes least first, what changes most last."""

    BASE = 0
    PLATFORM = 10
    SYSTEM_PACKAGES = 20
    LOCALE = 30
    TIMEZONE = 31
    PYTHON_PACKAGES = 40
    PYTHON_CERTIFICATES = 45
    USER = 60
    FILES = 65  # after the user is made: a file under their home leaves the home theirs, as at container start
    WORKDIR = 70
    ENV = 80


@dataclass(frozen=True)
class SpecField:
    """One field of EnvironmentSpec that an aspect owns: its type (with validators), default and merge rule."""

    annotation: Any
    default: Any = None
    merge: Merge = Merge.SCALAR
    description: str = ""
    name_of: Callable[[str], str] | None = None  # for Merge.PACKAGES: the package name of an item
    # Values that may be {source: file}, read by the loader: True for the field's own map; or a function giving
    # the keys of maps nested in the field's value (a service's files).
    sources: bool | Callable[[dict], list[tuple]] = False


@dataclass(frozen=True)
class BuildOptions:
    """What a build knows besides the spec: the host CA bundle to trust while building, the pip installer."""

    ca_bundle: bytes | None = None
    installer: str = "pip"
    platform_packages: tuple[str, ...] = ()


@dataclass
class ImportContext:
    """What `env import` hands every aspect: the collection's facts, options, and the list of what was lost."""

    facts: dict
    kind: str = "collection"
    options: dict = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)  # what a container cannot reproduce
    notes: list[str] = field(default_factory=list)  # how a value was derived, for the description
    data: dict = field(default_factory=dict)  # the fields imported so far (os before python, say)
    inexact: list[str] = field(default_factory=list)  # imported, but not at the customer's exact value
    comments: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> item name -> YAML comment
    side_files: dict[str, str] = field(default_factory=dict)  # written beside the spec: suffix -> text


def mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


class Aspect:
    """One dimension of a machine. Subclasses set `name` and `fields` and override what they have."""

    name: ClassVar[str]
    fields: ClassVar[dict[str, SpecField]] = {}
    layer: ClassVar[Layer | None] = None
    rebuild: ClassVar[bool] = True  # does a probe that changes it need another image?
    overlay: ClassVar[bool] = False  # may isolate's probes apply it at container start instead of in the image?

    # -- build ---------------------------------------------------------------------------------------------

    def platform_packages(self, spec: EnvironmentSpec) -> list[str]:
        """Debian packages this aspect needs, installed once in the platform layer."""
        return []

    def render(self, spec: EnvironmentSpec, options: BuildOptions) -> str:
        """The Dockerfile fragment at ``layer`` ('' for none). Pure: no Docker, no files read."""
        return ""

    def context(self, spec: EnvironmentSpec, options: BuildOptions) -> dict[str, bytes]:
        """Files the fragment COPYs, by their path in the build context."""
        return {}

    # -- run -------------------------------------------------------------------------------------------------

    def container(self, spec: EnvironmentSpec) -> dict[str, Any]:
        """ContainerConfig fields this aspect sets when a container is created."""
        return {}

    def applied_at_start(self, spec: EnvironmentSpec) -> bool:
        """When images are shared (isolate's hybrids), is this aspect left out of the image and applied when the
        container starts (`start_env`, `start_files`)? Only `overlay` aspects can be, and only when ``spec``
        lets them (files cannot be copied onto a read-only root)."""
        return self.overlay

    def start_env(self, spec: EnvironmentSpec) -> dict[str, str]:
        """Env vars set at container start when the aspect is not baked; what the image's ENV would set."""
        return {}

    def start_files(self, spec: EnvironmentSpec) -> dict[str, Any]:
        """Files (absolute path -> reprokit.engine.FileEntry) copied in before start when the aspect is not
        baked, with the owner and mode the image's COPY gives them: the container is the same either way."""
        return {}

    def step_prelude(self, spec: EnvironmentSpec) -> str:
        """Shell lines every step (and every command run in a box) runs first, in its own shell."""
        return ""

    # -- observe -----------------------------------------------------------------------------------------------

    fact_script: ClassVar[str] = ""  # shell printing `section NAME` blocks (see reprokit/run/facts.py)

    def read_facts(self, sections: dict[str, list[str]]) -> dict[str, Any]:
        """Facts from the sections the script printed."""
        return {}

    def check(self, spec: EnvironmentSpec, facts: dict[str, Any]) -> str | None:
        """Why the declared value did not take effect, judging by ``facts``; None when it did (or is unset)."""
        return None

    # -- isolate -------------------------------------------------------------------------------------------------

    def atoms(self, spec: EnvironmentSpec) -> dict[str, str]:
        """'field[.key]' -> value, one entry per independently changeable thing; unset values absent."""
        flat: dict[str, str] = {}
        for name, spec_field in self.fields.items():
            value = getattr(spec, name)
            if spec_field.merge is Merge.PACKAGES:
                flat.update({f"{name}.{spec_field.name_of(p)}": p for p in value})
            elif spec_field.merge is Merge.MAP:
                items = value.model_dump() if hasattr(value, "model_dump") else value
                flat.update({f"{name}.{k}": _text(v) for k, v in sorted(items.items()) if v is not None})
            elif value is not None:
                flat[name] = _text(value)
        return flat

    def diff(self, baseline: EnvironmentSpec, customer: EnvironmentSpec) -> list[tuple[str, Any, Any, Any]]:
        """The atoms between two environments: (name, baseline text, customer text, customer value); None text
        means absent on that side. By default, the entries of `atoms` that differ."""
        before, after = self.atoms(baseline), self.atoms(customer)
        rows = []
        for name in [*before, *(n for n in after if n not in before)]:
            if before.get(name) != after.get(name):
                field_name, _, key = name.partition(".")
                value = self.value(customer, field_name, key or None) if name in after else None
                rows.append((name, before.get(name), after.get(name), value))
        return rows

    def validate(self, spec: EnvironmentSpec) -> None:
        """Raise ValueError when this aspect's value contradicts another field (checked once, after the fields)."""

    def value(self, spec: EnvironmentSpec, field_name: str, key: str | None) -> Any:
        """An atom's value as ``spec`` holds it (a number stays a number); None when absent."""
        value = getattr(spec, field_name)
        spec_field = self.fields[field_name]
        if spec_field.merge is Merge.PACKAGES:
            return next((p for p in value if spec_field.name_of(p) == key), None)
        if spec_field.merge is Merge.MAP:
            items = value.model_dump() if hasattr(value, "model_dump") else value
            return items.get(key)
        return value

    def apply_atom(self, data: dict, field_name: str, key: str | None, value: Any) -> None:
        """Set one atom in ``data`` (a spec's model_dump) to ``value`` (see `value`; None: absent)."""
        spec_field = self.fields[field_name]
        if spec_field.merge is Merge.PACKAGES:
            items = [p for p in data[field_name] if spec_field.name_of(p) != key]
            at = next((i for i, p in enumerate(data[field_name]) if spec_field.name_of(p) == key), len(items))
            if value is not None:
                items.insert(at, value)
            data[field_name] = tuple(items)
        elif spec_field.merge is Merge.MAP:
            current = data[field_name]
            mapping_ = dict(current)
            if value is None:
                mapping_.pop(key, None)
            else:
                mapping_[key] = value
            data[field_name] = mapping_
        else:
            data[field_name] = value

    # -- import ----------------------------------------------------------------------------------------------

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        """The fields a customer's collection implies ({} when it says nothing); add what is lost to context."""
        return {}

    # -- show ------------------------------------------------------------------------------------------------

    def notes(self, spec: EnvironmentSpec) -> list[str]:
        """Lines `env show` prints about how this aspect is applied (e.g. where a read-only root lets steps write)."""
        return []


def _text(value: Any) -> str:
    return str(value)
