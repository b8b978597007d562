"""Check what reprokit needs on this machine; each problem comes with its fix."""
from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from reprokit.aspects.arch import arch_reference, host_arch
from reprokit.errors import ReprokitError
from reprokit.image import emulation
from reprokit.image.base import SUITES, host_mirrors
from reprokit.aspects.python_packages import find_ca_bundle
from reprokit.image.caches import DEFAULT_ADDRESS, AptCache, CacheState, apt_cache, cache_size
from reprokit.image.usage import usage_folder


class Check(NamedTuple):
    """One line of `reprokit doctor`. A check that is not ``required`` (nothing in the project needs it yet)
    is informational: it says what is missing and how to fix it, but is no failure."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def checks(project=None) -> Iterator[Check]:
    yield Check("docker client", shutil.which("docker") is not None, shutil.which("docker") or "not on PATH",
                "as root: apt-get install -y docker.io")
    try:
        from reprokit.engine import get_engine

        engine = get_engine()
        yield Check("docker engine", True, f"version {engine.version()}")
    except ReprokitError as error:
        yield Check("docker engine", False, error.message, "as root: bash .ci/setup.sh (installs and starts dockerd)")
        engine = None
    yield Check("debootstrap", shutil.which("debootstrap") is not None, shutil.which("debootstrap") or "not installed",
                "as root: apt-get install -y debootstrap")
    for suite in SUITES:
        present = engine is not None and engine.image_id(f"debian:{suite}") is not None
        yield Check(f"base image debian:{suite}", present, "present" if present else "missing",
                    f"reprokit images bootstrap debian:{suite}")
    yield from foreign_checks(engine, declared_foreign(project))
    bundle = find_ca_bundle()
    yield Check("CA bundle for builds", bundle is not None, str(bundle) if bundle else "none found",
                "set REPROKIT_CA_BUNDLE to the PEM bundle your network's TLS proxy is trusted by")
    mirror = mirror_check(host_mirrors()[0])
    yield mirror
    yield clock_check(declared_clocks(project), mirror_ok=mirror.ok)
    yield from registry_checks(os.environ)
    yield image_use_check(usage_folder())
    yield build_cache_check(apt_cache(), size=cache_size())
    yield from podman_checks(engine)


Reachable = Callable[[str], "str | None"]  # url -> None when it answers, else why not


def reachable(url: str, *, timeout: float = 5) -> str | None:
    """None when ``url`` answers over HTTP (any status: a registry's 401 is an answer), else the reason."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as error:
        return str(getattr(error, "reason", error))
    return None


def mirror_check(mirror: str, *, answer: Reachable = reachable) -> Check:
    """The Debian mirror of the host's apt sources: debootstrap, every package layer, libfaketime and the
    service recipes install from it."""
    problem = answer(f"{mirror}/dists/bookworm/Release")
    return Check("Debian mirror", problem is None, mirror if problem is None else f"{mirror} does not answer: {problem}",
                 "builds install packages from it: check the network (and proxy) and the host's apt sources "
                 "(/etc/apt/sources.list*); apt-get update shows the same problem")


def clock_check(users: list[str], *, mirror_ok: bool) -> Check:
    """`clock:` needs libfaketime in the image: the Debian package faketime, installed by the build."""
    if not users:
        return Check("faketime (clock)", True, "no environment declares clock", required=False)
    detail = f"libfaketime (Debian package faketime) is installed into the images of {_some(users)} at build"
    return Check("faketime (clock)", mirror_ok, detail + ("" if mirror_ok else "; the Debian mirror does not answer"),
                 "fix the Debian mirror check above; the package comes from it")


def declared_clocks(project) -> list[str]:
    """Who declares a `clock:` (environments and case sides), for the faketime check."""
    return [who for who, spec in _declared(project) if getattr(spec, "clock", None)]


REGISTRY_VARIABLES = {"REPROKIT_REGISTRY": "the shared image cache (HOST[:PORT]/PATH)",
                      "REPROKIT_REGISTRY_MIRROR": "the mirror tried first for service images (HOST[:PORT])"}


def registry_checks(environ, *, answer: Reachable = reachable) -> Iterator[Check]:
    """Each registry a variable names must answer its API (`/v2/`, over HTTPS or plain HTTP)."""
    for variable, meaning in REGISTRY_VARIABLES.items():
        value = (environ.get(variable) or "").strip()
        if not value:
            continue
        host = value.split("/", 1)[0]
        problems = [problem for scheme in ("https", "http") for problem in [answer(f"{scheme}://{host}/v2/")]]
        ok = None in problems
        detail = f"{variable}={value}: {meaning}, " + ("answers" if ok else f"{host} does not answer: {problems[-1]}")
        yield Check(f"registry {host}", ok, detail,
                    f"start the registry at {host} (e.g. apt-get install docker-registry), correct {variable}, or "
                    f"unset it; a plain-HTTP registry other than localhost must be in dockerd's insecure-registries")


def image_use_check(folder: Path) -> Check:
    """The records of images' last use (`images prune` reads them): present and writable, or made at first use."""
    if not folder.exists():
        return Check("image-use records", True, f"{folder} (made at the first build)", required=False)
    writable = os.access(folder, os.W_OK | os.X_OK)
    records = sum(1 for _ in folder.glob("*.json"))
    return Check("image-use records", writable, f"{folder}: {records} image(s) recorded"
                 + ("" if writable else ", not writable: last use is not recorded, prune sees build times only"),
                 f"make it writable (chown -R $(id -u) {folder}) or set REPROKIT_IMAGE_USE to a writable folder")


def build_cache_check(cache: AptCache, *, size: int | None) -> Check:
    """The apt cache builds fetch Debian packages through (image/caches.py); a cache that is down is no failure:
    builds then download directly."""
    here = f", {size / 2**20:.1f} MiB on disk" if size is not None and cache.address == DEFAULT_ADDRESS else ""
    detail = (f"apt-cacher-ng at {cache.address}: {cache.state.value}{here} ({cache.state.describe()}); "
              "pip downloads are not cached (HTTPS to PyPI: see README, Package caches)")
    return Check("build caches", cache.state is not CacheState.DOWN, detail,
                 "as root: bash .ci/setup.sh (installs apt-cacher-ng and starts it on 127.0.0.1:3142)", required=False)


CATATONIT = (Path("/usr/libexec/podman/catatonit"), Path("/usr/bin/catatonit"))


def podman_checks(engine, *, which=shutil.which, init_paths=CATATONIT) -> Iterator[Check]:
    """On Podman (DOCKER_HOST at `podman system service`): the init every container runs with, and the limits
    reprokit passes. Without it: whether Podman is there to use (a note)."""
    if getattr(engine, "podman", False):
        init = next((path for path in init_paths if path.exists()), None)
        yield Check("podman init (catatonit)", init is not None, str(init) if init else "missing: containers with "
                    "--init fail to start", "as root: apt-get install -y catatonit")
        limits = ", ".join(f"{name} {value}" for name, value in sorted(engine.podman_limits.items()))
        yield Check("podman limits", True, f"passed explicitly to every container: {limits} (the engine's own)")
        return
    if which("podman") is None:
        yield Check("podman", False, "not installed (optional: reprokit also runs on Podman)",
                    "as root: apt-get install -y podman catatonit", required=False)
        return
    yield Check("podman", True, f"installed at {which('podman')}; to use it: podman system service --time=0 "
                "unix:///run/podman/podman.sock & then DOCKER_HOST=unix:///run/podman/podman.sock "
                "(load the base images: docker save debian:bookworm | podman load)", required=False)


def foreign_checks(engine, declared: dict[tuple[str, str], list[str]], *,
                   binfmt: Path = emulation.BINFMT) -> Iterator[Check]:
    """Emulation of each foreign architecture (arm64 on an amd64 host always, the others where declared), and
    the base image of every foreign (os, arch) the project declares. Emulation nobody declares is informational."""
    arches = sorted({arch for _, arch in declared} | ({"arm64"} - {host_arch()}))
    for arch in arches:
        users = sorted({who for (_, a), whos in declared.items() if a == arch for who in whos})
        state = emulation.check(arch, binfmt=binfmt)
        needed = f"; needed by {_some(users)}" if users else "; no environment declares it"
        yield Check(f"emulation {arch}", state.ok, state.detail + ("" if state.ok else needed), state.fix,
                    required=bool(users))
    for (image, arch), users in sorted(declared.items()):
        reference = arch_reference(image, arch)
        present = engine is not None and engine.image_id(reference) is not None
        state = ("present" if present else "missing") + f" (for {_some(users)})"
        yield Check(f"base image {reference}", present, state, f"reprokit images bootstrap {image} --arch {arch}")


def declared_foreign(project) -> dict[tuple[str, str], list[str]]:
    """(os, arch) -> who declares it, for every environment and case side whose arch is not the host's."""
    found: dict[tuple[str, str], list[str]] = {}
    for who, spec in _declared(project):
        if spec.arch is not None and spec.arch != host_arch():
            found.setdefault((spec.os, spec.arch), []).append(who)
    return found


def _declared(project) -> Iterator[tuple[str, object]]:
    """(who, spec) for every environment and case side of the project. A file that does not load declares
    nothing here (the commands that use it report it)."""
    from reprokit.contract.load import Project, load_case, load_environment

    project = project or Project.at()
    for name in project.environment_names():
        try:
            yield f"environment {name}", load_environment(name, root=project.root)
        except ReprokitError:
            continue
    for case_id in project.case_ids():
        try:
            case = load_case(case_id, root=project.root)
        except ReprokitError:
            continue
        yield f"case {case_id}", case.environment
        yield f"case {case_id} (baseline)", case.baseline


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
