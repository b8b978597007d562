"""Images on disk (reprokit/image/retention.py): what reprokit made, what the project needs, and which go."""
from __future__ import annotations

import pytest

from fakes import FakeEngine, write_project
from reprokit.engine import EngineImage
from reprokit.errors import InvalidValue, ReprokitError
from reprokit.image.build import build
from reprokit.image.render import render_for_build
from reprokit.image.retention import (ImageKind, StoredImage, footprint, identify, needed_images, parse_age,
                                      parse_size, plan, prune, stored_images)
from reprokit.image.usage import last_uses, record_use
from reprokit.contract.load import Project, load_case, load_environment
from reprokit.contract.models import EnvironmentSpec

DAY = 86400.0
NOW = 1_000 * DAY
MB = 1 << 20


def engine_image(*tags: str, **labels: str) -> EngineImage:
    return EngineImage("sha256:" + "".join(tags).encode().hex()[:12], tags, labels, 1, 0.0)


def image(name: str, *, kind: ImageKind = ImageKind.ENVIRONMENT, size: int = 100 * MB, used_days_ago: float | None = 1,
          tags: tuple[str, ...] | None = None, layers=(), foreign: tuple[str, ...] = ()) -> StoredImage:
    return StoredImage(f"sha256:{name}", (f"reprokit/env:{name}",) if tags is None else tags, kind, name, size,
                       created=NOW - 30 * DAY, last_used=None if used_days_ago is None else NOW - used_days_ago * DAY,
                       foreign_tags=foreign, layers=layers)


def gone(decided) -> list[str]:
    return [d.image.name for d in decided.removals]


# -- what reprokit made -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels, expected", [
    ({"reprokit.kind": "hybrid", "reprokit.environment": "baseline+2"}, (ImageKind.HYBRID, "baseline+2")),
    ({"reprokit.environment": "baseline+3"}, (ImageKind.HYBRID, "baseline+3")),  # built before kinds were labelled
    ({"reprokit.environment": "SUP-1/environment"}, (ImageKind.CASE, "SUP-1/environment")),
    ({"reprokit.environment": "acme-bullseye"}, (ImageKind.ENVIRONMENT, "acme-bullseye")),
    ({"reprokit.service.image": "postgres:15"}, (ImageKind.SERVICE, "postgres:15")),
    ({}, (ImageKind.OTHER, "")),
])
def test_images_in_reprokit_repositories_are_told_apart_by_their_labels(labels, expected):
    assert identify(engine_image("reprokit/env:abc", **labels)) == expected


def test_a_base_is_the_image_its_base_label_names_and_images_built_on_it_are_not_reprokits():
    labels = {"reprokit.kind": "base", "reprokit.base": "debian:bookworm"}
    assert identify(engine_image("debian:bookworm", **labels)) == (ImageKind.BASE, "debian:bookworm")
    # Someone's image FROM the base (or FROM a reprokit environment) inherits the labels, not the authorship.
    assert identify(engine_image("team/app:1", **labels)) is None
    assert identify(engine_image("rk-test/x:1", **{"reprokit.environment": "acme", "reprokit.spec-hash": "ab"})) is None
    # A reprokit environment built on the base overrides the kind label and is not the base.
    assert identify(engine_image("reprokit/env:abc", **{**labels, "reprokit.kind": "environment"}))[0] is \
        ImageKind.ENVIRONMENT


def test_untagged_images_are_reprokits_only_with_the_labels_its_builds_set():
    assert identify(engine_image(**{"reprokit.environment": "acme", "reprokit.spec-hash": "ab"})) == \
        (ImageKind.ENVIRONMENT, "acme")
    assert identify(engine_image()) is None
    assert identify(engine_image(**{"reprokit.session": "x"})) is None
    assert identify(engine_image("debian:bookworm")) is None


