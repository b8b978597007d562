"""The value rules every spec field shares: names, paths, package specs, sizes, Debian version order. A leaf:
imports nothing of reprokit but errors."""
from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from reprokit.errors import InvalidValue

DEBIAN_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$")
SIZE = re.compile(r"^\d+(\.\d+)?[bkmg]?$", re.IGNORECASE)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Environment names (file stems) and case ids (folders); bounded so a name is always a valid file name.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def pip_requirement_name(requirement: str) -> str:
    """The normalized project name of a pip requirement string ('Jinja2==2.11.3' -> 'jinja2')."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        fixed = re.sub(r"(?<![=<>!~])=(?!=)", "==", requirement)
        hint = f"; did you mean '{fixed}'?" if fixed != requirement else ""
        raise InvalidValue(f"{requirement!r} is not a pip requirement{hint}") from None


def debian_package_name(package: str) -> str:
    """The package name of a Debian package spec ('sqlite3=3.34.1-3' -> 'sqlite3')."""
    if not DEBIAN_PACKAGE.match(package):
        fixed = package.replace("==", "=").strip().lower()
        hint = f"; did you mean '{fixed}'?" if fixed != package and DEBIAN_PACKAGE.match(fixed) else \
            "; write 'name' or 'name=version' as apt-get expects"
        raise InvalidValue(f"{package!r} is not a Debian package spec{hint}")
    return package.split("=", 1)[0].split(":", 1)[0]


def pinned_version(requirement: str) -> str | None:
    """The exact version a pip requirement pins ('markupsafe==2.1.0; python_version<"4"' -> '2.1.0'), if any."""
    from packaging.requirements import Requirement

    specifiers = list(Requirement(requirement).specifier)
    exact = [s.version for s in specifiers if s.operator in ("==", "===") and "*" not in s.version]
    return exact[0] if len(specifiers) == 1 and exact else None


def unique(items: tuple[str, ...], name_of) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for item in items:
        name = name_of(item)
        if name in seen:
            raise ValueError(f"{item!r} repeats package {name!r} (already {seen[name]!r}); keep one")
        seen[name] = item
    return items


def absolute(path: str) -> str:
    if not path.startswith("/") or not plain_path(path):
        raise ValueError(f"{path!r} is not an absolute path inside the container; write e.g. '/etc/app.ini'")
    return path


def plain_path(path: str) -> bool:
    """No '..', no empty or trailing component, no whitespace or control characters (they would reach the
    Dockerfile and the shell as syntax)."""
    parts = path.strip("/").split("/")
    return (bool(path.strip("/")) and not path.endswith("/") and ".." not in parts and "" not in parts
            and not re.search(r"[\x00-\x20\x7f]", path))


def size(value: str | None, *, what: str = "memory size") -> str | None:
    """A size as Docker takes it ('256m', '2g'); None passes."""
    if value is not None and not SIZE.match(str(value)):
        raise ValueError(f"{value!r} is not a {what}; write e.g. '256m' or '2g'")
    return value


def size_bytes(value: str) -> int:
    """'64m' -> 67108864 (b, k, m, g; binary units, as Docker reads them)."""
    number, unit = re.match(r"^(\d+(?:\.\d+)?)([bkmg]?)$", value.lower()).groups()
    return int(float(number) * {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit])


def shell_word(path: str) -> str:
    import shlex

    return shlex.quote(path)


def compare_versions(a: str, b: str) -> int:
    """dpkg's order of two Debian versions ([epoch:]upstream[-revision]): <0, 0 or >0, as `dpkg
    --compare-versions` (lib/dpkg/version.c), so that '~' sorts before anything, even the end."""
    def split(version: str) -> tuple[int, str, str]:
        epoch, _, rest = version.partition(":") if ":" in version else ("0", "", version)
        upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        return int(epoch) if epoch.isdigit() else 0, upstream, revision

    (ea, ua, ra), (eb, ub, rb) = split(a), split(b)
    return (ea > eb) - (ea < eb) or _compare_part(ua, ub) or _compare_part(ra, rb)


def _order(text: str, at: int) -> int:
    if at >= len(text) or text[at].isdigit():
        return 0
    char = text[at]
    return -1 if char == "~" else ord(char) if char.isalpha() else ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            difference = _order(a, i) - _order(b, j)
            if difference:
                return difference
            i, j = i + 1, j + 1
        start_i, start_j = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        x, y = int(a[start_i:i] or 0), int(b[start_j:j] or 0)
        if x != y:
            return (x > y) - (x < y)
    return 0
