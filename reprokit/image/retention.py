"""Images on disk: what each reprokit image is for, what the project needs now, and which ones to remove.

The retention rule (``plan``); for each image the first line that applies decides:
  1. an image the project's environments or cases need now stays (their tags are computed; nothing is built);
  2. an image someone else also tagged stays (removing our tag would not free it, removing it would take theirs);
  3. a base image stays unless ``include_base``;
  4. an untagged image goes: its tag names a newer build now, so nothing can name it;
  5. an isolation hybrid goes: isolate keeps its probes' outcomes and rebuilds a hybrid only when asked again;
  6. an image unused for longer than ``older_than`` goes;
  7. while what is left takes more than ``keep_size`` (layers shared by images counted once), the least recently
     used image that no earlier line keeps goes.
Images that reprokit did not make are never listed (``identify``), so never removed; the engine refuses to
remove an image a container uses, and that image stays.
"""
from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Iterable

from reprokit.engine import Engine, EngineImage, get_engine
from reprokit.errors import EngineError, InvalidValue, ReprokitError
from reprokit.image.usage import forget, last_uses
from reprokit.contract.load import Project


class ImageKind(str, Enum):
    """What a reprokit image is for."""

    ENVIRONMENT = "environment"
    CASE = "case"
    HYBRID = "hybrid"
    SERVICE = "service"
    BASE = "base"
    OTHER = "other"

    def describe(self) -> str:
        return {"environment": "a named environment from environments/",
                "case": "an environment declared inline in a case",
                "hybrid": "an isolation probe: the baseline plus some of the customer's differences",
                "service": "a service container image (database, cache) built from Debian packages",
                "base": "a Debian base image made with debootstrap (reprokit images bootstrap)",
                "other": "made by reprokit, purpose not recorded"}[self.value]


@dataclass(frozen=True)
class StoredImage:
    """A reprokit image in the engine: what it is for, how big, when it was last used."""

    id: str
    tags: tuple[str, ...]
    kind: ImageKind
    name: str  # the environment, case side ("SUP-1/environment") or service it was built for; "" if unknown
    size: int  # bytes, shared layers included
    created: float
    last_used: float | None = None  # None: no use recorded (built before records were kept, or elsewhere)
    foreign_tags: tuple[str, ...] = ()  # tags reprokit did not give it
    layers: tuple[tuple[str, int], ...] = ()

    @property
    def reference(self) -> str:
        return self.tags[0] if self.tags else self.id.removeprefix("sha256:")[:12]

    @property
    def idle_since(self) -> float:
        return self.last_used or self.created


# -- what reprokit made ----------------------------------------------------------------------------------------

BUILT_LABELS = ("reprokit.kind", "reprokit.spec-hash")


def identify(image: EngineImage) -> tuple[ImageKind, str] | None:
    """What a reprokit image is for and whom, or None if reprokit did not make it. Labels alone do not prove it:
    an image built FROM a reprokit image inherits its labels. So an image is reprokit's when a tag of it is in
    a ``reprokit/`` repository, when it is the base its ``reprokit.base`` label names, or when it is untagged
    and carries the labels reprokit's builds set (a newer build of the same content took its tag)."""
    labels, tags = image.labels, image.tags
    if labels.get("reprokit.base") and labels["reprokit.base"] in tags:
        return ImageKind.BASE, labels["reprokit.base"]
    service = labels.get("reprokit.service.image", "")
    built = any(key in labels for key in BUILT_LABELS) or any(key.startswith("reprokit.service") for key in labels)
    if not any(tag.startswith("reprokit/") for tag in tags) and not (built and not tags):
        return None
    environment = labels.get("reprokit.environment", "")
    kind = labels.get("reprokit.kind")
    if kind in (ImageKind.ENVIRONMENT, ImageKind.CASE, ImageKind.HYBRID, ImageKind.SERVICE):
        return ImageKind(kind), environment or service
    if service or any(tag.startswith("reprokit/service") for tag in tags):
        return ImageKind.SERVICE, service
    if environment:
        # Before images were labelled with their kind: hybrids are named "baseline+3" and names never hold
        # '+'; a case's inline environments are named "ID/role".
        if "+" in environment:
            return ImageKind.HYBRID, environment
        return (ImageKind.CASE if "/" in environment else ImageKind.ENVIRONMENT), environment
    return ImageKind.OTHER, ""


