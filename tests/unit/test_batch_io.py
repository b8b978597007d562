"""batch_io: the files of a batch container in its command, its collected folder read back from its log."""
from __future__ import annotations

import base64
import io
import shutil
import subprocess
import tarfile

import pytest

from fakes import tar_of
from reprokit.engine.batch_io import MAX_PAYLOAD, WRAPPER, Collected, read_log, wrap


def test_the_command_carries_the_files_and_runs_the_real_command_after_them():
    command, marker = wrap(tar_of({"work/a.txt": b"hello"}), ["sh", "-c", "step", "runner", "/work"], "/tmp/.rk/out")
    assert command[:4] == ["sh", "-c", WRAPPER, "reprokit-batch"]
    assert command[4] == marker and marker.startswith("@@reprokit-batch-")
    assert tarfile.open(fileobj=io.BytesIO(base64.b64decode(command[5]))).getnames() == ["work/a.txt"]
    assert command[6:] == ["/tmp/.rk", "out", "sh", "-c", "step", "runner", "/work"]


def test_files_too_big_for_one_argument_are_left_to_the_archive_api():
    assert wrap(b"x" * (MAX_PAYLOAD * 3 // 4 + 3), ["true"], "/out") is None
    assert wrap(b"x" * (MAX_PAYLOAD * 3 // 4 - 3), ["true"], "/out") is not None


def test_the_collected_tar_is_read_from_between_the_markers_whatever_the_command_printed_before():
    tar = tar_of({"out/0.status": b"0 1 2\n"})
    text = base64.encodebytes(tar)  # wrapped at 76 columns, as base64(1) does
    log = b"no newline at the end" + b"\nM tar\n" + text + b"\nM end\n"
    assert read_log(log, "M") == (Collected.TAR, tar)


@pytest.mark.parametrize(("log", "state"), [
    (b"\nM not-unpacked\n", Collected.NOT_UNPACKED),
    (b"\nM none\n", Collected.NONE),
    (b"\nM big\n", Collected.ARCHIVE),  # too big for a log
    (b"\nM tar\nAAAA", Collected.ARCHIVE),  # killed while printing it: no end marker
    (b"", Collected.ARCHIVE),  # a log driver that keeps nothing
    (b"\nOTHER none\n", Collected.ARCHIVE),  # another run's marker
])
def test_without_a_whole_answer_in_the_log_the_outputs_are_read_otherwise(log, state):
    assert read_log(log, "M")[0] is state


@pytest.mark.skipif(not (shutil.which("tar") and shutil.which("base64") and shutil.which("du")), reason="no tar")
def test_the_wrapper_collects_the_folder_the_command_wrote_and_keeps_its_exit_code(tmp_path):
    # Unpacking needs root and writes at /: here the files are empty and the check of the user is bypassed.
    script = WRAPPER.replace('"$(id -u 2>/dev/null)" != 0', "0 != 0")
    command, marker = wrap(tar_of({}), ["sh", "-c", f"mkdir -p {tmp_path}/out; echo 3 > {tmp_path}/out/x; exit 4"],
                           f"{tmp_path}/out")
    done = subprocess.run(["sh", "-c", script, *command[3:]], capture_output=True)
    assert done.returncode == 4
    state, tar = read_log(done.stdout, marker)
    assert state is Collected.TAR
    archive = tarfile.open(fileobj=io.BytesIO(tar))
    assert archive.extractfile("out/x").read() == b"3\n"
