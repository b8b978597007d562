"""A container's files in with its command and its results back in its log: for a local batch container, where
copying in and out through the archive API costs more than a case's few small files do (tests/bench_overhead.py's
bare-API breakdown: collecting the outputs took 0.08-0.14 s a container, reading a log 0.005-0.01 s), and for an
orchestrator's job (a Swarm job), which runs on a node reprokit does not talk to, so nothing can be copied at all.

In: a tar of paths relative to /, passed as an argument (base64, at most MAX_PAYLOAD) or as a file the orchestrator
mounts (a Swarm config); a small shell wrapper unpacks it, then runs the real command. Out: when the command ends,
the wrapper prints a frame after a marker unique to the run, `MARKER <state> <exit code> <oom kills>`, then for
`tar` the collected folder as a base64 tar and `MARKER end`. The OOM count comes from the container's own memory
cgroup (v2 memory.events, v1 memory.oom_control), the one place a job on any node can read it.

Where this way cannot work, `engine/docker.py` uses the archive API: a read-only root, volumes or tmpfs mounts
(files unpacked after the start would land elsewhere than files copied before it), a non-root user (the files
could not get their owners), files too big for one argument, an image without `tar` or `base64` (the wrapper then
says `not-unpacked` and runs nothing), outputs too big for a log, or no log to read.
Pure text and bytes: no engine needed to test it."""
from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from enum import Enum

MAX_PAYLOAD = 96 * 1024  # base64 characters; Linux takes at most 128 KiB in one argument (MAX_ARG_STRLEN)
LOG_LIMIT_KIB = 1024  # a bigger collected folder is left to the archive API, which keeps head and tail
UNPACK_FAILED = 96  # the wrapper's exit code when the files could not be unpacked (nothing ran)

# $1 marker; $2 the files: "" none, "@PATH" a mounted tar, else a base64 tar; $3 "root" when only root may unpack
# (the files' owners); $4 the largest collected folder in KiB to print ("" no limit); $5 and $6 the collected
# folder's parent and name ("" none); then the real command, whose exit code is the wrapper's.
WRAPPER = r"""
marker=$1 files=$2 as_root=$3 limit=$4 parent=$5 name=$6
shift 6
unpack() {
  case $files in
    @*) tar -x -f "${files#@}" -C / ;;
    *) command -v base64 >/dev/null && printf '%s' "$files" | base64 -d | tar -x -f - -C / ;;
  esac
}
if [ -n "$files" ]; then
  if { [ -n "$as_root" ] && [ "$(id -u 2>/dev/null)" != 0 ]; } || ! command -v tar >/dev/null || ! unpack; then
    echo "reprokit: could not unpack the case's files into the container" >&2
    printf '\n%s not-unpacked\n' "$marker"
    exit 96
  fi
fi
"$@"
code=$?
if [ -n "$name" ]; then
  ooms=$(cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null |
    awk '$1 == "oom_kill" {n += $2} END {print n + 0}')
  ooms=${ooms:-0}  # no awk in the image
  if [ ! -d "$parent/$name" ]; then
    printf '\n%s none %s %s\n' "$marker" "$code" "$ooms"
  elif [ -n "$limit" ] && ! [ "$(du -sk "$parent/$name" 2>/dev/null | cut -f1)" -le "$limit" ] 2>/dev/null; then
    printf '\n%s big %s %s\n' "$marker" "$code" "$ooms"  # over the limit, or no du to tell
  else
    printf '\n%s tar %s %s\n' "$marker" "$code" "$ooms"
    tar -c -f - -C "$parent" "$name" | base64
    printf '\n%s end\n' "$marker"
  fi
fi
exit $code
"""


class Collected(Enum):
    """What a wrapped container's log says about its collected folder."""

    TAR = "tar"  # in the log: `Results.tar` holds it
    NONE = "none"  # the folder does not exist
    UNREAD = "unread"  # too big for the log, or no complete answer in it (read it otherwise, if one can)
    NOT_UNPACKED = "not-unpacked"  # the files could not be unpacked and nothing ran

    def describe(self) -> str:
        return {"tar": "the collected folder came back in the log", "none": "there was no collected folder",
                "unread": "the log holds no collected folder (too big for it, or the run was cut short)",
                "not-unpacked": "the container could not unpack the files and ran nothing"}[self.value]


@dataclass(frozen=True)
class Results:
    """What the wrapper printed when the command ended (``exit_code`` is None when the log holds no frame)."""

    collected: Collected
    tar: bytes = b""
    exit_code: int | None = None
    oom_kills: int = 0


def wrap(command: list[str], *, files: bytes | str | None, collect: str | None, as_root: bool = False,
         limit_kib: int | None = None) -> tuple[list[str], str] | None:
    """``command`` run after ``files`` are unpacked at / (a tar's bytes, sent in the command; or the path of a tar
    the orchestrator mounts), the ``collect`` folder printed after it (at most ``limit_kib``); with the marker its
    log is read by. ``as_root``: unpack only as root (else `not-unpacked`). None when the bytes are too big for
    one argument."""
    if isinstance(files, bytes):
        files = base64.b64encode(files).decode()
        if len(files) > MAX_PAYLOAD:
            return None
    elif files is not None:
        files = "@" + files
    parent, _, name = (collect or "").rstrip("/").rpartition("/")
    marker = f"@@reprokit-run-{uuid.uuid4().hex}"
    return ["sh", "-c", WRAPPER, "reprokit-run", marker, files or "", "root" if as_root else "",
            "" if limit_kib is None else str(limit_kib), (parent or "/") if collect else "", name, *command], marker


def read_log(log: bytes, marker: str) -> Results:
    """What the wrapper printed after ``marker`` in the container's log."""
    found = re.search(re.escape(marker.encode()) + rb" (not-unpacked|none|big|tar)(?: (-?\d+) (\d+))?\n", log)
    if found is None or found.group(1) == b"big":
        return Results(Collected.UNREAD, exit_code=_number(found, 2), oom_kills=_number(found, 3) or 0)
    state, code, ooms = found.group(1).decode(), _number(found, 2), _number(found, 3) or 0
    if state != "tar":
        return Results(Collected(state), exit_code=code, oom_kills=ooms)
    end = log.find(marker.encode() + b" end\n", found.end())
    try:
        tar = base64.b64decode(b"".join(log[found.end():end].split()), validate=True) if end > 0 else None
    except binascii.Error:
        tar = None
    return Results(Collected.TAR if tar else Collected.UNREAD, tar or b"", code, ooms)  # b"": tar printed nothing


def _number(found: re.Match | None, group: int) -> int | None:
    return int(found.group(group)) if found is not None and found.group(group) is not None else None
