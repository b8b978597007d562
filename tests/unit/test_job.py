"""The batch-job wrapper: files in through a mounted tar, results out through the log (reprokit/engine/job.py)."""
from __future__ import annotations

import base64
import shutil
import subprocess

import pytest

from fakes import tar_of
from reprokit.engine.job import BEGIN, END, INPUT, UNPACK_FAILED, WRAPPER, parse_results, wrap


def frame(code: int, files: dict[str, bytes], ooms: int = 0) -> str:
    encoded = base64.encodebytes(tar_of(files)).decode()
    return f"{BEGIN} {code} {ooms}\n{encoded}{END}\n"


def test_results_frame_gives_exit_code_oom_kills_and_files():
    results = parse_results("noise before\n" + frame(3, {"out/0.status": b"3 1 2\n"}, ooms=1))
    assert (results.exit_code, results.oom_kills, results.files) == (3, 1, {"out/0.status": b"3 1 2\n"})


def test_the_last_frame_wins_over_a_look_alike_printed_earlier():
    results = parse_results(frame(0, {"a": b"fake"}) + frame(1, {"a": b"real"}))
    assert (results.exit_code, results.files) == (1, {"a": b"real"})


@pytest.mark.parametrize("log", ["", "just output\n", f"{BEGIN} 0 0\nAAAA\n", f"{BEGIN} 0 0\n!!not base64!!\n{END}\n",
                                 f"{BEGIN} zero 0\n{END}\n"])
def test_a_missing_cut_or_garbled_frame_is_no_results(log):
    assert parse_results(log) is None


def test_an_empty_collected_folder_is_no_files():
    assert parse_results(f"{BEGIN} 0 0\n{END}\n").files == {}


def test_wrap_passes_input_collect_and_the_command_as_arguments():
    assert wrap(["sh", "-c", "x"], has_input=True, collect="/tmp/.reprokit/out") == \
        ["sh", "-c", WRAPPER, INPUT, "/tmp/.reprokit/out", "sh", "-c", "x"]
    assert wrap(["true"], has_input=False, collect=None)[3:] == ["", "", "true"]


@pytest.mark.skipif(not (shutil.which("tar") and shutil.which("base64")), reason="needs sh, tar and base64")
def test_the_wrapper_unpacks_runs_and_reports_in_a_real_shell(tmp_path):
    """The wrapper as the job runs it, with / replaced by a scratch folder: the round trip a job makes."""
    root = tmp_path / "root"
    (root / "tmp/.reprokit/out").mkdir(parents=True)
    archive = tmp_path / "input.tar"
    archive.write_bytes(tar_of({"work/hello.txt": b"hello\n"}))
    script = WRAPPER.replace("-C /", f"-C {root}")
    command = f"cat {root}/work/hello.txt > {root}/tmp/.reprokit/out/0.stdout; exit 4"
    done = subprocess.run(["sh", "-c", script, str(archive), f"{root}/tmp/.reprokit/out", "sh", "-c", command],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 4
    results = parse_results(done.stdout)
    assert (results.exit_code, results.files) == (4, {"out/0.stdout": b"hello\n"})


def test_the_wrapper_exits_with_its_own_code_when_the_input_cannot_be_unpacked(tmp_path):
    done = subprocess.run(["sh", "-c", WRAPPER, str(tmp_path / "missing.tar"), "", "true"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == UNPACK_FAILED
    assert "could not unpack" in done.stderr