def test_stored_images_lists_only_reprokits_with_last_use_from_records_of_the_same_image(tmp_path):
    engine = FakeEngine()
    engine.add_image("team/app:1", labels={"reprokit.environment": "acme", "reprokit.spec-hash": "x"}, size=5)
    a = engine.add_image("reprokit/env:a", labels={"reprokit.kind": "environment", "reprokit.environment": "acme"})
    engine.add_image("reprokit/env:b", labels={"reprokit.kind": "environment", "reprokit.environment": "other"})
    record_use("reprokit/env:a", a, kind="environment", now=NOW)
    record_use("reprokit/env:b", "sha256:an-older-build", kind="environment", now=NOW)
    found = {i.name: i for i in stored_images(engine)}
    assert set(found) == {"acme", "other"}
    assert found["acme"].last_used == NOW and found["other"].last_used is None
    assert [i.name for i in stored_images(engine, match=["*:a"])] == ["acme"]
    assert [i.name for i in stored_images(engine, match=["oth*"])] == ["other"]


def test_a_hybrid_also_used_as_an_environment_is_listed_as_the_environment(tmp_path):
    engine = FakeEngine()
    hybrid = engine.add_image("reprokit/env:h", labels={"reprokit.kind": "hybrid", "reprokit.environment": "base+2"})
    record_use("reprokit/env:h", hybrid, kind="hybrid", now=NOW - DAY)
    assert stored_images(engine)[0].kind is ImageKind.HYBRID
    record_use("reprokit/env:h", hybrid, kind="case", now=NOW)
    assert stored_images(engine)[0].kind is ImageKind.CASE
    assert last_uses()["reprokit/env:h"]["used"] == {"hybrid": NOW - DAY, "case": NOW}


# -- recording use ----------------------------------------------------------------------------------------------


def test_build_records_each_use_and_labels_the_kind(image_use_records):
    engine = FakeEngine()
    spec = EnvironmentSpec(name="SUP-1/environment", os="debian:bookworm")
    first = build(spec, engine=engine)
    assert engine.builds[0]["labels"]["reprokit.kind"] == "case"
    record = last_uses(image_use_records)[first.tag]
    assert record["id"] == first.id and set(record["used"]) == {"case"}
    again = build(spec.model_copy(update={"name": "baseline+1"}), engine=engine, kind="hybrid")
    assert not again.built and set(last_uses()[first.tag]["used"]) == {"case", "hybrid"}
    build(EnvironmentSpec(name="acme", os="debian:bookworm", env={"A": "1"}), engine=engine, kind="hybrid")
    assert engine.builds[-1]["labels"]["reprokit.kind"] == "hybrid"


def test_a_build_records_the_use_of_its_base_and_a_reused_image_does_not(image_use_records):
    engine = FakeEngine()
    build(EnvironmentSpec(name="acme", os="debian:bullseye"), engine=engine)
    assert set(last_uses()["debian:bullseye"]["used"]) == {"base"}
    (image_use_records / "debian%3Abullseye.json").unlink()
    build(EnvironmentSpec(name="acme", os="debian:bullseye"), engine=engine)  # present: its base is not touched
    assert "debian:bullseye" not in last_uses()


def test_a_service_image_built_from_a_debian_recipe_records_the_use_of_its_base(image_use_records):
    from reprokit.services.images import service_image
    from reprokit.services.recipes import recipe_for

    service_image("postgres:15", engine=FakeEngine())
    assert set(last_uses()[f"debian:{recipe_for('postgres:15').suite}"]["used"]) == {"base"}


