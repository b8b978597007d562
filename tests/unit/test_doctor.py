"""`reprokit doctor`'s checks for other architectures (reprokit/doctor.py): emulation and per-arch base images."""
from __future__ import annotations

import pytest

from fakes import FakeEngine, write_project
from reprokit import doctor
from reprokit.aspects import arch as arch_module
from reprokit.image import emulation
from reprokit.contract.load import Project

REGISTERED = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"


@pytest.fixture(autouse=True)
def amd64_host(monkeypatch):
    for module in (arch_module, emulation, doctor):
        monkeypatch.setattr(module, "host_arch", lambda: "amd64")


def binfmt(tmp_path, entry: str | None):
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    (folder / "register").write_text("")
    (folder / "status").write_text("enabled\n")
    if entry is not None:
        (folder / "qemu-aarch64").write_text(entry)
    return folder


def test_emulation_nobody_declares_is_a_note_not_a_failure(tmp_path):
    [check] = doctor.foreign_checks(FakeEngine(), {}, binfmt=binfmt(tmp_path, None))
    assert (check.name, check.ok, check.required) == ("emulation arm64", False, False)
    assert check.detail.endswith("(qemu-user-static is not registered); no environment declares it")
    assert "reprokit images bootstrap debian:bookworm --arch arm64" in check.fix


def test_emulation_an_environment_declares_is_required_and_so_is_its_base_image(tmp_path):
    declared = {("debian:bookworm", "arm64"): ["case SUP-5231", "environment graviton"]}
    emulated, base = doctor.foreign_checks(FakeEngine(), declared,
                                           binfmt=binfmt(tmp_path, REGISTERED.replace("PF", "P")))
    assert (emulated.ok, emulated.required) == (False, True)
    assert "lacks the F flag" in emulated.detail and emulated.detail.endswith(
        "needed by case SUP-5231, environment graviton")
    assert (base.name, base.ok, base.required) == ("base image arm64v8/debian:bookworm", False, True)
    assert base.fix == "reprokit images bootstrap debian:bookworm --arch arm64"


def test_ready_emulation_and_a_present_base_pass(tmp_path):
    engine = FakeEngine()
    engine.add_image("arm64v8/debian:bookworm", arch="arm64")
    checks = list(doctor.foreign_checks(engine, {("debian:bookworm", "arm64"): ["environment graviton"]},
                                        binfmt=binfmt(tmp_path, REGISTERED)))
    assert [(c.name, c.ok) for c in checks] == [("emulation arm64", True),
                                                ("base image arm64v8/debian:bookworm", True)]
    assert checks[0].detail == "qemu-user via /usr/libexec/qemu-binfmt/aarch64-binfmt-P (flags PF)"


def test_foreign_architectures_are_found_in_environments_and_inline_case_sides(tmp_path):
    root = write_project(tmp_path, {
        "environments/baseline.yaml": "os: debian:bookworm\n",
        "environments/graviton.yaml": "extends: baseline\narch: arm64\n",
        "environments/native.yaml": "os: debian:bullseye\narch: amd64\n",
        "cases/SUP-1/case.yaml": "id: SUP-1\ntitle: t\nenvironment: {os: debian:bullseye, arch: aarch64}\n"
                                 "steps: [uname -m]\nexpect: {exit_code: 0}\n",
        "cases/SUP-2/case.yaml": "id: SUP-2\nenvironment: nope\n",  # does not load: declares nothing here
    })
    assert doctor.declared_foreign(Project(root)) == {("debian:bookworm", "arm64"): ["environment graviton"],
                                                      ("debian:bullseye", "arm64"): ["case SUP-1"]}


# -- the checks of the new capabilities: Debian mirror, faketime, registries, image-use records, Podman -------------

def answering(*hosts: str):
    """A stand-in for doctor.reachable: URLs under ``hosts`` answer, the rest are refused."""
    asked = []

    def answer(url: str):
        asked.append(url)
        return None if any(host in url for host in hosts) else "[Errno 111] Connection refused"

    answer.asked = asked
    return answer


def test_a_silent_debian_mirror_fails_with_where_to_look():
    check = doctor.mirror_check("http://mirror.example/debian", answer=answering())
    assert (check.name, check.ok) == ("Debian mirror", False)
    assert "http://mirror.example/debian does not answer: [Errno 111]" in check.detail
    assert "/etc/apt/sources.list" in check.fix
    assert doctor.mirror_check("http://mirror.example/debian", answer=answering("mirror.example")).ok


