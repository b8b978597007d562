"""`reprokit doctor`'s checks for other architectures (reprokit/doctor.py): emulation and per-arch base images."""
from __future__ import annotations

import pytest

from fakes import FakeEngine, write_project
from reprokit import doctor
from reprokit.aspects import arch as arch_module
from reprokit.image import emulation
from reprokit.contract.load import Project

REGISTERED = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"


@pytest.fixture(autouse=True)
def amd64_host(monkeypatch):
    for module in (arch_module, emulation, doctor):
        monkeypatch.setattr(module, "host_arch", lambda: "amd64")


def binfmt(tmp_path, entry: str | None):
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    (folder / "register").write_text("")
    (folder / "status").write_text("enabled\n")
    if entry is not None:
        (folder / "qemu-aarch64").write_text(entry)
    return folder


def test_emulation_nobody_declares_is_a_note_not_a_failure(tmp_path):
    [check] = doctor.foreign_checks(FakeEngine(), {}, binfmt=binfmt(tmp_path, None))
    assert (check.name, check.ok, check.required) == ("emulation arm64", False, False)
    assert check.detail.endswith("(qemu-user-static is not registered); no environment declares it")
    assert "reprokit images bootstrap debian:bookworm --arch arm64" in check.fix


def test_emulation_an_environment_declares_is_required_and_so_is_its_base_image(tmp_path):
    declared = {("debian:bookworm", "arm64"): ["case SUP-5231", "environment graviton"]}
    emulated, base = doctor.foreign_checks(FakeEngine(), declared,
                                           binfmt=binfmt(tmp_path, REGISTERED.replace("PF", "P")))
    assert (emulated.ok, emulated.required) == (False, True)
    assert "lacks the F flag" in emulated.detail and emulated.detail.endswith(
        "needed by case SUP-5231, environment graviton")
    assert (base.name, base.ok, base.required) == ("base image arm64v8/debian:bookworm", False, True)
    assert base.fix == "reprokit images bootstrap debian:bookworm --arch arm64"


def test_ready_emulation_and_a_present_base_pass(tmp_path):
    engine = FakeEngine()
    engine.add_image("arm64v8/debian:bookworm", arch="arm64")
    checks = list(doctor.foreign_checks(engine, {("debian:bookworm", "arm64"): ["environment graviton"]},
                                        binfmt=binfmt(tmp_path, REGISTERED)))
    assert [(c.name, c.ok) for c in checks] == [("emulation arm64", True),
                                                ("base image arm64v8/debian:bookworm", True)]
    assert checks[0].detail == "qemu-user via /usr/libexec/qemu-binfmt/aarch64-binfmt-P (flags PF)"


def test_foreign_architectures_are_found_in_environments_and_inline_case_sides(tmp_path):
    root = write_project(tmp_path, {
        "environments/baseline.yaml": "os: debian:bookworm\n",
        "environments/graviton.yaml": "extends: baseline\narch: arm64\n",
        "environments/native.yaml": "os: debian:bullseye\narch: amd64\n",
        "cases/SUP-1/case.yaml": "id: SUP-1\ntitle: t\nenvironment: {os: debian:bullseye, arch: aarch64}\n"
                                 "steps: [uname -m]\nexpect: {exit_code: 0}\n",
        "cases/SUP-2/case.yaml": "id: SUP-2\nenvironment: nope\n",  # does not load: declares nothing here
    })
    assert doctor.declared_foreign(Project(root)) == {("debian:bookworm", "arm64"): ["environment graviton"],
                                                      ("debian:bullseye", "arm64"): ["case SUP-1"]}
