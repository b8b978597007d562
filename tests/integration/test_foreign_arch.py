"""arm64 on this amd64 host: a root filesystem loaded with its architecture, and an arm64 environment built and
run under qemu-user emulation, with its facts and diffs. Skipped (not failed) where emulation or the arm64
base is missing, except in CI, whose set-up prepares both (`.ci/setup.sh`)."""
from __future__ import annotations

import io
import os
import tarfile
import textwrap
import uuid

import pytest

from reprokit.aspects.arch import host_arch
from reprokit.case.reproduce import run_case
from reprokit.engine import LABELS
from reprokit.image import emulation
from reprokit.contract.load import Project, load_case

pytestmark = pytest.mark.integration
ARM64_BASE = "arm64v8/debian:bookworm"


@pytest.fixture(scope="module")
def arm64(docker_engine):
    """The engine, once arm64 containers can run on it (emulation ready, the arm64 base present)."""
    if host_arch() == "arm64":
        pytest.skip("arm64 is this host's own architecture: nothing is emulated")
    problems = [] if emulation.check("arm64").ok else [f"emulation: {emulation.check('arm64').detail}"]
    if docker_engine.image_id(ARM64_BASE) is None:
        problems.append(f"{ARM64_BASE} is missing")
    if problems:
        message = "; ".join(problems) + " (fix: as root, reprokit images bootstrap debian:bookworm --arch arm64)"
        if os.environ.get("CI"):
            pytest.fail(f"CI's set-up prepares arm64: {message}")
        pytest.skip(message)
    return docker_engine


def test_a_root_filesystem_loads_as_an_image_of_the_architecture_it_was_given(docker_engine, api, tmp_path):
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        data = b"ID=debian\n"
        info = tarfile.TarInfo("etc/os-release")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    reference = f"reprokit-test/arch-load:{uuid.uuid4().hex[:12]}"
    labels = {**LABELS, "reprokit.kind": "base", "reprokit.base": reference}
    try:
        image = docker_engine.load_rootfs(str(tarball), reference, arch="arm64", labels=labels)
        inspected = api.inspect_image(reference)
        assert inspected["Id"] == image
        assert (inspected["Architecture"], inspected.get("Variant"), inspected["Os"]) == ("arm64", "v8", "linux")
        assert docker_engine.image_architecture(reference) == "arm64"
        assert inspected["Config"]["Labels"]["reprokit.base"] == reference
        assert not (tmp_path / "rootfs.tar.image.tar").exists()  # the archive is not left behind
    finally:
        docker_engine.remove_image(reference)
    assert docker_engine.image_id(reference) is None


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    """A vendor's install script that knows x86_64 only (the commonest arm64 failure), on bookworm. No python
    packages: under emulation the arm64 build is the platform layer alone (~1-2 min), shared with SUP-5231."""
    root = tmp_path_factory.mktemp("arch")
    (root / "environments").mkdir()
    (root / "environments" / "baseline.yaml").write_text("os: debian:bookworm\n")
    (root / "cases" / "ARCH-1").mkdir(parents=True)
    (root / "cases" / "ARCH-1" / "case.yaml").write_text(textwrap.dedent("""\
        id: ARCH-1
        title: the agent installer refuses the customer's Graviton host
        environment: {extends: baseline, arch: arm64}
        steps:
          - >-
            case "$(uname -m)" in x86_64) echo "installing agent-linux-amd64";;
            *) echo "agent installer: unsupported architecture $(uname -m)" >&2; exit 3;; esac
        expect:
          exit_code: 3
          stderr_contains: "unsupported architecture aarch64"
        """))
    return Project(root)


def test_an_arm64_environment_reproduces_under_emulation_against_the_amd64_baseline(arm64, project):
    result = run_case(load_case("ARCH-1", root=project.root), project=project, record=False)
    customer, baseline = result.runs["environment"], result.runs["baseline"]
    assert result.verdict.value == "REPRODUCED", (result.explain(), customer.attempts, baseline.attempts)
    assert (customer.facts["arch"], customer.facts["emulated"]) == ("aarch64", "qemu-user")
    assert baseline.facts["arch"] == "x86_64" and "emulated" not in baseline.facts
    assert arm64.image_architecture(customer.image.tag) == "arm64"
    assert arm64.image_architecture(baseline.image.tag) == "amd64"
    assert {"field": "arch", "baseline": "(absent)", "environment": "arm64"} in result.diffs["spec"]
    observed = {row["fact"]: (row["baseline"], row["environment"]) for row in result.diffs["facts"]}
    assert observed["arch"] == ("x86_64", "aarch64")
    assert observed["emulated"] == ("(absent)", "qemu-user")
