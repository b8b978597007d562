"""What the configured Python package index serves: each exact pin checked before `env import` writes it (a
release that is missing, yanked, or made for no Python the image has is reported, never left to fail the build).

The index is the one builds use: $PIP_INDEX_URL, else `index-url` of pip's configuration files, else PyPI. It
is read with the JSON form of the simple API (PEP 691), which PyPI and current index servers answer.
"""
from __future__ import annotations

import configparser
import json
import os
import ssl
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

PYPI = "https://pypi.org/simple"
PIP_CONFIG_FILES = ("/etc/pip.conf", "~/.config/pip/pip.conf", "~/.pip/pip.conf")
JSON_SIMPLE = "application/vnd.pypi.simple.v1+json"

Fetch = Callable[[str], "dict | None"]  # project URL -> PEP 691 JSON document, None when the index has no project


def index_url() -> str:
    """The index builds install from: $PIP_INDEX_URL, pip's configuration (`[global] index-url`), else PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].rstrip("/")
    files = [os.environ.get("PIP_CONFIG_FILE", ""), *PIP_CONFIG_FILES]
    parser = configparser.ConfigParser()
    parser.read([os.path.expanduser(f) for f in files if f])
    for section in ("install", "global"):
        if parser.has_option(section, "index-url"):
            return parser.get(section, "index-url").rstrip("/")
    return PYPI


def fetch_json(url: str, *, timeout: float = 30) -> dict | None:
    """The PEP 691 document at ``url``; None for 404 (no such project). Trusts the host's CA bundle, as builds do."""
    from reprokit.aspects.python_packages import find_ca_bundle

    bundle = find_ca_bundle()
    context = ssl.create_default_context(cafile=str(bundle) if bundle else None)
    request = urllib.request.Request(url, headers={"Accept": JSON_SIMPLE})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def check_python_pins(pins: list[str], *, python: str | None = None, url: str | None = None,
                      fetch: Fetch | None = None) -> dict[str, str]:
    """{pin: problem} for the exact pins (`name==version`) the index cannot serve as asked; problems start with
    'missing', 'yanked' or 'python'. ``python``: 'X.Y' of the image, to find releases made for other Pythons only.
    A project the index cannot be asked about (network) is left out: it is not the customer's problem."""
    from packaging.utils import canonicalize_name

    from reprokit.contract.values import pinned_version, pip_requirement_name

    url = (url or index_url()).rstrip("/")
    fetch = fetch or fetch_json
    exact = {pin: (pip_requirement_name(pin), pinned_version(pin)) for pin in pins if pinned_version(pin)}

    def one(item: tuple[str, tuple[str, str]]) -> tuple[str, str | None]:
        pin, (name, version) = item
        try:
            document = fetch(f"{url}/{canonicalize_name(name)}/")
        except (OSError, ValueError) as error:
            return pin, f"unchecked: {url} did not answer ({error})"
        return pin, _problem(document, name, version, python, url)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = dict(pool.map(one, exact.items()))
    return {pin: problem for pin, problem in answers.items() if problem}


def _problem(document: dict | None, name: str, version: str, python: str | None, url: str) -> str | None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, \
        parse_wheel_filename
    from packaging.version import InvalidVersion, Version

    if document is None:
        return f"missing: {url} has no project {name!r}"
    files = []
    for entry in document.get("files", []):
        filename = str(entry.get("filename", ""))
        try:
            found = parse_wheel_filename(filename)[1] if filename.endswith(".whl") else \
                parse_sdist_filename(filename)[1]
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        try:
            if found == Version(version):
                files.append(entry)
        except InvalidVersion:
            return f"missing: {version!r} is not a version the index can have"
    if not files:
        return f"missing: {url} has no {name} {version}"
    if all(entry.get("yanked") for entry in files):
        reason = next((e["yanked"] for e in files if isinstance(e.get("yanked"), str)), "")
        return f"yanked: {name} {version} is yanked on {url}" + (f" ({reason})" if reason else "")
    if python:
        def admits(entry: dict) -> bool:
            try:
                return Version(python + ".0") in SpecifierSet(entry.get("requires-python") or "")
            except (InvalidSpecifier, InvalidVersion):
                return True
        if not any(admits(e) for e in files):
            wanted = sorted({e.get("requires-python") for e in files if e.get("requires-python")})
            return f"python: {name} {version} requires Python {' or '.join(wanted)}, the image has {python}"
    return None

