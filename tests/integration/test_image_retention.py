"""Images on disk against the real engine: `reprokit images list` shows what reprokit built, `images prune
--keep-size` brings them under the budget least recently used first, and never removes what a shipped case needs.

The engine is shared: the real removals here are limited (--match) to the two images this test builds, under
names no one else uses; against the real project's cases, prune runs with --dry-run only."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from conftest import ROOT
from reprokit.image.retention import needed_images
from reprokit.contract.load import Project


def reprokit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reprokit", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "COLUMNS": "200", **env})


@pytest.fixture
def throwaway(tmp_path, docker_engine):
    """Two tiny environments, each with a layer of its own (a 256 KB file), built in a tmp project whose
    image-use records live in the tmp folder; their images are removed afterwards whatever happens."""
    name = f"rkedges-{secrets.token_hex(4)}"
    project = tmp_path / "project"
    (project / "environments").mkdir(parents=True)
    for side in ("a", "b"):
        (project / "environments" / f"blob-{side}.txt").write_text(secrets.token_hex(128 * 1024))
        (project / "environments" / f"{name}-{side}.yaml").write_text(
            f"description: throwaway image of tests/integration/test_images.py\nos: debian:bookworm\n"
            f"files: {{/opt/rkedges/blob: {{source: blob-{side}.txt}}}}\n")
    env = {"REPROKIT_IMAGE_USE": str(tmp_path / "image-use")}
    tags = []
    try:
        for side in ("a", "b"):  # a first: it is the least recently used
            done = reprokit("env", "build", f"{name}-{side}", "-C", str(project), env=env)
            assert done.returncode == 0, done.stdout + done.stderr
            tags.append(done.stdout.split(": ", 1)[1].split()[0])
        yield project, name, tags, env
    finally:
        for tag in tags:  # only the images this test built
            docker_engine.remove_image(tag)


def test_list_shows_what_was_built_and_prune_keeps_the_budget_dropping_the_least_recently_used(throwaway,
                                                                                               docker_engine):
    project, name, (tag_a, tag_b), env = throwaway
    listed = reprokit("images", "list", "--json", "--match", f"{name}-*", "-C", str(project), env=env)
    assert listed.returncode == 0, listed.stderr
    images = {image["for"]: image for image in json.loads(listed.stdout)["images"]}
    assert set(images) == {f"{name}-a", f"{name}-b"}
    assert images[f"{name}-a"]["tags"] == [tag_a] and images[f"{name}-a"]["kind"] == "environment"
    assert images[f"{name}-a"]["needed_by"] == [f"environment {name}-a"]
    assert images[f"{name}-a"]["last_used"] < images[f"{name}-b"]["last_used"]
    table = reprokit("images", "list", "--match", f"{name}-*", "-C", str(project), env=env).stdout
    assert f"{name}-a" in table and f"{name}-b" in table and "2 image(s) reprokit made" in table

    # The environments leave the project: nothing needs their images any more.
    for path in (project / "environments").glob(f"{name}-*.yaml"):
        path.unlink()
    disk = json.loads(listed.stdout)["disk_bytes"]
    own_a = disk - images[f"{name}-b"]["size"]  # what only a holds (b alone takes its size)
    assert own_a > 200_000  # the 256 KB file
    budget = disk - own_a // 2  # one image must go, either one would do
    pruned = reprokit("images", "prune", "--keep-size", str(budget), "--match", f"{name}-*", "--json",
                      "-C", str(project), env=env)
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    result = json.loads(pruned.stdout)
    assert [image["tags"] for image in result["removed"]] == [[tag_a]]
    assert result["removed"][0]["rule"] == "budget"
    assert [image["tags"] for image in result["kept"]] == [[tag_b]]
    assert result["disk_bytes_after"] <= budget < result["disk_bytes_before"] and not result["over_budget"]
    assert docker_engine.image_id(tag_a) is None and docker_engine.image_id(tag_b) is not None


def test_prune_never_removes_an_image_a_shipped_case_needs(docker_engine):
    from reprokit.image.build import build
    from reprokit.contract.load import load_environment

    build(load_environment("baseline", root=ROOT), engine=docker_engine)  # every shipped case's baseline
    needed = needed_images(Project(ROOT))
    present = {tag for tag in needed if tag.startswith("reprokit/env:") and docker_engine.image_id(tag)}
    # A zero budget asks for everything that may go: only --dry-run, the engine is shared.
    done = reprokit("images", "prune", "--dry-run", "--keep-size", "0", "--older-than", "1s", "--include-base",
                    "--json", "-C", str(ROOT), env={})
    assert done.returncode == 1, done.stdout + done.stderr  # what the cases need is over a zero budget
    result = json.loads(done.stdout)
    assert result["dry_run"]
    removed = {tag for image in result["removed"] for tag in image["tags"]}
    assert not removed & set(needed)
    # Unused for over a second, and a zero budget: only what nothing may remove stays.
    assert {image["rule"] for image in result["kept"]} <= {"needed", "tagged-elsewhere"}
    kept = {tag: image["rule"] for image in result["kept"] for tag in image["tags"]}
    assert present and all(kept.get(tag) == "needed" for tag in present), (present, kept)
    assert all(docker_engine.image_id(tag) for tag in present)  # a dry run removed nothing


def test_after_a_real_prune_over_budget_a_case_needing_a_kept_image_builds_nothing(throwaway, docker_engine):
    project, name, (tag_a, tag_b), env = throwaway
    (project / "environments" / f"{name}-a.yaml").unlink()  # a is needed by nothing any more; b by the case
    (project / "cases" / "RK-1").mkdir(parents=True)
    (project / "cases" / "RK-1" / "case.yaml").write_text(
        f"id: RK-1\ntitle: the kept image's file is there\nenvironment: {name}-b\nbaseline: {name}-b\n"
        "steps: [wc -c /opt/rkedges/blob]\nexpect: {stdout_contains: '262144 /opt/rkedges/blob'}\n")
    pruned = reprokit("images", "prune", "--keep-size", "0", "--match", f"{name}-*", "--json", "-C", str(project),
                      env=env)
    result = json.loads(pruned.stdout)
    assert [image["tags"] for image in result["removed"]] == [[tag_a]], pruned.stdout + pruned.stderr
    assert [(image["tags"], image["rule"]) for image in result["kept"]] == [([tag_b], "needed")]
    assert pruned.returncode == 1 and result["over_budget"]  # what the project needs is over a zero budget
    assert docker_engine.image_id(tag_a) is None
    replay = reprokit("case", "run", "RK-1", "--json", "-C", str(project), env=env)
    result = json.loads(replay.stdout)
    assert result["verdict"] == "EVERYWHERE", replay.stdout + replay.stderr  # both sides are b: the file is there
    runs = result["runs"]
    assert {role: run["image"]["built"] for role, run in runs.items()} == {"environment": False, "baseline": False}
    assert {run["image"]["tag"] for run in runs.values()} == {tag_b}
