"""The `docker save` archive a bootstrapped root filesystem is loaded from (reprokit/engine/archive.py)."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

from reprokit.engine.archive import write_image_archive


def rootfs(tmp_path):
    path = tmp_path / "rootfs.tar"
    with tarfile.open(path, "w") as tar:
        data = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
        info = tarfile.TarInfo("etc/os-release")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def read_archive(path):
    with tarfile.open(path) as tar:
        files = {member.name: tar.extractfile(member).read() for member in tar if member.isfile()}
    [manifest] = json.loads(files["manifest.json"])
    return manifest, json.loads(files[manifest["Config"]]), files


def test_the_image_config_records_arm64_v8_so_the_engine_knows_the_architecture(tmp_path):
    write_image_archive(rootfs(tmp_path), tmp_path / "image.tar", "arm64v8/debian:bookworm", arch="arm64",
                        labels={"reprokit.kind": "base", "reprokit.base": "arm64v8/debian:bookworm"})
    manifest, config, _ = read_archive(tmp_path / "image.tar")
    assert (config["architecture"], config["variant"], config["os"]) == ("arm64", "v8", "linux")
    assert config["config"]["Labels"] == {"reprokit.kind": "base", "reprokit.base": "arm64v8/debian:bookworm"}
    assert manifest["RepoTags"] == ["arm64v8/debian:bookworm"]


def test_an_amd64_config_has_no_variant(tmp_path):
    write_image_archive(rootfs(tmp_path), tmp_path / "image.tar", "debian:bookworm", arch="amd64", labels={})
    _, config, _ = read_archive(tmp_path / "image.tar")
    assert config["architecture"] == "amd64" and "variant" not in config


def test_the_layer_is_the_rootfs_tarball_and_its_diff_id_is_its_digest(tmp_path):
    tarball = rootfs(tmp_path)
    write_image_archive(tarball, tmp_path / "image.tar", "arm64v8/debian:bookworm", arch="arm64", labels={})
    manifest, config, files = read_archive(tmp_path / "image.tar")
    assert manifest["Layers"] == ["layer.tar"] and files["layer.tar"] == tarball.read_bytes()
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(tarball.read_bytes()).hexdigest()]
    assert manifest["Config"] == hashlib.sha256(files[manifest["Config"]]).hexdigest() + ".json"


def test_a_reference_without_a_tag_is_tagged_latest_and_a_registry_port_is_no_tag(tmp_path):
    write_image_archive(rootfs(tmp_path), tmp_path / "a.tar", "localhost:5000/base", arch="amd64", labels={})
    assert read_archive(tmp_path / "a.tar")[0]["RepoTags"] == ["localhost:5000/base:latest"]
