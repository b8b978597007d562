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
            (Path(command[-2]) / "etc" / "apt").mkdir(parents=True)

    monkeypatch.setattr(base, "run_streaming", fake_run)
    monkeypatch.setattr(base.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(base.os, "geteuid", lambda: 0)
    engine = FakeEngine(images={})
    assert bootstrap("debian:trixie", engine=engine) is Provision.BOOTSTRAPPED
    [made] = stored_images(engine)
    assert (made.kind, made.tags) == (ImageKind.BASE, ("debian:trixie",))
    assert engine.stored[engine.tags["debian:trixie"]]["labels"]["reprokit.base"] == "debian:trixie"


# -- another architecture ----------------------------------------------------------------------------------------


@pytest.fixture
def debootstrap(monkeypatch):
    """bootstrap() on an amd64 host as root, with debootstrap and tar recorded instead of run, and emulation
    preparation recorded instead of done."""
    from pathlib import Path

    from reprokit.aspects import arch as arch_module
    from reprokit.image import base

    commands, prepared = [], []

    def fake_run(command, on_line):
        commands.append(command)
        if command[0] == "debootstrap":
            (Path(command[-2]) / "etc" / "apt").mkdir(parents=True)

    monkeypatch.setattr(arch_module, "host_arch", lambda: "amd64")
    monkeypatch.setattr(base, "host_arch", lambda: "amd64")
    monkeypatch.setattr(base, "run_streaming", fake_run)
    monkeypatch.setattr(base.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(base.os, "geteuid", lambda: 0)
    monkeypatch.setattr(base.emulation, "prepare", lambda arch, say: prepared.append(arch))
    return commands, prepared


def test_bootstrap_for_arm64_debootstraps_that_architecture_and_loads_it_as_arm64(debootstrap):
    commands, prepared = debootstrap
    engine = FakeEngine()
    assert bootstrap("debian:bookworm", arch="arm64", engine=engine) is Provision.BOOTSTRAPPED
    assert prepared == ["arm64"]  # emulation first: debootstrap's second stage runs arm64 programs
    [debootstrap_command, _] = commands
    assert debootstrap_command[:4] == ["debootstrap", "--arch=arm64", "--variant=minbase", "bookworm"]
    assert "--foreign" not in debootstrap_command
    [load] = engine.loads
    assert (load["reference"], load["arch"]) == ("arm64v8/debian:bookworm", "arm64")
    assert load["labels"]["reprokit.kind"] == "base" and load["labels"]["reprokit.base"] == "arm64v8/debian:bookworm"
    assert engine.image_architecture("arm64v8/debian:bookworm") == "arm64"
    assert engine.tags["debian:bookworm"] == "sha256:bookworm"  # the amd64 base keeps its tag: no overwrite


def test_a_native_bootstrap_also_records_its_architecture_and_prepares_no_emulation(debootstrap):
    commands, prepared = debootstrap
    engine = FakeEngine(images={})
    assert bootstrap("debian:trixie", engine=engine) is Provision.BOOTSTRAPPED
    assert prepared == [] and commands[0][1] == "--arch=amd64"
    assert [(l["reference"], l["arch"]) for l in engine.loads] == [("debian:trixie", "amd64")]


def test_a_present_arm64_base_is_left_alone_but_emulation_is_still_prepared(debootstrap):
    commands, prepared = debootstrap
    engine = FakeEngine()
    engine.add_image("arm64v8/debian:bookworm", arch="arm64")
    assert bootstrap("debian:bookworm", arch="aarch64", engine=engine) is Provision.PRESENT
    assert prepared == ["arm64"] and commands == [] and engine.loads == []


def test_a_pulled_base_of_the_wrong_architecture_is_refused(debootstrap):
    from reprokit.errors import EngineError

    class WrongPlatform(FakeEngine):
        def pull(self, reference, *, platform=None):
            return super().pull(reference)  # the registry ignores the platform: amd64 arrives

    engine = WrongPlatform(images={}, pullable=("arm64v8/debian:bookworm",))
    with pytest.raises(EngineError, match="arm64v8/debian:bookworm is amd64, not arm64"):
        bootstrap("debian:bookworm", arch="arm64", engine=engine)


def test_an_architecture_reprokit_cannot_build_is_refused_before_anything_runs(debootstrap):
    commands, prepared = debootstrap
    with pytest.raises(ReprokitError, match="--arch 'sparc' is not an architecture reprokit can build") as caught:
        bootstrap("debian:bookworm", arch="sparc", engine=FakeEngine())
    assert caught.value.hint == "write one of: amd64, arm64" and commands == prepared == []