def test_an_unwritable_record_folder_never_fails_a_build(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("REPROKIT_IMAGE_USE", str(blocker / "sub"))
    assert build(EnvironmentSpec(name="acme", os="debian:bookworm"), engine=FakeEngine()).built


# -- what the project needs -------------------------------------------------------------------------------------

PROJECT = {
    "environments/baseline.yaml": "os: debian:bookworm\n",
    "environments/acme.yaml": "extends: baseline\nos: debian:bullseye\nenv: {MODE: strict}\n",
    "cases/SUP-1/case.yaml": "id: SUP-1\ntitle: t\nenvironment: {extends: baseline, env: {X: '1'}}\n"
                             "steps: ['false']\nexpect: {exit_code: 1}\n",
}


def test_the_project_needs_every_environment_and_both_sides_of_every_case(tmp_path):
    root = write_project(tmp_path, PROJECT)
    needed = needed_images(Project(root))
    tag = lambda spec: render_for_build(spec).tag()  # noqa: E731
    case = load_case("SUP-1", root=root)
    assert needed[tag(load_environment("acme", root=root))] == ["environment acme"]
    assert needed[tag(load_environment("baseline", root=root))] == ["environment baseline", "case SUP-1 (baseline)"]
    assert needed[tag(case.environment)] == ["case SUP-1 (environment)"]
    assert "base of environment acme" in needed["debian:bullseye"]
    assert len([t for t in needed if t.startswith("reprokit/env:")]) == 3


def test_a_case_that_does_not_load_stops_the_prune_with_its_error(tmp_path):
    root = write_project(tmp_path, {**PROJECT, "cases/SUP-2/case.yaml": "id: SUP-2\nenvironment: nope\n"})
    with pytest.raises(ReprokitError, match=r"cannot tell which images the project needs: cases/SUP-2/case.yaml"):
        needed_images(Project(root))


# -- the rule -----------------------------------------------------------------------------------------------------


def test_needed_images_stay_whatever_their_kind_age_or_size():
    images = [image("env", used_days_ago=400), image("hyb", kind=ImageKind.HYBRID), image("old", used_days_ago=None)]
    needed = {f"reprokit/env:{n}": [f"case {n}"] for n in ("env", "hyb", "old")}
    decided = plan(images, needed, now=NOW, older_than=DAY, keep_size=0)
    assert gone(decided) == []
    assert {d.rule for d in decided.decisions} == {"needed"} and decided.over_budget


def test_hybrids_and_untagged_images_go_and_bases_stay_unless_asked():
    images = [image("hyb", kind=ImageKind.HYBRID, used_days_ago=0), image("dangling", tags=()),
              image("debian:bookworm", kind=ImageKind.BASE, tags=("debian:bookworm",), used_days_ago=300),
              image("debian:trixie", kind=ImageKind.BASE, tags=("debian:trixie",), used_days_ago=300),
              image("recent", used_days_ago=0)]
    assert gone(plan(images, {}, now=NOW)) == ["dangling", "hyb"]
    needed = {"debian:bookworm": ["base of environment baseline"]}
    assert gone(plan(images, needed, now=NOW, older_than=30 * DAY, include_base=True)) == \
        ["dangling", "hyb", "debian:trixie"]


def test_images_unused_past_the_age_go():
    images = [image("eight", used_days_ago=8), image("six", used_days_ago=6),
              image("never-used-built-long-ago", used_days_ago=None)]
    decided = plan(images, {}, now=NOW, older_than=7 * DAY)
    assert gone(decided) == ["never-used-built-long-ago", "eight"]
    assert "unused for 8 days (more than 7 days)" in [d.why for d in decided.removals if d.image.name == "eight"][0]


def test_over_the_budget_the_least_recently_used_go_first_until_under_it():
    images = [image(n, used_days_ago=d) for n, d in (("a", 5), ("b", 1), ("c", 3), ("d", 2))]
    decided = plan(images, {"reprokit/env:a": ["environment a"]}, now=NOW, keep_size=250 * MB)
    assert gone(decided) == ["c", "d"]  # a is needed; c then d are the least recently used of the rest
    assert decided.before == 400 * MB and decided.after == 200 * MB and not decided.over_budget
    assert all(d.rule == "budget" for d in decided.removals)


def test_the_budget_counts_shared_layers_once():
    base = ("base-layer", 100 * MB)
    images = [image(n, size=150 * MB, layers=(base, (f"{n}-layer", 50 * MB)), used_days_ago=d)
              for n, d in (("a", 3), ("b", 2), ("c", 1))]
    assert footprint(images) == 250 * MB
    assert gone(plan(images, {}, now=NOW, keep_size=250 * MB)) == []
    assert gone(plan(images, {}, now=NOW, keep_size=200 * MB)) == ["a"]  # frees its own 50 MB, not the base
    assert gone(plan(images, {}, now=NOW, keep_size=150 * MB)) == ["a", "b"]


def test_an_image_someone_else_also_tagged_stays():
    decided = plan([image("mine", foreign=("team/app:latest",), used_days_ago=90)], {}, now=NOW, older_than=DAY,
                   keep_size=0)
    assert gone(decided) == [] and decided.decisions[0].why == "also tagged team/app:latest"


# -- removing -----------------------------------------------------------------------------------------------------


def test_prune_removes_only_what_the_plan_says_and_never_an_image_reprokit_did_not_make(image_use_records):
    engine = FakeEngine()
    theirs = engine.add_image("team/app:1", labels={"reprokit.environment": "acme", "reprokit.spec-hash": "x"},
                              size=10 * MB)
    old = engine.add_image("reprokit/env:old", labels={"reprokit.kind": "environment"}, size=10 * MB)
    busy = engine.add_image("reprokit/env:busy", labels={"reprokit.kind": "hybrid"}, size=10 * MB)
    keep = engine.add_image("reprokit/env:keep", labels={"reprokit.kind": "case"}, size=10 * MB)
    for tag, image_id in (("reprokit/env:old", old), ("reprokit/env:busy", busy), ("reprokit/env:keep", keep)):
        record_use(tag, image_id, kind="environment", now=NOW)
    engine.in_use.add(busy)
    decided = prune(plan(stored_images(engine), {"reprokit/env:keep": ["case SUP-1 (environment)"]}, now=NOW,
                         keep_size=0), engine=engine)
    assert engine.removed_images == ["reprokit/env:old"]
    assert set(engine.tags) >= {"team/app:1", "reprokit/env:busy", "reprokit/env:keep"} and theirs in engine.stored
    assert "a container uses it" in decided.failures[busy]
    assert decided.after == 20 * MB and decided.over_budget
    assert set(last_uses()) == {"reprokit/env:busy", "reprokit/env:keep"}


def test_prune_from_the_command_line_with_dry_run_removes_nothing(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from reprokit.cli.main import app
    from reprokit.engine import set_engine

    root = write_project(tmp_path, PROJECT)
    engine = FakeEngine()
    engine.add_image("reprokit/env:hyb", labels={"reprokit.kind": "hybrid", "reprokit.environment": "baseline+1"},
                     size=MB)
    set_engine(engine)
    try:
        result = CliRunner().invoke(app, ["images", "prune", "--dry-run", "-C", str(root)],
                                    env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
        listed = CliRunner().invoke(app, ["images", "list", "-C", str(root)], env={"COLUMNS": "200"})
    finally:
        set_engine(None)
    assert result.exit_code == 0, result.output
    assert "would remove reprokit/env:hyb (hybrid, 1.0 MiB): isolation hybrid" in result.output
    assert engine.removed_images == [] and "reprokit/env:hyb" in engine.tags
    assert "baseline+1" in listed.output and "1 image(s) reprokit made" in listed.output


@pytest.mark.parametrize("text, seconds", [("7d", 7 * DAY), ("12h", 12 * 3600.0), ("2w", 14 * DAY), ("90m", 5400.0)])
def test_ages_are_read_with_their_unit(text, seconds):
    assert parse_age(text) == seconds


def test_bad_ages_and_sizes_say_how_to_write_them():
    with pytest.raises(InvalidValue, match="'7 days' is not an age") as caught:
        parse_age("7 days")
    assert "7d" in caught.value.hint
    with pytest.raises(InvalidValue, match="'10GB' is not a size"):
        parse_size("10GB")
    assert parse_size("10g") == 10 << 30


def test_an_arm64_environment_needs_the_arm64_base_not_the_amd64_one(tmp_path, monkeypatch):
    from reprokit.aspects import arch as arch_module

    monkeypatch.setattr(arch_module, "host_arch", lambda: "amd64")
    root = write_project(tmp_path, {"environments/graviton.yaml": "os: debian:bookworm\narch: arm64\n"})
    needed = needed_images(Project(root))
    assert needed["arm64v8/debian:bookworm"] == ["base of environment graviton"]
    assert "debian:bookworm" not in needed
