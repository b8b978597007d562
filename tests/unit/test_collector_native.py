"""The collector's native-library and origin facts (issue 15), read from this machine's real files."""
from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

import pytest

from reprokit.collect.collector import collector

SOURCES = """Package files:
 100 /var/lib/dpkg/status
     release a=now
 500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
     release v=12,o=Debian,a=oldstable-security,n=bookworm-security,l=Debian-Security,c=main,b=amd64
     origin deb.debian.org
 500 https://deb.nodesource.com/node_20.x nodistro/main amd64 Packages
     release o=Node Source,a=nodistro,n=nodistro,l=Node Source,c=main,b=amd64
     origin deb.nodesource.com
Pinned packages:
"""
POLICIES = """libssl3:
  Installed: 3.0.15-1~deb12u1
  Candidate: 3.0.15-1~deb12u1
  Version table:
 *** 3.0.15-1~deb12u1 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
        100 /var/lib/dpkg/status
nodejs:
  Installed: 20.11.0-1nodesource1
  Candidate: 20.11.0-1nodesource1
  Version table:
 *** 20.11.0-1nodesource1 500
        500 https://deb.nodesource.com/node_20.x nodistro/main amd64 Packages
        100 /var/lib/dpkg/status
     18.19.0+dfsg-6~deb12u2 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
bash:
  Installed: 5.2.15-2+b2
  Candidate: 5.2.15-2+b7
  Version table:
     5.2.15-2+b7 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
 *** 5.2.15-2+b2 100
        100 /var/lib/dpkg/status
"""


def test_origins_name_the_repositories_serving_the_installed_version():
    assert collector.parse_origins(SOURCES, POLICIES, ["libssl3", "nodejs", "bash"]) == {
        "libssl3": ["Debian/bookworm-security@deb.debian.org"],
        "nodejs": ["Node Source/nodistro@deb.nodesource.com"],
        "bash": []}  # its version is served by no repository any more


def test_an_extension_modules_links_are_read_from_its_elf_dynamic_segment():
    ssl = Path(sysconfig.get_config_var("DESTSHARED") or "") / f"_ssl{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not ssl.is_file():
        pytest.skip(f"this python has no shared _ssl module ({ssl})")
    wide, needed, folders = collector.elf_dynamic(str(ssl))
    assert wide is (sys.maxsize > 2 ** 32) and any(name.startswith("libssl.so.") for name in needed)
    assert collector.elf_dynamic(__file__) is None  # not ELF


@pytest.mark.skipif(not shutil.which("dpkg"), reason="needs a Debian machine (dpkg's file lists)")
def test_the_libraries_this_python_loads_are_traced_to_their_debian_packages():
    facts = collector.python_facts(sys.executable)
    native = collector.native_libraries(facts)
    owners = set(native["library_owners"].values())
    assert "libc6" in owners and any(owner.startswith("libssl") for owner in owners), owners
    assert any(path.endswith(".so") for path in native["extensions"])
