"""Turn an environment spec into Dockerfile text and build-context files: pure, no Docker."""
from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field

from .errors import InvalidValue, SpecError
from .spec import EnvironmentSpec

RENDER_VERSION = "2"  # bump when the rendered text changes meaning, so old cached images are not reused
VENV = "/opt/reprokit/venv"
BUILD_CA = "/tmp/reprokit-build-ca.pem"
# The python3 each Debian suite ships; checked before any build so a wrong `python:` fails at once.
DEBIAN_PYTHON = {"buster": "3.7", "bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13", "forky": "3.13"}
PACKAGE_INSTALLERS = ("pip", "uv")


@dataclass(frozen=True)
class Rendering:
    """A Dockerfile and the files its build context needs besides it."""

    dockerfile: str
    context: dict[str, bytes] = field(default_factory=dict)

    def content_hash(self) -> str:
        """Everything that goes into the image: equal hashes mean the same image."""
        digest = hashlib.sha256(RENDER_VERSION.encode() + b"\0" + self.dockerfile.encode())
        for name in sorted(self.context):
            digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(self.context[name]).digest())
        return digest.hexdigest()


def render(spec: EnvironmentSpec, *, ca_bundle: bytes | None = None, installer: str = "pip") -> Rendering:
    """The Dockerfile of ``spec``; layers run from what changes least to what changes most."""
    check_python(spec)
    fragments = [
        base(spec),
        platform_packages(spec),
        system_packages(spec),
        locale_and_timezone(spec),
        python_packages(spec, with_ca=ca_bundle is not None, installer=installer),
        files_user_env(spec),
    ]
    context = {"rootfs/" + path.lstrip("/"): text.encode() for path, text in spec.files.items()}
    if ca_bundle is not None and spec.python_packages:
        context["reprokit-build-ca.pem"] = ca_bundle
    return Rendering("\n".join(f for f in fragments if f) + "\n", context)


def debian_python(image: str) -> str | None:
    """The X.Y of python3 in a Debian suite's image ('debian:bullseye' -> '3.9'); None for other images."""
    name, _, suite = image.partition(":")
    return DEBIAN_PYTHON.get(suite) if name.endswith("debian") else None


def check_python(spec: EnvironmentSpec) -> None:
    """``python: "3.9"`` must be what the base image's python3 is; known Debian suites are checked here."""
    if spec.python == "system":
        return
    provided = debian_python(spec.os)
    if provided is not None and provided != spec.python:
        where = f"{spec.source.parent.name}/{spec.source.name}" if spec.source else spec.name
        others = [s for s, v in DEBIAN_PYTHON.items() if v == spec.python]
        hint = (f"use os: debian:{others[0]} for Python {spec.python}, " if others else "") + \
            f"or set python: system (Python {provided} on {spec.os})"
        raise SpecError(where, "python", f"{spec.python!r} does not match {spec.os}, which provides Python {provided}",
                        hint=hint)


def base(spec: EnvironmentSpec) -> str:
    """The base image. Changes only with `os`; every other layer builds on it."""
    return f"FROM {spec.os}\nARG DEBIAN_FRONTEND=noninteractive"


def platform_packages(spec: EnvironmentSpec) -> str:
    """python3 and what timezone/locale need, and a declared python version checked. Runs once per base
    image and feature set (~20 s); shared by every environment on the same os, so system-package or pip
    changes never rebuild it."""
    packages = ["python3"]
    if spec.python_packages:
        packages.append("python3-venv")
    if spec.timezone:
        packages.append("tzdata")
    if spec.locale and not spec.locale.startswith("C"):
        packages.append("locales")
    if spec.python == "system":
        return _apt_install(packages)
    # An image we know nothing about is checked here, as soon as its python3 is installed.
    return (_apt_install(packages) + f" \\\n && python3 -c 'import sys; v=\"%d.%d\" % sys.version_info[:2]; "
            f"sys.exit(0 if v == \"{spec.python}\" else \"python: {spec.python} declared but the image has \" + v)'")


def system_packages(spec: EnvironmentSpec) -> str:
    """The declared Debian packages, pins honoured (downgrades allowed). Rebuilt when the list changes."""
    return _apt_install(list(spec.system_packages)) if spec.system_packages else ""


def _apt_install(packages: list[str]) -> str:
    words = " ".join(shlex.quote(p) for p in packages)
    return ("RUN apt-get update -qq \\\n"
            f" && apt-get install -y -qq --no-install-recommends --allow-downgrades {words} \\\n"
            " && rm -rf /var/lib/apt/lists/*")