def stored_images(engine: Engine | None = None, *, match: Iterable[str] = (), layers: bool = False,
                  records: dict[str, dict] | None = None) -> list[StoredImage]:
    """Every image reprokit made in the engine (or those whose tag, id or name matches a ``match`` glob), with
    its last use from build()'s records and, with ``layers``, its layers (slower: one call per image)."""
    engine = engine or get_engine()
    records = last_uses() if records is None else records
    patterns = list(match)
    found = []
    for image in engine.images():
        identified = identify(image)
        if identified is None:
            continue
        kind, name = identified
        if patterns and not any(fnmatch.fnmatchcase(text, pattern) for pattern in patterns
                                for text in (*image.tags, name, image.id.removeprefix("sha256:")[:12])):
            continue
        uses = [r["used"] for tag in image.tags if (r := records.get(tag)) and r.get("id") == image.id]
        times = [t for used in uses for t in used.values() if isinstance(t, (int, float))]
        if kind is ImageKind.HYBRID:
            # A hybrid with exactly an environment's content is that environment's image too: build()'s records say so.
            other = max(((t, k) for used in uses for k, t in used.items() if k in ("environment", "case")),
                        default=None)
            kind = ImageKind(other[1]) if other else kind
        ours = tuple(t for t in image.tags if t.startswith("reprokit/") or (kind is ImageKind.BASE and t == name))
        found.append(StoredImage(image.id, ours, kind, name, image.size, image.created, max(times, default=None),
                                 tuple(t for t in image.tags if t not in ours)))
    if layers:
        found = [replace(image, layers=engine.image_layers(image.id)) for image in found]
    return sorted(found, key=lambda image: (image.kind.value, -image.idle_since))


def footprint(images: Iterable[StoredImage]) -> int:
    """Bytes on disk of these images together: a layer several of them share is counted once."""
    layers: dict[str, int] = {}
    for image in images:
        layers.update(dict(image.layers or ((image.id, image.size),)))
    return sum(layers.values())


# -- what the project needs ------------------------------------------------------------------------------------


def needed_images(project: Project) -> dict[str, list[str]]:
    """Image tag (and base image) -> who needs it: every environment in environments/ and both sides of every
    case in cases/, as a run now would tag them. Nothing is built. A file that does not load is an error:
    without it, what the project needs is unknown."""
    from reprokit.aspects.arch import base_reference
    from reprokit.image.render import render_for_build
    from reprokit.contract.load import load_case, load_environment

    needed: dict[str, list[str]] = {}

    def need(spec, who: str) -> None:
        needed.setdefault(render_for_build(spec).tag(), []).append(who)
        needed.setdefault(base_reference(spec), []).append(f"base of {who}")  # arm64v8/debian:... for arm64

    try:
        for name in project.environment_names():
            need(load_environment(name, root=project.root), f"environment {name}")
        for case_id in project.case_ids():
            case = load_case(case_id, root=project.root)
            for role in ("environment", "baseline"):
                need(getattr(case, role), f"case {case_id} ({role})")
    except ReprokitError as error:
        raise ReprokitError(f"cannot tell which images the project needs: {error.message}",
                            hint=(error.hint + "; " if error.hint else "") + "nothing is pruned until every "
                            "environment and case loads (fix the file, or move it out of the project)") from None
    return needed


# -- the rule ------------------------------------------------------------------------------------------------------


RULES = ("needed", "tagged-elsewhere", "base", "untagged", "hybrid", "age", "budget", "recent")  # the rule's lines


@dataclass(frozen=True)
class Decision:
    """One image's fate: ``rule`` names the line of the rule that decided it, ``why`` says it to a person."""

    image: StoredImage
    remove: bool
    rule: str  # one of RULES
    why: str


@dataclass
class Plan:
    """What ``plan`` decided for every image, and the disk the images take before and after."""

    decisions: list[Decision]
    before: int
    after: int
    keep_size: int | None = None
    failures: dict[str, str] = field(default_factory=dict)  # image id -> why the engine kept it

    @property
    def removals(self) -> list[Decision]:
        """What goes, in the rule's order, least recently used first within a line."""
        return sorted((d for d in self.decisions if d.remove), key=lambda d: (RULES.index(d.rule), d.image.idle_since))

    @property
    def over_budget(self) -> bool:
        return self.keep_size is not None and self.after > self.keep_size


