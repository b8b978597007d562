"""Emulation of another CPU architecture (reprokit/image/emulation.py): reading binfmt_misc, preparing it."""
from __future__ import annotations

import pytest

from reprokit.aspects import arch as arch_module
from reprokit.errors import EngineError
from reprokit.image import emulation
from reprokit.image.emulation import check, prepare

# /proc/sys/fs/binfmt_misc/qemu-aarch64 as Debian 12's `update-binfmts --enable qemu-aarch64` registers it.
REGISTERED = ("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"
              "magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n")


@pytest.fixture(autouse=True)
def amd64_host(monkeypatch):
    monkeypatch.setattr(emulation, "host_arch", lambda: "amd64")


def binfmt(tmp_path, *, status="enabled", entry: str | None = REGISTERED, mounted=True):
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    if mounted:
        (folder / "register").write_text("")
        (folder / "status").write_text(status + "\n")
        if entry is not None:
            (folder / "qemu-aarch64").write_text(entry)
    return folder


def test_an_aarch64_entry_with_the_f_flag_is_ready_and_names_its_interpreter(tmp_path):
    state = check("arm64", binfmt=binfmt(tmp_path))
    assert state.ok and state.detail == "qemu-user via /usr/libexec/qemu-binfmt/aarch64-binfmt-P (flags PF)"


def test_the_hosts_own_architecture_is_native_whatever_binfmt_holds(tmp_path):
    state = check("amd64", binfmt=binfmt(tmp_path, mounted=False))
    assert state.ok and state.native and state.fix == ""


@pytest.mark.parametrize("situation, folder, detail", [
    ("not mounted", dict(mounted=False), "binfmt_misc is not mounted"),
    ("binfmt_misc off", dict(status="disabled"), "binfmt_misc is disabled"),
    ("not registered", dict(entry=None), "no qemu-aarch64 entry in"),
    ("entry disabled", dict(entry=REGISTERED.replace("enabled", "disabled", 1)), "qemu-aarch64 is disabled"),
    ("no F flag", dict(entry=REGISTERED.replace("flags: PF", "flags: P")),
     "qemu-aarch64 lacks the F flag (flags: P): containers cannot find the interpreter"),
])
def test_each_way_emulation_is_not_ready_is_named_with_the_command_that_fixes_it(tmp_path, situation, folder, detail):
    state = check("arm64", binfmt=binfmt(tmp_path, **folder))
    assert not state.ok and detail in state.detail, situation
    assert "reprokit images bootstrap debian:bookworm --arch arm64" in state.fix and "F flag" in state.fix


def test_prepare_does_nothing_when_emulation_is_ready(tmp_path, monkeypatch):
    monkeypatch.setattr(emulation.os, "geteuid", lambda: 1000)  # not even root is needed then
    commands = []
    assert prepare("arm64", binfmt=binfmt(tmp_path), run=lambda *a, **k: commands.append(a)).ok
    assert commands == []


def test_prepare_without_root_says_what_is_missing_and_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setattr(emulation.os, "geteuid", lambda: 1000)
    with pytest.raises(EngineError) as caught:
        prepare("arm64", binfmt=binfmt(tmp_path, entry=None), run=lambda *a, **k: pytest.fail("ran a command"))
    assert "containers of arm64 cannot run here: no qemu-aarch64 entry" in caught.value.message
    assert caught.value.hint.startswith("as root: reprokit images bootstrap")


def test_prepare_as_root_installs_what_is_missing_and_registers_through_the_kernels_register_file(tmp_path,
                                                                                                  monkeypatch):
    """Without update-binfmts the kernel's register string is written; a fake kernel turns it into the entry."""
    folder = binfmt(tmp_path, entry=None)
    monkeypatch.setattr(emulation.os, "geteuid", lambda: 0)
    monkeypatch.setattr(emulation.shutil, "which", lambda name: None)
    commands = []

    def run(command, **options):
        commands.append(command)

    real_write = type(folder).write_text

    def kernel(path, text, *args, **kwargs):  # the register file: a write with F registers the entry
        if path.name == "register" and text.endswith(":PF"):
            assert text.startswith(r":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01")
            return real_write(folder / "qemu-aarch64", REGISTERED)
        return real_write(path, text, *args, **kwargs)

    monkeypatch.setattr(type(folder), "write_text", kernel)
    assert prepare("arm64", binfmt=folder, run=run).ok
    assert commands == [["apt-get", "update", "-qq"],
                        ["apt-get", "install", "-y", "-qq", "qemu-user-static", "binfmt-support"]]
