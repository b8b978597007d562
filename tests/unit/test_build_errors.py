"""Readable build errors (reprokit/image/build_errors.py): one failing package per line with the pin's file and
line, the full log kept in a file, and nothing wider than the terminal."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from reprokit.collect.mirror import PackageIndex
from reprokit.contract.load import load_environment
from reprokit.image.build_errors import explain, find_problems, fit, short_step

PACKAGES = [f"lib{i}-example=1.{i}-1" for i in range(800)]
STEP = "Step 4/18 : RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends " + " ".join(PACKAGES)
APT_LOG = ["Step 4/18 : " + STEP, " ---> Running in d8a884be91f5",
           "E: Version '3.11.2-6+deb12u6' for 'python3.11' was not found",
           "E: Version '3.0.11-1~deb12u2' for 'libssl3' was not found",
           "E: Unable to locate package acme-agent",
           "The command '/bin/sh -c apt-get update -qq && apt-get install " + " ".join(PACKAGES) + "' returned 100"]
MIRROR = PackageIndex("debian:bookworm", {"python3.11": {"3.11.2-6+deb12u9": "bookworm-security",
                                                         "3.11.2-6+deb12u5": "bookworm"},
                                          "libssl3": {"3.0.17-1~deb12u2": "bookworm-security"}})


def project(tmp_path):
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "base.yaml").write_text("os: debian:bookworm\nsystem_packages:\n"
                                                         "  - libssl3=3.0.11-1~deb12u2\n")
    (tmp_path / "environments" / "acme.yaml").write_text(
        "extends: base\nsystem_packages:\n  - python3.11=3.11.2-6+deb12u6\n  - acme-agent\n"
        "python_packages: ['six==99.0']\n")
    return load_environment("acme", root=tmp_path)


def test_each_failing_package_is_one_line_with_what_the_suite_offers_and_where_it_is_pinned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = project(tmp_path)
    lines = [p.line() for p in find_problems(spec, APT_LOG, MIRROR.offers)]
    assert lines == [
        "python3.11 3.11.2-6+deb12u6: version not in the suite; offered: 3.11.2-6+deb12u9 (bookworm-security), "
        "3.11.2-6+deb12u5 (bookworm) (environments/acme.yaml:3)",
        "libssl3 3.0.11-1~deb12u2: version not in the suite; offered: 3.0.17-1~deb12u2 (bookworm-security) "
        "(environments/base.yaml:3)",
        "acme-agent (any version): no such package in the suite; offered: nothing (environments/acme.yaml:4)"]


def test_a_pip_failure_names_the_pin_and_the_releases_the_index_has(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = ["ERROR: Could not find a version that satisfies the requirement six==99.0 (from versions: 1.0.0, 1.1.0, "
           "1.2.0, 1.3.0, 1.4.0, 1.15.0, 1.16.0, 1.17.0)", "ERROR: No matching distribution found for six==99.0"]
    [problem] = find_problems(project(tmp_path), log)
    assert problem.line() == ("six 99.0: no such release on the index; offered: 1.3.0, 1.4.0, 1.15.0, 1.16.0, 1.17.0 "
                              "(and 3 older) (environments/acme.yaml:5)")


def test_the_message_fits_the_terminal_and_the_whole_log_is_in_the_file_it_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logs = Path(tempfile.mkdtemp(prefix="rk"))  # a path as short as ~/.cache/reprokit/build-logs
    error = explain(project(tmp_path), STEP, APT_LOG, APT_LOG[-1], hint="check that the package and version exist "
                    "in that Debian suite (apt-cache policy NAME in a container of it)", reproduce="reprokit env build "
                    "acme", tail=15, offers=MIRROR.offers, width=80, folder=logs)
    text = str(error)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "what failed, one package per line:" in text and "acme-agent (any version)" in text
    assert error.step == STEP  # whole for code; the message shows it cut:
    assert "failed at step: Step 4/18 : " in text and " ... (813 words)" in text
    [path] = list(logs.glob("acme-*.log"))
    assert f"full log: {path}" in text and len(text.splitlines()) < 40
    assert STEP in path.read_text() and APT_LOG[-1] in path.read_text()
    shutil.rmtree(logs)


def test_fit_breaks_long_words_and_keeps_short_lines():
    assert fit("short", 10) == ["short"]
    assert all(len(line) <= 10 for line in fit("x" * 35, 10))
    assert short_step("Step 1/2 : FROM debian:bookworm", 80) == "Step 1/2 : FROM debian:bookworm"


def test_when_apt_only_says_held_broken_packages_its_simulation_names_the_conflict(tmp_path, monkeypatch):
    from reprokit.collect.settle import Unmet

    monkeypatch.chdir(tmp_path)
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "z.yaml").write_text(
        "os: debian:bookworm\nsystem_packages: ['zlib1g=1:1.2.13.dfsg-1', libpython3.11-dev]\n")
    asked = []

    def conflicts(pins):
        asked.append(pins)
        return [Unmet("zlib1g-dev", "zlib1g", "=", "1:1.2.13.dfsg-1+deb12u1", "1:1.2.13.dfsg-1 is to be installed")]
    error = explain(load_environment("z", root=tmp_path), "Step 4/9 : RUN apt-get install",
                    ["E: Unable to correct problems, you have held broken packages."], "exit 100", hint=None,
                    reproduce="reprokit env build z", tail=5, conflicts=conflicts, width=120, folder=tmp_path)
    assert asked == [["zlib1g=1:1.2.13.dfsg-1", "libpython3.11-dev"]]
    assert " ".join(error.problems) == ("zlib1g 1:1.2.13.dfsg-1: zlib1g-dev needs zlib1g (= 1:1.2.13.dfsg-1+deb12u1) "
                                        "but 1:1.2.13.dfsg-1 is to be installed   (environments/z.yaml:2)")
