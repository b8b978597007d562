"""The Swarm backend's pure parts (engine/swarm.py, engine/backends.py): a ContainerConfig as a job's task, and
the registry of backends."""
from __future__ import annotations

import pytest

from reprokit.engine import ContainerConfig
from reprokit.engine.backends import BACKENDS, open_backend
from reprokit.errors import InvalidValue

swarm = pytest.importorskip("reprokit.engine.swarm")


def test_limits_become_resources_ulimits_and_a_sized_dev_shm():
    config = ContainerConfig(memory="512m", cpus=1.5, pids=256, nofile=4096, shm="64m")
    task = swarm.task_template("img", config, ["true"], labels={"reprokit.session": "s"})
    assert task["Resources"]["Limits"] == {"MemoryBytes": 512 << 20, "NanoCPUs": 1_500_000_000, "Pids": 256}
    spec = task["ContainerSpec"]
    assert spec["Ulimits"] == [{"Name": "nofile", "Soft": 4096, "Hard": 4096}]
    assert [(m["Target"], m["Type"], m["TmpfsOptions"]["SizeBytes"]) for m in spec["Mounts"]] == \
        [("/dev/shm", "tmpfs", 64 << 20)]


def test_a_job_runs_once_with_no_restart_and_carries_the_labels():
    task = swarm.task_template("img", ContainerConfig(), ["true"], labels={"reprokit.session": "s"})
    assert task["RestartPolicy"]["Condition"] == "none"
    assert task["ContainerSpec"]["Labels"] == {"reprokit.session": "s"}
    assert task["ContainerSpec"]["Init"] is True


def test_a_read_only_root_gets_labelled_volumes_for_its_writable_folders_and_the_declared_tmpfs():
    config = ContainerConfig(read_only=True, writable=("/work", "/tmp/.reprokit"), tmpfs={"/tmp": "16m"})
    spec = swarm.task_template("img", config, ["true"], labels={"reprokit.session": "s"})["ContainerSpec"]
    assert spec["ReadOnly"] is True
    assert [(m["Target"], m["Type"]) for m in spec["Mounts"]] == \
        [("/tmp", "tmpfs"), ("/work", "volume"), ("/tmp/.reprokit", "volume")]
    assert spec["Mounts"][1]["VolumeOptions"]["Labels"] == {"reprokit.session": "s"}


def test_hostname_hosts_env_user_and_workdir_reach_the_container_spec():
    config = ContainerConfig(hostname="acme-app01", hosts={"billing": "10.1.2.3"}, env={"A": "1"})
    spec = swarm.task_template("img", config, ["true"], labels={}, user="1000", workdir="/w",
                               env={"B": "2"})["ContainerSpec"]
    assert (spec["Hostname"], spec["Hosts"], sorted(spec["Env"]), spec["User"], spec["Dir"]) == \
        ("acme-app01", ["10.1.2.3 billing"], ["A=1", "B=2"], "1000", "/w")


def test_the_registry_names_a_module_and_class_per_backend_and_refuses_unknown_names():
    assert set(BACKENDS) == {"local", "swarm"}
    with pytest.raises(InvalidValue, match="local .*swarm"):
        open_backend("kubernetes")


def test_an_unknown_backend_is_a_user_mistake_naming_the_backends(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "reprokit", "replay", "--backend", "kubernetes", "-C", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "'kubernetes' is not a backend" in done.stderr and "swarm" in done.stderr
    assert "Traceback" not in done.stderr


class LingeringNetworkAPI:
    """The swarm answers a network's removal at once; the node still lists it for a few more looks."""

    def __init__(self, looks_after_removal: int):
        self.looks_after_removal = looks_after_removal
        self.removed = 0

    def inspect_network(self, network):
        if self.removed and self.looks_after_removal == 0:
            from docker.errors import NotFound
            raise NotFound("network not found")
        if self.removed:
            self.looks_after_removal -= 1
        return {"Containers": {}}

    def remove_network(self, network):
        self.removed += 1


def test_a_network_counts_as_removed_only_once_the_node_no_longer_has_it(monkeypatch):
    monkeypatch.setattr(swarm, "POLL_S", 0)
    engine = swarm.SwarmEngine.__new__(swarm.SwarmEngine)
    engine.api = LingeringNetworkAPI(looks_after_removal=3)
    engine._remove_network("n1")
    assert engine.api.removed == 1 and engine.api.looks_after_removal == 0  # asked once, waited until gone
