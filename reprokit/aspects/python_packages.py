"""Python packages an environment installs (`python_packages`: pip requirement strings) in its own venv."""
from __future__ import annotations

import os
import shlex
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator

from reprokit.aspects.base import Aspect, ImportContext, Layer, Merge, SpecField, mapping
from reprokit.errors import InvalidValue, ReprokitError
from reprokit.contract.values import pip_requirement_name, unique

VENV = "/opt/reprokit/venv"
BUILD_CA = "/tmp/reprokit-build-ca.pem"  # trusted by the build only: see find_ca_bundle
SYSTEM_CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")
CA_VARIABLES = ("REPROKIT_CA_BUNDLE", "SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE")


def find_ca_bundle() -> Path | None:
    """The CA bundle builds should trust: $REPROKIT_CA_BUNDLE, the usual TLS variables, else the system's."""
    for variable in CA_VARIABLES:
        value = os.environ.get(variable)
        if value and Path(value).is_file():
            return Path(value)
    return next((Path(p) for p in SYSTEM_CA_BUNDLES if Path(p).is_file()), None)


class Installer(str, Enum):
    """What installs an environment's python packages in its venv (REPROKIT_INSTALLER); the image is the same."""

    PIP = "pip"
    UV = "uv"

    def __str__(self) -> str:
        return self.value

    def describe(self) -> str:
        return {"pip": "pip, the venv's own (the default)",
                "uv": "uv, installed in the venv for the build and removed after it: faster resolving"}[self.value]


PACKAGE_INSTALLERS = tuple(i.value for i in Installer)
UNINSTALLABLE = ("missing", "python")  # problems (reprokit.collect.pyindex) that would fail the build