def locale_and_timezone(spec: EnvironmentSpec) -> str:
    """Generate the locale and set /etc/localtime. Cheap (~2 s); rebuilt when either changes."""
    lines = []
    if spec.locale and not spec.locale.startswith("C"):
        name = shlex.quote(spec.locale)
        charset = spec.locale.partition(".")[2] or "ISO-8859-1"
        lines.append(f"RUN echo {shlex.quote(spec.locale + ' ' + charset)} >> /etc/locale.gen && locale-gen {name} >/dev/null")
    if spec.locale:
        lines.append(f"ENV LANG={spec.locale}")
    if spec.timezone:
        zone = shlex.quote(spec.timezone)
        lines.append(f"RUN test -e /usr/share/zoneinfo/{zone} || {{ echo 'unknown timezone {spec.timezone}' >&2; exit 1; }} \\\n"
                     f" && ln -snf /usr/share/zoneinfo/{zone} /etc/localtime && echo {zone} > /etc/timezone")
    return "\n".join(lines)


def python_packages(spec: EnvironmentSpec, *, with_ca: bool, installer: str = "pip") -> str:
    """A venv (with the distro's site-packages visible) holding the pinned packages, first on PATH, so pip
    works despite Debian's externally-managed marker. The venv (and uv, if chosen) is its own layer, made once
    per base (~6 s); the install layer reruns when any pin changes (~2-5 s). The host CA bundle is trusted for
    these steps only and removed from the final filesystem."""
    if not spec.python_packages:
        return ""
    if installer not in PACKAGE_INSTALLERS:
        raise InvalidValue(f"installer {installer!r} is not one of {', '.join(PACKAGE_INSTALLERS)}",
                           hint="set REPROKIT_INSTALLER to pip or uv, or unset it")
    requirements = " ".join(shlex.quote(p) for p in spec.python_packages)
    trust = f"SSL_CERT_FILE={BUILD_CA} PIP_CERT={BUILD_CA} " if with_ca else ""
    lines = [f"COPY reprokit-build-ca.pem {BUILD_CA}"] if with_ca else []
    venv = f"RUN python3 -m venv --system-site-packages {VENV}"
    if installer == "uv":
        venv += f" \\\n && {trust}{VENV}/bin/pip install -q --no-cache-dir --disable-pip-version-check uv"
        install = (f"{trust}UV_NATIVE_TLS=1 {VENV}/bin/uv pip install -q --no-cache --python {VENV}/bin/python "
                   f"{requirements} \\\n && {VENV}/bin/pip uninstall -q -y uv")  # uv is not the customer's
    else:
        install = f"{trust}{VENV}/bin/pip install -q --no-cache-dir --disable-pip-version-check {requirements}"
    lines.append(venv)
    lines.append(f"RUN {install}" + (f" \\\n && rm -f {BUILD_CA}" if with_ca else ""))
    lines.append(f"ENV VIRTUAL_ENV={VENV} PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return "\n".join(lines)


def files_user_env(spec: EnvironmentSpec) -> str:
    """Config files, the user (created if missing), the workdir and env vars: the layers that change
    most, so editing one rebuilds in about a second."""
    lines = []
    if spec.files:
        lines.append("COPY rootfs/ /")
    workdir = shlex.quote(spec.workdir)
    if spec.user:
        lines.append(f"RUN {_create_user(spec.user)} \\\n && mkdir -p {workdir} && chown {_owner(spec.user)} {workdir}")
        lines.append(f"USER {spec.user}")
    lines.append(f"WORKDIR {spec.workdir}")
    if spec.env:
        lines.append("ENV " + " \\\n    ".join(f"{k}={_env_quote(v)}" for k, v in sorted(spec.env.items())))
    return "\n".join(lines)


def _create_user(user: str) -> str:
    uid, _, gid = user.partition(":")
    if uid.isdigit():
        gid = gid or uid
        return (f"(getent group {gid} >/dev/null || groupadd -g {gid} reprokit) \\\n"
                f" && (getent passwd {uid} >/dev/null || useradd -m -u {uid} -g {gid} -s /bin/sh reprokit)")
    return f"(id -u {user} >/dev/null 2>&1 || useradd -m -s /bin/sh {user})"


def _owner(user: str) -> str:
    uid, _, gid = user.partition(":")
    return f"{uid}:{gid}" if gid else uid


def _env_quote(value: str) -> str:
    """A value for a Dockerfile ENV line: double-quoted, with the characters Docker interprets escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")  # no newline: spec refuses it
    return f'"{escaped}"'