def plan(images: list[StoredImage], needed: dict[str, list[str]], *, now: float | None = None,
         older_than: float | None = None, keep_size: int | None = None, include_base: bool = False) -> Plan:
    """Which images go, by the rule in this module's docstring. Pure: nothing is removed."""
    now = time.time() if now is None else now
    decisions = {image.id: _decide(image, needed, now=now, older_than=older_than, include_base=include_base)
                 for image in images}
    kept = lambda: [d.image for d in decisions.values() if not d.remove]  # noqa: E731
    if keep_size is not None:
        for image in sorted((d.image for d in decisions.values() if d.rule == "recent"), key=lambda i: i.idle_since):
            if footprint(kept()) <= keep_size:
                break
            decisions[image.id] = Decision(image, True, "budget", f"over the {size_text(keep_size)} budget; least "
                                                                  f"recently used ({ago(now - image.idle_since)} ago)")
    return Plan(list(decisions.values()), footprint(images), footprint(kept()), keep_size)


def _decide(image: StoredImage, needed: dict[str, list[str]], *, now: float, older_than: float | None,
            include_base: bool) -> Decision:
    """Lines 1-6 of the rule for one image; "recent" ones may still go to meet the size budget (line 7)."""
    who = [w for tag in (*image.tags, *image.foreign_tags) for w in needed.get(tag, ())]
    idle = now - image.idle_since
    if who:
        return Decision(image, False, "needed", "needed by " + ", ".join(who[:3]) +
                        (f" and {len(who) - 3} more" if len(who) > 3 else ""))
    if image.foreign_tags:
        return Decision(image, False, "tagged-elsewhere", f"also tagged {', '.join(image.foreign_tags)}")
    if image.kind is ImageKind.BASE and not include_base:
        return Decision(image, False, "base", "base image (pass --include-base to prune it too)")
    if not image.tags:
        return Decision(image, True, "untagged", "untagged: its tag names a newer build now")
    if image.kind is ImageKind.HYBRID:
        return Decision(image, True, "hybrid", "isolation hybrid, not needed by the project")
    if older_than is not None and idle > older_than:
        return Decision(image, True, "age", f"unused for {ago(idle)} (more than {ago(older_than)})")
    return Decision(image, False, "recent", f"used {ago(idle)} ago")


def prune(plan: Plan, *, engine: Engine | None = None) -> Plan:
    """Remove what ``plan`` says goes; an image the engine keeps (a container uses it) is noted in ``failures``
    and counted as kept."""
    engine = engine or get_engine()
    for decision in plan.removals:
        image = decision.image
        try:
            for reference in image.tags or (image.id,):
                engine.remove_image(reference)
        except EngineError as error:
            plan.failures[image.id] = error.message
            continue
        forget(image.tags)
    if plan.failures:
        plan.after = footprint(d.image for d in plan.decisions if not d.remove or d.image.id in plan.failures)
    return plan


# -- values ----------------------------------------------------------------------------------------------------------

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """'7d' -> seconds (s, m, h, d, w)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text).lower())
    if not found:
        raise InvalidValue(f"--older-than {text!r} is not an age", hint="write e.g. '7d', '12h' or '2w'")
    return float(found.group(1)) * UNITS[found.group(2)]


def parse_size(text: str) -> int:
    """'10g' -> bytes (binary units, as Docker reads sizes)."""
    from reprokit.contract.values import SIZE, size_bytes

    if not SIZE.match(str(text).strip()):
        raise InvalidValue(f"--keep-size {text!r} is not a size", hint="write e.g. '10g' or '500m'")
    return size_bytes(str(text).strip())


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, length in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length * (2 if unit == "days" else 1):
            return f"{seconds / length:.0f} {unit}"
    return f"{seconds:.0f} s"


def size_text(size: int) -> str:
    """Binary units, as the budget is read ('10g' is 10 GiB)."""
    for unit, length in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= length:
            return f"{size / length:.1f} {unit}"
    return f"{size} B"
