"""Rendering specs into Dockerfiles: layer order, the python check, CA handling, user/locale/timezone."""
from __future__ import annotations

import pytest

from fakes import FakeEngine
from reprokit.image.build import build
from reprokit.errors import SpecError
from reprokit.aspects.python_packages import BUILD_CA, VENV
from reprokit.image.render import render
from reprokit.contract.models import EnvironmentSpec

CA = b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n"


def env(**fields) -> EnvironmentSpec:
    return EnvironmentSpec(**{"name": "t", "os": "debian:bookworm", **fields})


FULL = dict(system_packages=("sqlite3",), python_packages=("jinja2==2.11.3",), env={"ACME_MODE": "strict"},
            files={"/etc/acme/acme.ini": "x"}, user="1000:1000", timezone="Asia/Kolkata", locale="de_DE.UTF-8")


def positions(dockerfile: str, *markers: str) -> list[int]:
    return [dockerfile.index(m) for m in markers]


def test_layers_run_from_least_to_most_changing():
    dockerfile = render(env(**FULL), ca_bundle=CA).dockerfile
    order = positions(dockerfile, "FROM debian:bookworm", "python3 python3-venv tzdata locales", "sqlite3",
                      "locale-gen", "/usr/share/zoneinfo/Asia/Kolkata", "pip install", "USER 1000:1000",
                      "COPY [\"rootfs/etc/acme/acme.ini\"", "WORKDIR /work", "ENV ACME_MODE=")
    assert order == sorted(order)


def test_changing_a_python_pin_leaves_every_earlier_layer_text_unchanged():
    before = render(env(**FULL)).dockerfile
    after = render(env(**{**FULL, "python_packages": ("jinja2==3.1.4",)})).dockerfile
    cut = before.index("RUN python3 -m venv")
    assert after[:cut] == before[:cut] and after != before


def test_the_minimal_spec_installs_only_python3():
    dockerfile = render(env()).dockerfile
    assert "python3 \\" in dockerfile and "venv" not in dockerfile and "USER" not in dockerfile
    assert "COPY" not in dockerfile and dockerfile.rstrip().endswith("WORKDIR /work")


def test_declared_python_that_the_suite_does_not_ship_fails_before_any_build():
    engine = FakeEngine()
    spec = env(os="debian:bullseye", python="3.11")
    with pytest.raises(SpecError) as caught:
        build(spec, engine=engine)
    assert engine.builds == []
    assert str(caught.value).startswith("t: python: '3.11' does not match debian:bullseye, which provides Python 3.9")
    assert caught.value.hint == "use os: debian:bookworm for Python 3.11, or set python: system (Python 3.9 on debian:bullseye)"


def test_declared_python_that_matches_is_also_checked_inside_the_image():
    dockerfile = render(env(os="debian:bullseye", python="3.9", python_packages=("flask",))).dockerfile
    assert 'v == "3.9"' in dockerfile


def test_python_of_an_unknown_base_image_is_not_guessed_but_checked_in_the_build():
    assert "python: 3.10 declared but the image has" in render(env(os="ubuntu:jammy", python="3.10")).dockerfile


def test_ca_bundle_is_trusted_for_the_pip_step_only_and_removed():
    rendering = render(env(python_packages=("flask",)), ca_bundle=CA)
    assert rendering.context["reprokit-build-ca.pem"] == CA
    dockerfile = rendering.dockerfile
    assert f"COPY reprokit-build-ca.pem {BUILD_CA}" in dockerfile
    pip_step = dockerfile[dockerfile.index("RUN python3 -m venv"):]
    pip_step = pip_step[:pip_step.index("\nENV")]
    assert f"PIP_CERT={BUILD_CA}" in pip_step and pip_step.rstrip().endswith(f"rm -f {BUILD_CA}")
    assert dockerfile.count(BUILD_CA) == 4  # COPY, SSL_CERT_FILE, PIP_CERT, rm: never an ENV
    assert "ENV SSL_CERT_FILE" not in dockerfile