def test_faketime_is_required_only_when_a_clock_is_declared_and_needs_the_mirror():
    assert doctor.clock_check([], mirror_ok=False).ok
    check = doctor.clock_check(["case SUP-5177"], mirror_ok=False)
    assert (check.ok, check.required) == (False, True) and "case SUP-5177" in check.detail
    assert "mirror" in check.fix
    assert doctor.clock_check(["case SUP-5177"], mirror_ok=True).ok


def test_clocks_are_found_in_environments_and_case_sides(tmp_path):
    root = write_project(tmp_path, {
        "environments/baseline.yaml": "os: debian:bookworm\n",
        "environments/later.yaml": "extends: baseline\nclock: '+400d'\n",
        "cases/SUP-1/case.yaml": "id: SUP-1\ntitle: t\nenvironment: {os: debian:bookworm, clock: '2030-01-01 00:00:00'}\n"
                                 "steps: [date]\nexpect: {exit_code: 0}\n",
    })
    assert doctor.declared_clocks(Project(root)) == ["environment later", "case SUP-1"]


def test_a_registry_named_by_a_variable_must_answer_its_api():
    answer = answering()
    [check] = doctor.registry_checks({"REPROKIT_REGISTRY": "127.0.0.1:5999/cache"}, answer=answer)
    assert (check.name, check.ok, check.required) == ("registry 127.0.0.1:5999", False, True)
    assert "REPROKIT_REGISTRY=127.0.0.1:5999/cache" in check.detail and "Connection refused" in check.detail
    assert "unset it" in check.fix
    assert answer.asked == ["https://127.0.0.1:5999/v2/", "http://127.0.0.1:5999/v2/"]
    [mirror] = doctor.registry_checks({"REPROKIT_REGISTRY_MIRROR": "127.0.0.1:5000"}, answer=answering(":5000"))
    assert mirror.ok and mirror.detail.endswith("answers")
    assert list(doctor.registry_checks({}, answer=answer)) == []


def test_the_real_reachability_probe_takes_an_http_error_for_an_answer_and_a_refusal_for_none():
    import http.server
    import threading

    class Unauthorized(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert doctor.reachable(f"http://127.0.0.1:{server.server_port}/v2/") is None  # a registry wanting a login
    finally:
        server.shutdown()
        server.server_close()
    assert doctor.reachable(f"http://127.0.0.1:{server.server_port}/v2/", timeout=2) is not None


def test_image_use_records_that_cannot_be_written_fail_with_the_fix(tmp_path, monkeypatch):
    assert doctor.image_use_check(tmp_path / "absent").ok
    folder = tmp_path / "image-use"
    folder.mkdir()
    (folder / "a.json").write_text("{}")
    assert doctor.image_use_check(folder).detail.endswith("1 image(s) recorded")
    monkeypatch.setattr(doctor.os, "access", lambda path, mode: False)
    check = doctor.image_use_check(folder)
    assert not check.ok and "not writable" in check.detail and "REPROKIT_IMAGE_USE" in check.fix


class PodmanEngine:
    podman = True
    podman_limits = {"nofile": 20000, "nproc": 32768}


def test_on_podman_the_init_binary_is_required_and_the_limits_are_shown(tmp_path):
    missing, limits = doctor.podman_checks(PodmanEngine(), init_paths=(tmp_path / "catatonit",))
    assert (missing.name, missing.ok) == ("podman init (catatonit)", False)
    assert missing.fix == "as root: apt-get install -y catatonit"
    assert limits.ok and "nofile 20000, nproc 32768" in limits.detail
    (tmp_path / "catatonit").write_text("")
    assert next(doctor.podman_checks(PodmanEngine(), init_paths=(tmp_path / "catatonit",))).ok


def test_on_docker_podman_is_a_note_how_to_install_or_use_it():
    [absent] = doctor.podman_checks(FakeEngine(), which=lambda name: None)
    assert (absent.ok, absent.required) == (False, False) and "apt-get install -y podman catatonit" in absent.fix
    [present] = doctor.podman_checks(FakeEngine(), which=lambda name: "/usr/bin/podman")
    assert present.ok and "DOCKER_HOST=unix:///run/podman/podman.sock" in present.detail
