"""Settling pins with apt's simulation (reprokit/collect/settle.py): the parsing and the decisions, as data."""
from __future__ import annotations

from reprokit.collect.mirror import PackageIndex
from reprokit.collect.settle import Settled, Unmet, _settle_once, removals, unmet_dependencies

APT = """The following packages have unmet dependencies:
 zlib1g-dev : Depends: zlib1g (= 1:1.2.13.dfsg-1+deb12u1) but 1:1.2.13.dfsg-1 is to be installed
 libssl-dev:amd64 : Depends: libssl3 (= 3.0.17-1~deb12u2) but 3.0.11-1~deb12u2 is to be installed
              Depends: libfoo but it is not going to be installed
E: Unable to correct problems, you have held broken packages."""
INDEX = PackageIndex("debian:bookworm", {"zlib1g": {"1:1.2.13.dfsg-1": "bookworm", "1:1.2.13.dfsg-1+deb12u1": "bookworm"},
                                         "zlib1g-dev": {"1:1.2.13.dfsg-1": "bookworm"},
                                         "libssl3": {"3.0.17-1~deb12u2": "bookworm-security"}})


def test_apts_unmet_dependencies_are_read_with_continuation_lines():
    assert unmet_dependencies(APT) == [
        Unmet("zlib1g-dev", "zlib1g", "=", "1:1.2.13.dfsg-1+deb12u1", "1:1.2.13.dfsg-1 is to be installed"),
        Unmet("libssl-dev", "libssl3", "=", "3.0.17-1~deb12u2", "3.0.11-1~deb12u2 is to be installed"),
        Unmet("libssl-dev", "libfoo", "", "", "it is not going to be installed")]


def test_a_package_the_customer_has_is_pinned_at_their_version_else_the_library_takes_the_mirrors():
    result = Settled(["zlib1g=1:1.2.13.dfsg-1", "libssl3=3.0.11-1~deb12u2"], remaining=unmet_dependencies(APT))
    assert _settle_once(result, {"zlib1g-dev": "1:1.2.13.dfsg-1"}, INDEX)
    assert result.pins == ["zlib1g=1:1.2.13.dfsg-1", "libssl3=3.0.17-1~deb12u2", "zlib1g-dev=1:1.2.13.dfsg-1"]
    assert result.added == ["zlib1g-dev"]
    assert result.changed == {"libssl3": ("3.0.11-1~deb12u2", "3.0.17-1~deb12u2", "libssl-dev needs libssl3 "
                                          "(= 3.0.17-1~deb12u2) but 3.0.11-1~deb12u2 is to be installed")}
    result.remaining = [Unmet("libssl-dev", "libfoo", "", "", "it is not going to be installed")]
    assert not _settle_once(result, {}, INDEX)  # nothing pinned causes it: left for the build to explain


def test_a_package_the_pins_would_remove_is_pinned_at_the_customers_version():
    text = "Remv python3-venv [3.11.2-1+b1]\nInst python3.11 [3.11.2-6+deb12u9] (3.11.2-6+deb12u6 Debian:12)\n"
    index = PackageIndex("debian:bookworm", {"python3-venv": {"3.11.2-1+b1": "bookworm"}})
    result = Settled(["python3.11=3.11.2-6+deb12u6"], remaining=removals(text))
    assert result.remaining == [Unmet("python3-venv", "python3-venv", "=", "3.11.2-1+b1", "the pins would remove it")]
    assert _settle_once(result, {"python3-venv": "3.11.2-1+b1"}, index)
    assert result.pins == ["python3.11=3.11.2-6+deb12u6", "python3-venv=3.11.2-1+b1"]