def test_no_ca_bundle_without_python_packages_or_without_a_bundle():
    assert "reprokit-build-ca.pem" not in render(env(), ca_bundle=CA).context
    rendering = render(env(python_packages=("flask",)))
    assert rendering.context == {} and BUILD_CA not in rendering.dockerfile


def test_the_ca_bundle_is_part_of_the_content_hash():
    spec = env(python_packages=("flask",))
    assert render(spec, ca_bundle=CA).content_hash() != render(spec, ca_bundle=CA + b"\n").content_hash()
    assert render(spec, ca_bundle=CA).content_hash() == render(spec, ca_bundle=CA).content_hash()


def test_numeric_user_is_created_and_owns_the_workdir():
    dockerfile = render(env(user="1000:1000", workdir="/srv/app")).dockerfile
    assert "groupadd -g 1000" in dockerfile and "useradd -m -u 1000 -g 1000" in dockerfile
    assert "chown 1000:1000 /srv/app" in dockerfile and "USER 1000:1000\nWORKDIR /srv/app" in dockerfile


def test_named_user_is_created_if_missing():
    dockerfile = render(env(user="app")).dockerfile
    assert "id -u app >/dev/null 2>&1 || useradd -m -s /bin/sh app" in dockerfile and "USER app" in dockerfile


def test_locale_is_generated_and_lang_set():
    dockerfile = render(env(locale="de_DE.UTF-8")).dockerfile
    assert "echo 'de_DE.UTF-8 UTF-8' >> /etc/locale.gen && locale-gen de_DE.UTF-8" in dockerfile
    assert "ENV LANG=de_DE.UTF-8" in dockerfile and "locales" in dockerfile


def test_c_locale_needs_no_locales_package():
    dockerfile = render(env(locale="C.UTF-8")).dockerfile
    assert "ENV LANG=C.UTF-8" in dockerfile and "locales" not in dockerfile and "locale-gen" not in dockerfile


def test_timezone_is_checked_then_linked():
    dockerfile = render(env(timezone="Europe/Berlin")).dockerfile
    assert "test -e /usr/share/zoneinfo/Europe/Berlin ||" in dockerfile
    assert "ln -snf /usr/share/zoneinfo/Europe/Berlin /etc/localtime" in dockerfile and "tzdata" in dockerfile


def test_env_values_are_quoted_so_docker_does_not_expand_them():
    dockerfile = render(env(env={"A": 'x "y" $HOME \\ z'})).dockerfile
    assert 'A="x \\"y\\" \\$HOME \\\\ z"' in dockerfile


def test_an_env_value_with_a_line_break_is_refused_since_docker_env_cannot_hold_it():
    with pytest.raises(ValueError, match="line break"):
        env(env={"B": "two\nlines"})


def test_a_workdir_or_file_path_cannot_smuggle_dockerfile_syntax():
    with pytest.raises(ValueError, match="not an absolute path"):
        env(workdir="/work\nRUN echo pwned")
    with pytest.raises(ValueError, match="not an absolute path"):
        env(files={"/etc/": "text"})


def test_files_go_into_the_context_under_rootfs():
    rendering = render(env(files={"/etc/acme/acme.ini": "timeout = 5\n"}))
    assert rendering.context == {"rootfs/etc/acme/acme.ini": b"timeout = 5\n"}


def test_uv_installer_is_removed_after_use_and_unknown_installers_are_refused():
    dockerfile = render(env(python_packages=("flask",)), installer="uv").dockerfile
    assert "uv pip install" in dockerfile and "pip uninstall -q -y uv" in dockerfile
    with pytest.raises(ValueError):
        render(env(python_packages=("flask",)), installer="conda")


def test_venv_is_first_on_path():
    assert f"ENV VIRTUAL_ENV={VENV} PATH={VENV}/bin:" in render(env(python_packages=("flask",))).dockerfile
