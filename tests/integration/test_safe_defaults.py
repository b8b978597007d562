"""Containers are safe by default: not privileged, no added capabilities, no mounts, memory and pids limits."""
from __future__ import annotations

import pytest
from conftest import ROOT

from reprokit.contract.load import load_environment
from reprokit.contract.models import DEFAULT_LIMITS


@pytest.fixture(scope="module")
def inspected(docker_engine):
    spec = load_environment("baseline", root=ROOT)
    assert spec.limits.memory == DEFAULT_LIMITS["memory"]  # the baseline sets no limits: these are defaults
    with spec.start(engine=docker_engine) as box:
        yield docker_engine.api.inspect_container(box.id), box


def test_containers_are_never_privileged(inspected):
    assert inspected[0]["HostConfig"]["Privileged"] is False


def test_containers_get_no_added_capabilities_or_devices(inspected):
    host = inspected[0]["HostConfig"]
    assert not host.get("CapAdd") and not host.get("Devices") and host.get("PidMode") in ("", None)


def test_containers_have_no_mounts(inspected):
    assert inspected[0]["Mounts"] == [] and not inspected[0]["HostConfig"].get("Binds")


def test_default_memory_and_pids_limits_apply(inspected):
    host, box = inspected[0]["HostConfig"], inspected[1]
    assert host["Memory"] == 2 * 1024 ** 3 and host["MemorySwap"] == host["Memory"]
    assert host["PidsLimit"] == DEFAULT_LIMITS["pids"]
    facts = box.facts()
    assert facts["memory_limit"] == str(2 * 1024 ** 3) and facts["pids_limit"] == str(DEFAULT_LIMITS["pids"])


def test_containers_carry_the_session_and_owner_labels(inspected):
    import os

    from reprokit.engine import SESSION

    labels = inspected[0]["Config"]["Labels"]
    assert labels["reprokit.session"] == SESSION and labels["reprokit.owner-pid"] == str(os.getpid())


def test_the_build_ca_bundle_is_not_left_in_the_image(inspected):
    assert inspected[1].run("test -e /tmp/reprokit-build-ca.pem || echo absent", timeout=30).stdout == "absent\n"
