"""Hand-off for real: a shipped case is run, its HTML report is rendered by headless Chromium and checked by
what the browser shows, and its bundle replays elsewhere to the same verdict."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from reprokit.contract.load import Project, load_case

ROOT = Path(__file__).resolve().parents[2]
CASE_ID = "SUP-4521"
HIGHLIGHT = (0xFF, 0xF8, 0xC5)  # tr.differs in report.CSS
REPRODUCED_BADGE = (0xCF, 0x22, 0x2E)  # .REPRODUCED in report.CSS
CHROMIUM = shutil.which("chromium")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/setup.sh does)")


@pytest.fixture(scope="module")
def result() -> dict:
    from reprokit.case.reproduce import run_case

    project = Project(ROOT)
    return run_case(load_case(CASE_ID, root=ROOT), project=project, record=False).to_dict()


@pytest.fixture(scope="module")
def page(result, tmp_path_factory) -> Path:
    from reprokit.handoff.report import gather, to_html

    path = tmp_path_factory.mktemp("report") / f"{CASE_ID}.html"
    from reprokit.case.result import CaseResult

    case = load_case(CASE_ID, root=ROOT)
    path.write_text(to_html(gather(case, result=CaseResult.from_dict(case, result))))
    return path


def chromium(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
               *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def pixels(png: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """Decode an 8-bit RGB(A), non-interlaced PNG (what Chromium writes) into its pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    data, at = b"", 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        if kind == b"IDAT":
            data += png[at + 8:at + 8 + length]
        at += 12 + length
    raw, stride, rows, previous = zlib.decompress(data), width * channels, [], bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        previous = line
    return width, height, [tuple(r[x:x + 3]) for r in rows for x in range(0, stride, channels)]


def test_the_shipped_case_reproduces(result):
    assert result["verdict"] == "REPRODUCED", result


def test_chromium_shows_verdict_highlighted_differences_steps_and_output_diff(page, tmp_path):
    done = chromium(page, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert f"<title>{CASE_ID}: " in dom
    assert '<span class="verdict REPRODUCED" id="verdict">REPRODUCED</span>' in dom
    differing = dom.count('<tr class="differs">')
    assert differing >= 3 and dom.count('<tr class="same">') >= 3
    for field in ("<td>os</td><td>debian:bookworm</td><td>debian:bullseye</td>", "python_packages.markupsafe"):
        assert field in dom
    assert f"reprokit case run {CASE_ID}" in dom and "docker build -t reprokit-sup-4521:environment ." in dom
    assert 'syntax error' in dom and 'class="add"' in dom
    assert "containers share the host's" in dom


def test_chromium_paints_the_highlight_and_the_verdict_badge(page, tmp_path):
    shot = tmp_path / "shot.png"
    done = chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    width, height, seen = pixels(shot.read_bytes())
    assert (width, height) == (1280, 1600)
    assert seen.count(HIGHLIGHT) > 5000, "differing rows are not painted with the highlight colour"
    assert seen.count(REPRODUCED_BADGE) > 200, "the REPRODUCED badge is not painted"


def test_bundle_replays_in_an_empty_folder_to_the_same_verdict_spec_and_image(result, tmp_path):
    elsewhere = tmp_path / "other-machine"
    elsewhere.mkdir()
    env = {**os.environ, "REPROKIT_HISTORY": str(tmp_path / "history.sqlite")}
    env.pop("REPROKIT_PROJECT", None)
    made = subprocess.run([sys.executable, "-m", "reprokit", "bundle", CASE_ID, "-o", str(elsewhere / "b.tar.gz"),
                           "-C", str(ROOT)], capture_output=True, text=True, env=env, timeout=120)
    assert made.returncode == 0, made.stderr
    replayed = subprocess.run([sys.executable, "-m", "reprokit", "replay", "b.tar.gz", "--json"], cwd=elsewhere,
                              capture_output=True, text=True, env=env, timeout=900)
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    (again,) = json.loads(replayed.stdout)
    assert (again["case"], again["verdict"]) == (CASE_ID, result["verdict"])
    for role in ("environment", "baseline"):
        assert again["runs"][role]["spec_hash"] == result["runs"][role]["spec_hash"]
        assert again["runs"][role]["image"]["id"] == result["runs"][role]["image"]["id"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["b.tar.gz"]
