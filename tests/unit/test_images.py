"""Base images without a registry (reprokit/images.py): what bootstrap does, and where the mirror comes from."""
from __future__ import annotations

import pytest

from fakes import FakeEngine
from reprokit.errors import ReprokitError
from reprokit.image.base import Provision, bootstrap, host_mirrors


def test_a_present_image_is_left_alone_and_a_pullable_one_is_pulled():
    assert bootstrap("debian:bookworm", engine=FakeEngine(images={"debian:bookworm": "sha256:1"})) is Provision.PRESENT
    assert bootstrap("debian:trixie", engine=FakeEngine(images={}, pullable=("debian:trixie",))) is Provision.PULLED


def test_only_debian_suites_can_be_bootstrapped():
    with pytest.raises(ReprokitError, match="cannot bootstrap 'ubuntu:22.04'"):
        bootstrap("ubuntu:22.04", engine=FakeEngine(images={}))


def test_the_mirrors_come_from_deb822_and_one_line_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n")
    assert host_mirrors(tmp_path) == ("http://mirror.example/debian", "http://mirror.example/debian-security")
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/debian/ bookworm main\n")
    assert host_mirrors(tmp_path) == ("http://other.example/debian", "http://other.example/debian-security")


def test_without_any_source_the_default_mirror_is_used(tmp_path):
    assert host_mirrors(tmp_path) == ("http://deb.debian.org/debian", "http://deb.debian.org/debian-security")


def test_a_bootstrapped_base_is_labelled_as_reprokits_base(monkeypatch):
    from pathlib import Path

    from reprokit.image import base
    from reprokit.image.retention import ImageKind, stored_images

    def fake_run(command, on_line):
        if command[0] == "debootstrap":  # what debootstrap leaves that bootstrap() writes into
            (Path(command[3]) / "etc" / "apt").mkdir(parents=True)

    monkeypatch.setattr(base, "run_streaming", fake_run)
    monkeypatch.setattr(base.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(base.os, "geteuid", lambda: 0)
    engine = FakeEngine(images={})
    assert bootstrap("debian:trixie", engine=engine) is Provision.BOOTSTRAPPED
    [made] = stored_images(engine)
    assert (made.kind, made.tags) == (ImageKind.BASE, ("debian:trixie",))
    assert engine.stored[engine.tags["debian:trixie"]]["labels"]["reprokit.base"] == "debian:trixie"
