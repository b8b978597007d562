"""A run as an orchestrator's batch job (a Swarm job today, a Kubernetes Job tomorrow): how the case's files get
in and the results get out when reprokit cannot copy into or out of the container, because it runs on a node
reprokit does not talk to.

In: the files as one tar, delivered as a file the orchestrator mounts (a Swarm config, a ConfigMap), unpacked
by a small shell wrapper before the command runs. Out: when the command ends, the wrapper prints the collected
folder as a base64 tar between two marker lines on stdout, with the command's exit code and the number of OOM
kills its cgroup saw; reprokit reads them back from the job's log, which every orchestrator keeps. Pure: no
engine is needed to build the wrapper or parse a log.
"""
from __future__ import annotations

import base64
import binascii
import io
import tarfile
from dataclasses import dataclass

INPUT = "/run/reprokit-input.tar"  # where the orchestrator mounts the files' tar
BEGIN = "@@reprokit-results"  # BEGIN <exit code> <oom kills>, then base64 lines, then END
END = "@@reprokit-results-end"
UNPACK_FAILED = 96  # the wrapper's exit code when the files could not be unpacked

# $0: the input tar ("" when no files), $1: the folder to collect ("" for none), the rest: the command. The
# collected tar names files under the folder's last component (out/0.status), as `docker cp` does.
# The OOM count comes from the job's own memory cgroup (v2 memory.events, v1 memory.oom_control), the one
# place it can be read on any node; the local engine asks its event log instead.
WRAPPER = f"""
input=$0 collect=$1
shift
if [ -n "$input" ]; then
  tar -xf "$input" -C / || {{
    echo "reprokit: could not unpack the case's files into the job's container" >&2
    exit {UNPACK_FAILED}
  }}
fi
"$@"
code=$?
if [ -n "$collect" ]; then
  ooms=$(cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null |
    awk '$1 == "oom_kill" {{n += $2}} END {{print n + 0}}')
  echo "{BEGIN} $code $ooms"
  if cd "${{collect%/*}}/" 2>/dev/null; then tar -cf - "${{collect##*/}}" | base64; fi
  echo "{END}"
fi
exit $code
"""


@dataclass(frozen=True)
class JobResults:
    """What the wrapper printed when the command ended: its exit code, OOM kills, the collected files."""

    exit_code: int
    oom_kills: int
    files: dict[str, bytes]


def wrap(command: list[str], *, has_input: bool, collect: str | None) -> list[str]:
    """The job's argv: the wrapper around ``command`` (unpacking the input tar first when there is one)."""
    return ["sh", "-c", WRAPPER, INPUT if has_input else "", collect or "", *command]


def parse_results(stdout: str) -> JobResults | None:
    """The results frame from a job's stdout (the last one, if a step printed a look-alike); None when the job
    ended before printing it (it was killed, or the image lacks tar or base64)."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(BEGIN + " ")]
    if not starts:
        return None
    start = starts[-1]
    try:
        end = lines.index(END, start)
    except ValueError:
        return None
    fields = lines[start].split()
    try:
        code, ooms = int(fields[1]), int(fields[2]) if len(fields) > 2 else 0
        data = base64.b64decode("".join(lines[start + 1:end]), validate=True)
    except (ValueError, binascii.Error, IndexError):
        return None
    return JobResults(code, ooms, untar(data) if data else {})


def untar(data: bytes) -> dict[str, bytes]:
    """Regular files of a tar by path."""
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return {member.name: archive.extractfile(member).read()
                for member in archive if member.isfile()}
