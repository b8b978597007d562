"""The mirror's package index (reprokit/collect/mirror.py): dpkg's version order, and what a suite offers."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from reprokit.collect.mirror import PackageIndex, compare_versions

PAIRS = [("1.0", "1.0"), ("1.0", "1.1"), ("1.0~rc1", "1.0"), ("1.0", "1.0+b1"), ("1:1.0", "2.0"),
         ("3.0.19-1~deb12u2", "3.0.22-1~deb12u2"), ("3.11.2-6+deb12u6", "3.11.2-6+deb12u10"),
         ("2025b-0+deb12u2", "2026f-0+deb12u1"), ("20.20.2-1nodesource1", "18.20.4+dfsg-1~deb12u3"),
         ("1.2.3a", "1.2.3"), ("1.0-1", "1.0-1.1"), ("1.0~~", "1.0~"), ("0:1.0", "1.0"), ("1.0.0", "1.0"),
         ("1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"), ("2.36-9+deb12u14", "2.36-9+deb12u9")]


@pytest.mark.parametrize("a, b", PAIRS)
def test_versions_compare_as_dpkg_compares_them(a, b):
    mine = compare_versions(a, b)
    assert (mine > 0) - (mine < 0) == -((compare_versions(b, a) > 0) - (compare_versions(b, a) < 0))
    if shutil.which("dpkg"):
        dpkg = 0 if subprocess.run(["dpkg", "--compare-versions", a, "eq", b]).returncode == 0 else \
            (-1 if subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0 else 1)
        assert (mine > 0) - (mine < 0) == dpkg


def test_the_newest_version_is_the_one_apt_would_pick_and_offers_list_newest_first():
    index = PackageIndex.parse("debian:bookworm", "openssl 3.0.15-1~deb12u1 bookworm\n"
                                                   "openssl 3.0.17-1~deb12u2 bookworm-security\n"
                                                   "openssl 3.0.16-1~deb12u1 bookworm-updates\nbroken line\n")
    assert index.newest("openssl") == "3.0.17-1~deb12u2" and index.newest("nodejs") is None
    assert index.has("openssl", "3.0.16-1~deb12u1") and not index.has("openssl", "3.0.11-1~deb12u2")
    assert index.offers("openssl", limit=2) == ("3.0.17-1~deb12u2 (bookworm-security), 3.0.16-1~deb12u1 "
                                                "(bookworm-updates) and 1 older")
    assert index.offers("nodejs") == "nothing"
