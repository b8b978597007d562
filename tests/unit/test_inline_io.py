"""inline_io: a container's files in with its command (an argument, or a mounted tar), its exit code, OOM kills and
collected folder back in its log."""
from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import tarfile

import pytest

from fakes import tar_of
from reprokit.engine.inline_io import (MAX_PAYLOAD, UNPACK_FAILED, WRAPPER, Collected, Results, read_log,
                                       wrap)

TOOLS = pytest.mark.skipif(not all(shutil.which(t) for t in ("tar", "base64", "du")), reason="needs tar and base64")


def frame(marker: str, tar: bytes, *, code: int = 0, ooms: int = 0) -> bytes:
    return f"\n{marker} tar {code} {ooms}\n".encode() + base64.encodebytes(tar) + f"\n{marker} end\n".encode()


def test_the_command_carries_the_files_and_runs_the_real_command_after_them():
    command, marker = wrap(["sh", "-c", "step", "runner", "/work"], files=tar_of({"work/a.txt": b"hello"}),
                           collect="/tmp/.rk/out", as_root=True, limit_kib=1024)
    assert command[:4] == ["sh", "-c", WRAPPER, "reprokit-run"]
    assert command[4] == marker and marker.startswith("@@reprokit-run-")
    assert tarfile.open(fileobj=io.BytesIO(base64.b64decode(command[5]))).getnames() == ["work/a.txt"]
    assert command[6:] == ["root", "1024", "/tmp/.rk", "out", "sh", "-c", "step", "runner", "/work"]


def test_a_mounted_tar_is_named_by_its_path_and_without_a_folder_nothing_is_collected():
    command, _ = wrap(["true"], files="/run/input.tar", collect=None)
    assert command[5:] == ["@/run/input.tar", "", "", "", "", "true"]