class PythonPackages(Aspect):
    """`python_packages: ["jinja2==2.11.3"]`, installed in a venv at /opt/reprokit/venv that sees the distro's
    site-packages and comes first on PATH, so pip works despite Debian's externally-managed marker."""

    name = "python_packages"
    fields = {"python_packages": SpecField(
        Annotated[tuple[str, ...], AfterValidator(lambda v: unique(v, pip_requirement_name))], (),
        merge=Merge.PACKAGES, name_of=pip_requirement_name)}
    layer = Layer.PYTHON_PACKAGES
    fact_script = "section pip_freeze; python3 -m pip freeze --all 2>/dev/null || python3 -m pip freeze 2>/dev/null"

    def render(self, spec, options) -> str:
        """The venv (and uv, if chosen) is its own layer, made once per base (~6 s); the install layer reruns
        when any pin changes (~2-5 s). The host CA bundle is trusted for these steps only and removed from the
        final filesystem."""
        if not spec.python_packages:
            return ""
        installer, with_ca = options.installer, options.ca_bundle is not None
        if installer not in PACKAGE_INSTALLERS:
            raise InvalidValue(f"installer {installer!r} is not one of {', '.join(PACKAGE_INSTALLERS)}",
                               hint="set REPROKIT_INSTALLER to pip or uv, or unset it")
        requirements = " ".join(shlex.quote(p) for p in spec.python_packages)
        trust = f"SSL_CERT_FILE={BUILD_CA} PIP_CERT={BUILD_CA} " if with_ca else ""
        lines = [f"COPY reprokit-build-ca.pem {BUILD_CA}"] if with_ca else []
        venv = f"RUN python3 -m venv --system-site-packages {VENV}"
        if Installer(installer) is Installer.UV:
            venv += f" \\\n && {trust}{VENV}/bin/pip install -q --no-cache-dir --disable-pip-version-check uv"
            install = (f"{trust}UV_NATIVE_TLS=1 {VENV}/bin/uv pip install -q --no-cache --python {VENV}/bin/python "
                       f"{requirements} \\\n && {VENV}/bin/pip uninstall -q -y uv")  # uv is not the customer's
        else:
            install = f"{trust}{VENV}/bin/pip install -q --no-cache-dir --disable-pip-version-check {requirements}"
        lines.append(venv)
        lines.append(f"RUN {install}" + (f" \\\n && rm -f {BUILD_CA}" if with_ca else ""))
        lines.append(f"ENV VIRTUAL_ENV={VENV} PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        return "\n".join(lines)

    def context(self, spec, options) -> dict[str, bytes]:
        if options.ca_bundle is not None and spec.python_packages:
            return {"reprokit-build-ca.pem": options.ca_bundle}
        return {}

    def check(self, spec, facts) -> str | None:
        from packaging.utils import canonicalize_name

        from reprokit.contract.values import pinned_version

        installed = {canonicalize_name(k): v for k, v in facts.get("pip_freeze", {}).items()}
        missing = [f"python package {pin}: found {installed.get(pip_requirement_name(pin), 'not installed')}"
                   for pin in spec.python_packages
                   if pinned_version(pin) and installed.get(pip_requirement_name(pin)) != pinned_version(pin)]
        return "; ".join(missing) or None

    def read_facts(self, sections) -> dict[str, Any]:
        lines = sections.get("pip_freeze", [])
        return {"pip_freeze": dict(line.split("==", 1) for line in lines if "==" in line)}

    def from_collection(self, context: ImportContext) -> dict[str, Any]:
        """The customer's pip freeze; with ``options['only']``, just that package and its dependency closure."""
        facts, lost, only = context.facts, context.lost, context.options.get("only")
        python = mapping(facts.get("python"))
        freeze = python.get("pip_freeze") or facts.get("pip_freeze") or []
        pins: dict[str, str] = {}
        for line in freeze:
            line = str(line)
            if line.startswith(("-e ", "-r ", "-c ")) or "file://" in line:
                lost.append(f"python package {line!r}: a local path or editable install; copy it into the case")
                continue
            try:
                pins[pip_requirement_name(line)] = line
            except ValueError as error:
                lost.append(f"python package line {line!r}: {error}")
        if not only:
            return {"python_packages": _checked(list(pins.values()), context)}
        wanted = pip_requirement_name(only)
        requires = {k: v.get("requires", []) for k, v in mapping(python.get("distributions")).items()
                    if isinstance(v, dict)}
        if wanted not in pins:
            raise ReprokitError(f"--only {only}: the collection's pip freeze has no {wanted!r}",
                                hint=f"packages: {', '.join(sorted(pins)) or 'none'}")
        if not requires:
            raise ReprokitError(f"--only {only}: the collection has no dependency data (made from a pip freeze or by "
                                "the sh collector)", hint="collect with the Python collector, or drop --only")
        closure, todo = set(), [wanted]
        while todo:
            package = todo.pop()
            if package not in closure:
                closure.add(package)
                todo += requires.get(package, [])
        return {"python_packages": _checked([pins[p] for p in sorted(closure) if p in pins], context)}


def _checked(pins: list[str], context: ImportContext) -> list[str]:
    """The pins, checked with ``options['python_index']`` (pins, python 'X.Y' or None -> {pin: problem}) when
    given: a missing release (or one for other Pythons only) is left out and listed, a yanked one kept (pip installs an exact pin even when
    yanked) and listed; neither fails the build."""
    check = context.options.get("python_index")
    if not check or not pins:
        return pins
    python = context.data.get("python")
    problems = check(pins, python if python and python != "system" else None)
    for pin, problem in problems.items():
        if problem.startswith(UNINSTALLABLE):
            context.lost.append(f"python package {pin}: {problem}; not pinned (copy its wheel into the case, or "
                                "point PIP_INDEX_URL at the index that has it)")
        elif not problem.startswith("unchecked"):
            context.inexact.append(f"python package {pin}: {problem}")
            context.comments.setdefault("python_packages", {})[pip_requirement_name(pin)] = problem
    return [pin for pin in pins if not problems.get(pin, "").startswith(UNINSTALLABLE)]
