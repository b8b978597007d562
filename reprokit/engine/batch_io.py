"""A batch container's files without the archive API: the files go in with its command (a base64 tar that its
shell unpacks before the real command runs) and the collected folder comes back in its log (a base64 tar between
marker lines).

Copying into a created container, and out of an exited one, each make the engine mount the container's root
filesystem, which costs more than a case's few small files do: in tests/bench_overhead.py's bare-API breakdown,
collecting the outputs took 0.08-0.14 s a container, reading a log 0.005-0.01 s. Where this way cannot work,
`engine/docker.py` uses the archive API as before: a read-only root, volumes or tmpfs mounts (files unpacked
after the start would land elsewhere than files copied before it), a non-root user (the files could not get
their owners), files too big for one argument, an image without `tar` or `base64` (the container then says so
and runs nothing), outputs too big for a log, or no log to read.
Pure text and bytes: no engine needed to test it."""
from __future__ import annotations

import base64
import binascii
import re
import uuid
from enum import Enum

MAX_PAYLOAD = 96 * 1024  # base64 characters; Linux takes at most 128 KiB in one argument (MAX_ARG_STRLEN)
MAX_OUTPUT_KIB = 1024  # a bigger collected folder is read through the archive API, which keeps head and tail

# $1 marker, $2 the files (base64 tar, unpacked at /), $3 and $4 the collected folder's parent and name; then
# the real command. Its exit code is the container's.
WRAPPER = f"""
marker=$1 payload=$2 parent=$3 name=$4
shift 4
if [ "$(id -u 2>/dev/null)" != 0 ] || ! command -v tar >/dev/null || ! command -v base64 >/dev/null ||
   ! printf '%s' "$payload" | base64 -d | tar -x -f - -C /; then
  printf '\\n%s not-unpacked\\n' "$marker"
  exit 0
fi
"$@"
code=$?
if [ ! -d "$parent/$name" ]; then
  printf '\\n%s none\\n' "$marker"
elif [ "$(du -sk "$parent/$name" | cut -f1)" -le {MAX_OUTPUT_KIB} ]; then
  printf '\\n%s tar\\n' "$marker"
  tar -c -f - -C "$parent" "$name" | base64
  printf '\\n%s end\\n' "$marker"
else
  printf '\\n%s big\\n' "$marker"
fi
exit $code
"""


class Collected(Enum):
    """What a wrapped container's log says about its collected folder."""

    TAR = "tar"  # in the log: `Batch.tar` holds it
    NONE = "none"  # the folder does not exist
    ARCHIVE = "archive"  # too big for the log, or no complete answer in it: read it through the archive API
    NOT_UNPACKED = "not-unpacked"  # the files could not be unpacked and nothing ran: start again with the archive API

    def describe(self) -> str:
        return {"tar": "the collected folder came back in the log", "none": "there was no collected folder",
                "archive": "the collected folder is to be read through the archive API",
                "not-unpacked": "the container could not unpack the files and ran nothing"}[self.value]


def wrap(archive: bytes, command: list[str], collect: str) -> tuple[list[str], str] | None:
    """``command`` run after ``archive`` (a tar of paths relative to /) is unpacked, the ``collect`` folder
    printed after it; with the marker its log is read by. None if the files are too big for the command line."""
    payload = base64.b64encode(archive).decode()
    if len(payload) > MAX_PAYLOAD:
        return None
    parent, _, name = collect.rstrip("/").rpartition("/")
    marker = f"@@reprokit-batch-{uuid.uuid4().hex}"
    return ["sh", "-c", WRAPPER, "reprokit-batch", marker, payload, parent or "/", name, *command], marker


def read_log(log: bytes, marker: str) -> tuple[Collected, bytes]:
    """What the wrapper printed after ``marker`` in the container's log: how to get the collected folder, and
    its tar when the log holds it."""
    found = re.search(re.escape(marker.encode()) + rb" (not-unpacked|none|big|tar)\n", log)
    if found is None or found.group(1) == b"big":
        return Collected.ARCHIVE, b""
    if found.group(1) != b"tar":
        return Collected(found.group(1).decode()), b""
    end = log.find(marker.encode() + b" end\n", found.end())
    try:
        return (Collected.TAR, base64.b64decode(b"".join(log[found.end():end].split()), validate=True)) if end > 0 \
            else (Collected.ARCHIVE, b"")
    except binascii.Error:
        return Collected.ARCHIVE, b""
