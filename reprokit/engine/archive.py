"""An image archive in `docker save` format around one root-filesystem tarball, with a config that says its
architecture: how a debootstrapped rootfs becomes an image of the right platform.

`docker import` (the engine's ImageCreate from a tarball) records the engine's own architecture whatever the
rootfs holds (dockerd 20.10: always amd64 on an amd64 host, `--platform` or not); an arm64 rootfs imported
so runs, but the engine, the builder and `--platform` then all believe it is amd64. A loaded archive keeps
the architecture its config states. Pure stdlib: no engine needed to write one.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import tarfile
import time
from pathlib import Path

# The OCI platform variant of each architecture, as the official images record it (arm64 -> linux/arm64/v8).
VARIANTS = {"arm64": "v8"}
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def image_config(layer_digest: str, *, arch: str, labels: dict[str, str], created_by: str) -> dict:
    """The image config of a one-layer image of ``arch`` (the official Debian images' Env and Cmd)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    config = {"architecture": arch, "os": "linux", "created": now,
              "config": {"Env": [PATH], "Cmd": ["bash"], "Labels": dict(labels)},
              "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
              "history": [{"created": now, "created_by": created_by}]}
    if arch in VARIANTS:
        config["variant"] = VARIANTS[arch]
    return config


def write_image_archive(rootfs: Path, archive: Path, reference: str, *, arch: str, labels: dict[str, str],
                        created_by: str = "debootstrap") -> None:
    """Write ``archive``: ``rootfs`` (an uncompressed tar) as the only layer, tagged ``reference``."""
    digest = hashlib.sha256()
    with open(rootfs, "rb") as layer:
        for block in iter(lambda: layer.read(1 << 20), b""):
            digest.update(block)
    config = json.dumps(image_config(digest.hexdigest(), arch=arch, labels=labels, created_by=created_by),
                        separators=(",", ":")).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    tag = reference if ":" in reference.rsplit("/", 1)[-1] else f"{reference}:latest"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["layer.tar"]}]).encode()
    with tarfile.open(archive, mode="w") as tar:
        for name, data in ((config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
        tar.add(str(rootfs), arcname="layer.tar")
