"""The engine layer without a daemon: the shipped fake implements the whole protocol, archives carry owners."""
from __future__ import annotations

import io
import tarfile

from reprokit.engine import ContainerConfig, FileEntry, RunResult
from reprokit.engine.fake import FakeContainer, FakeEngine
from reprokit.engine.protocol import Container, Engine


def members(protocol) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


def test_the_fake_engine_has_every_method_of_the_engine_protocol():
    missing = {name for name in members(Engine) if not callable(getattr(FakeEngine(), name, None))}
    assert missing == set()


def test_the_fake_container_has_every_method_of_the_container_protocol():
    container = FakeContainer("c", "img", ContainerConfig())
    assert {name for name in members(Container) if not hasattr(container, name)} == set()


def test_the_fake_batch_runs_steps_in_order_and_stops_at_the_first_failure():
    engine = FakeEngine()
    engine.answers["b"] = RunResult("b", 3, "", "bad\n", 0.5)
    steps = {f"tmp/.reprokit/steps/{i}.sh": f"umask 0077\n{s}".encode() for i, s in enumerate("abc")}
    outcome = engine.run_batch("img", ContainerConfig(), files=steps, command=["sh"], collect="/tmp/.reprokit/out",
                               timeout=10)
    assert outcome.exit_code == 3 and "out/2.status" not in outcome.files
    assert outcome.files["out/1.stderr"] == b"bad\n" and outcome.files["out/0.status"].startswith(b"0 ")
    assert engine.batches[0]["files"] == steps


def test_the_fake_network_and_start_record_what_they_were_given():
    engine = FakeEngine()
    with engine.network({"x": "y"}) as network, engine.start("img", ContainerConfig(network=network),
                                                             files={"etc/a": b"1"}) as container:
        assert container.files == {"/etc/a": b"1"} and container.exit_code() is None
    assert engine.networks == [network] and engine.running == []


def test_docker_archives_give_a_file_entry_its_own_owner_and_mode():
    from reprokit.engine.docker import _tar

    data = _tar({"etc/a.ini": FileEntry(b"x", owner="0:0", mode=0o644), "work/repro.py": b"y"}, owner="1000:1000")
    with tarfile.open(fileobj=io.BytesIO(data.getvalue())) as archive:
        found = {m.name: (m.uid, m.gid, m.mode) for m in archive}
    assert found == {"etc/a.ini": (0, 0, 0o644), "work/repro.py": (1000, 1000, 0o644)}


def test_a_named_users_plain_files_are_writable_by_all_and_entries_keep_their_mode():
    from reprokit.engine.docker import _tar

    data = _tar({"etc/a.ini": FileEntry(b"x"), "work/repro.py": b"y"}, owner="app")
    with tarfile.open(fileobj=io.BytesIO(data.getvalue())) as archive:
        found = {m.name: (m.uid, m.mode) for m in archive}
    assert found == {"etc/a.ini": (0, 0o644), "work/repro.py": (0, 0o666)}
