"""Collected step output is read as a stream and bounded: head and tail kept, a line saying what was cut."""
from __future__ import annotations


from fakes import tar_of
from reprokit.engine.docker import _untar_ends


def tar_chunks(files: dict[str, bytes], size: int = 64 * 1024) -> list[bytes]:
    data = tar_of(files)
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_a_long_output_keeps_its_head_and_tail_and_says_how_much_was_cut():
    output = b"first line\n" + b"x" * 5_000_000 + b"\nnear \"returning\": syntax error\n"
    files = _untar_ends(tar_chunks({"out/0.stderr": output, "out/0.status": b"1 0 1"}), head=1000, tail=1000)
    kept = files["out/0.stderr"]
    assert kept.startswith(b"first line\n") and kept.endswith(b'near "returning": syntax error\n')
    assert f"[reprokit: {len(output) - 2000} bytes cut here".encode() in kept
    assert len(kept) < 2200 and files["out/0.status"] == b"1 0 1"


def test_an_output_within_the_bound_is_kept_whole():
    output = b"y" * 2000
    assert _untar_ends(tar_chunks({"out/0.stdout": output}, size=7), head=1000, tail=1000) == {"out/0.stdout": output}