def test_files_too_big_for_one_argument_are_left_to_the_archive_api():
    assert wrap(["true"], files=b"x" * (MAX_PAYLOAD * 3 // 4 + 3), collect="/out") is None
    assert wrap(["true"], files=b"x" * (MAX_PAYLOAD * 3 // 4 - 3), collect="/out") is not None


def test_the_frame_gives_the_tar_exit_code_and_oom_kills_whatever_the_command_printed_before():
    tar = tar_of({"out/0.status": b"0 1 2\n"})
    assert read_log(b"no newline at the end" + frame("M", tar, code=3, ooms=1), "M") == \
        Results(Collected.TAR, tar, 3, 1)


def test_the_wrappers_exit_code_is_the_one_the_code_names():
    assert f"exit {UNPACK_FAILED}\n" in WRAPPER


@pytest.mark.parametrize(("log", "state"), [
    (b"\nM not-unpacked\n", Collected.NOT_UNPACKED),
    (b"\nM none 0 0\n", Collected.NONE),
    (b"\nM big 0 0\n", Collected.UNREAD),  # too big for a log
    (b"\nM tar 0 0\nAAAA", Collected.UNREAD),  # killed while printing it: no end marker
    (b"\nM tar 0 0\n!!not base64!!\nM end\n", Collected.UNREAD),
    (b"\nM tar 0 0\n\nM end\n", Collected.UNREAD),  # tar printed nothing
    (b"", Collected.UNREAD),  # a log driver that keeps nothing
    (b"\nOTHER none 0 0\n", Collected.UNREAD),  # another run's marker
])
def test_without_a_whole_answer_in_the_log_the_outputs_are_read_otherwise(log, state):
    assert read_log(log, "M").collected is state


@TOOLS
def test_the_wrapper_collects_the_folder_the_command_wrote_and_keeps_its_exit_code(tmp_path):
    # Unpacking writes at /: here the files are empty, and anyone may unpack them.
    command, marker = wrap(["sh", "-c", f"mkdir -p {tmp_path}/out; echo 3 > {tmp_path}/out/x; exit 4"],
                           files=tar_of({}), collect=f"{tmp_path}/out")
    done = subprocess.run(command, capture_output=True, timeout=30)
    assert done.returncode == 4
    results = read_log(done.stdout, marker)
    assert (results.collected, results.exit_code) == (Collected.TAR, 4)
    assert tarfile.open(fileobj=io.BytesIO(results.tar)).extractfile("out/x").read() == b"3\n"


@TOOLS
def test_a_mounted_tar_is_unpacked_before_the_command_runs(tmp_path):
    """The round trip a Swarm job makes, with / replaced by a scratch folder."""
    root = tmp_path / "root"
    (root / "tmp/.reprokit/out").mkdir(parents=True)
    archive = tmp_path / "input.tar"
    archive.write_bytes(tar_of({"work/hello.txt": b"hello\n"}))
    command, marker = wrap(["sh", "-c", f"cat {root}/work/hello.txt > {root}/tmp/.reprokit/out/0.stdout"],
                           files=str(archive), collect=f"{root}/tmp/.reprokit/out")
    command[2] = WRAPPER.replace("-C /", f"-C {root}")
    done = subprocess.run(command, capture_output=True, timeout=30)
    results = read_log(done.stdout, marker)
    assert done.returncode == 0 and results.exit_code == 0
    assert tarfile.open(fileobj=io.BytesIO(results.tar)).extractfile("out/0.stdout").read() == b"hello\n"


@TOOLS
def test_a_folder_over_the_limit_is_left_to_the_archive_api_with_the_exit_code_kept(tmp_path):
    command, marker = wrap(["sh", "-c", f"mkdir -p {tmp_path}/out; head -c 300000 /dev/zero > {tmp_path}/out/x; "
                                        "exit 2"], files=None, collect=f"{tmp_path}/out", limit_kib=100)
    done = subprocess.run(command, capture_output=True, timeout=30)
    assert done.returncode == 2 and read_log(done.stdout, marker) == Results(Collected.UNREAD, b"", 2, 0)


@TOOLS
def test_files_that_cannot_be_unpacked_run_nothing_and_say_so(tmp_path):
    ran = tmp_path / "ran"
    command, marker = wrap(["touch", str(ran)], files=str(tmp_path / "missing.tar"), collect="/out")
    done = subprocess.run(command, capture_output=True, timeout=30)
    assert done.returncode == UNPACK_FAILED and not ran.exists()
    assert b"could not unpack" in done.stderr and read_log(done.stdout, marker).collected is Collected.NOT_UNPACKED


@TOOLS
@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv to run as another user")
@pytest.mark.parametrize("as_root", [True, False])
def test_files_whose_owners_need_root_are_not_unpacked_by_another_user(as_root):
    command, marker = wrap(["true"], files=tar_of({}), collect="/nonexistent", as_root=as_root)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    done = subprocess.run([*as_nobody, *command], capture_output=True, timeout=30)
    assert read_log(done.stdout, marker).collected is (Collected.NOT_UNPACKED if as_root else Collected.NONE)


@TOOLS
@pytest.mark.parametrize(("missing", "collected"), [("awk", Collected.TAR), ("du", Collected.UNREAD)])
def test_an_image_without_awk_or_du_still_gives_a_whole_frame(tmp_path, missing, collected):
    """No awk: no OOM count, 0 is printed. No du: the size cannot be told, the folder is left to the archive API."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in {"sh", "id", "tar", "base64", "cat", "awk", "du", "cut", "mkdir"} - {missing}:
        (tools / tool).symlink_to(shutil.which(tool))
    command, marker = wrap(["sh", "-c", f"mkdir -p {tmp_path}/out; echo 3 > {tmp_path}/out/x; exit 5"],
                           files=None, collect=f"{tmp_path}/out", limit_kib=100)
    done = subprocess.run(command, capture_output=True, timeout=30,
                          env={"PATH": str(tools)})
    results = read_log(done.stdout, marker)
    assert (results.collected, results.exit_code, results.oom_kills) == (collected, 5, 0)
