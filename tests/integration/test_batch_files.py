"""A batch container's files go in with its command and its outputs come back in its log (engine/inline_io.py), or
through the archive API where that cannot work: either way the same files, owners, modes and outputs."""
from __future__ import annotations

import os
import uuid

import pytest

from reprokit.engine import SESSION, ContainerConfig, FileEntry
from conftest import containers_of

IMAGE = "debian:bookworm"  # made by the set-up; has tar and base64
# Each file's owner, mode and content, one line each, into the collected folder; then exit 5.
SHOW = ("mkdir -p /tmp/rk/out && for f in /tmp/files/*; do stat -c '%n %u:%g %a' \"$f\"; sha256sum \"$f\"; done "
        "> /tmp/rk/out/seen && echo done > /tmp/rk/out/status; exit 5")


@pytest.fixture
def archive_calls(docker_engine, monkeypatch):
    """The archive API calls (copy in, copy out) and the containers created, in order."""
    calls = []
    for name in ("put_archive", "get_archive", "create_container"):
        real = getattr(docker_engine.api, name)
        monkeypatch.setattr(docker_engine.api, name, lambda *a, _real=real, _name=name, **k: (calls.append(_name),
                                                                                            _real(*a, **k))[1])
    return calls


def expected(files: dict, owner: str | None) -> str:
    import hashlib

    lines = []
    for name, data in sorted(files.items()):
        entry = data if isinstance(data, FileEntry) else FileEntry(data, owner or "0:0", 0o644)
        lines += [f"/{name} {entry.owner} {entry.mode:o}", f"{hashlib.sha256(entry.data).hexdigest()}  /{name}"]
    return "\n".join(lines) + "\n"


def run(engine, files, *, owner=None, image=IMAGE, config=ContainerConfig()):
    return engine.run_batch(image, config, files=files, command=["sh", "-c", SHOW], collect="/tmp/rk/out",
                            timeout=60, owner=owner)


SMALL = {"tmp/files/plain": b"plain text\n", "tmp/files/entry": FileEntry(b"#!/bin/sh\n", "1000:1001", 0o750)}


def test_small_files_go_in_with_the_command_and_outputs_come_back_in_the_log(docker_engine, archive_calls):
    outcome = run(docker_engine, SMALL)
    assert archive_calls == ["create_container"]
    assert outcome.exit_code == 5
    assert outcome.files["out/seen"].decode() == expected(SMALL, None)
    assert outcome.files["out/status"] == b"done\n"


def test_files_too_big_for_the_command_go_through_the_archive_api_alike(docker_engine, archive_calls):
    files = {**SMALL, "tmp/files/big": os.urandom(200 * 1024)}
    outcome = run(docker_engine, files, owner="1000:1000")  # and a plain file's owner given by the call
    assert archive_calls == ["create_container", "put_archive", "get_archive"]
    assert outcome.exit_code == 5
    assert outcome.files["out/seen"].decode() == expected(files, "1000:1000")


def test_outputs_too_big_for_the_log_are_read_through_the_archive_api(docker_engine, archive_calls):
    outcome = docker_engine.run_batch(IMAGE, ContainerConfig(), files=SMALL, collect="/tmp/rk/out", timeout=60,
                                      command=["sh", "-c", "mkdir -p /tmp/rk/out; head -c 1500000 /dev/zero | "
                                                           "tr '\\0' x > /tmp/rk/out/big"])
    assert archive_calls == ["create_container", "get_archive"]
    assert outcome.files["out/big"] == b"x" * 1500000


def test_an_image_whose_user_is_not_root_gets_its_files_through_the_archive_api(docker_engine, archive_calls):
    tag = f"reprokit-test/nonroot:{uuid.uuid4().hex[:10]}"
    docker_engine.build(f"FROM {IMAGE}\nUSER 1000\n", {}, tag=tag, labels={"reprokit.session": SESSION},
                        on_line=lambda line: None)
    try:
        outcome = run(docker_engine, SMALL, image=tag)  # the wrapper finds it is not root and runs nothing
        assert archive_calls == ["create_container", "create_container", "put_archive", "get_archive"]
        assert outcome.exit_code == 5
        assert outcome.files["out/seen"].decode() == expected(SMALL, None)
        archive_calls.clear()
        run(docker_engine, SMALL, image=tag)  # known now: no container is wasted on the wrapper
        assert archive_calls == ["create_container", "put_archive", "get_archive"]
    finally:
        docker_engine.remove_image(tag)
    assert not [c for c in containers_of(docker_engine.api, session=SESSION) if c["Image"] == tag]
