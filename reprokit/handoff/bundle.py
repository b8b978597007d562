"""Portable case bundles: write ID.tar.gz (case, resolved environments, files, manifest), open one safely."""
from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from reprokit import __version__
from reprokit.case.result import CaseResult, EnvironmentRun
from reprokit.errors import BundleError, SpecError
from reprokit.contract.load import Project, dump_yaml, load_case
from reprokit.contract.models import NAME, Case, EnvironmentSpec

FORMAT = 1
META = "bundle.json"
MANIFEST = "MANIFEST.sha256"
MAX_MEMBER_BYTES = 16 << 20
MAX_TOTAL_BYTES = 64 << 20
MAX_MEMBERS = 2000
ROLES = ("environment", "baseline")


# -- writing ----------------------------------------------------------------------------------------------------


def write_bundle(case: Case, output: Path | str, *, result: CaseResult | None = None) -> Path:
    """Write ``case`` as a self-contained ``output`` (.tar.gz) that ``open_bundle`` accepts on any machine.

    The case's environments are written inline and fully resolved (extends applied), so the bundle needs
    no environments/ folder; ``result`` (the newest run here, say) gives the verdict and the images used."""
    runs = result.runs if result else {}
    members = case_files(case)
    members["case.yaml"] = dump_yaml(resolved_case(case)).encode()
    meta = {
        "format": FORMAT, "reprokit_version": __version__, "case": case.id, "title": case.title,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "signature": case.expect.model_dump(mode="json", exclude_none=True),
        "known_error_signatures": list(case.signatures), "verdict": result.verdict.value if result else None,
        "environments": {role: _environment_meta(getattr(case, role), runs.get(role)) for role in ROLES},
    }
    members[META] = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()
    members[MANIFEST] = manifest(members).encode()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with tarfile.open(partial, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(members):
            info = tarfile.TarInfo(f"{case.id}/{name}")
            info.size, info.mode, info.mtime = len(members[name]), 0o644, int(time.time())
            archive.addfile(info, io.BytesIO(members[name]))
    os.replace(partial, output)
    return output


def resolved_case(case: Case) -> dict:
    """The case as a case.yaml mapping with both environments inline: loadable without environments/."""
    data = case.model_dump(mode="json", exclude_none=True, exclude={"environment", "baseline", "files"})
    data["steps"] = [step.model_dump(mode="json", exclude_defaults=True) | {"run": step.run} for step in case.steps]
    for key in ("masks", "signatures"):
        if not data.get(key):
            data.pop(key, None)
    for role in ROLES:
        data[role] = resolved_environment(getattr(case, role))
    data["files"] = {path: {"source": _file_member(path)} for path in case.files}
    return data


def resolved_environment(spec: EnvironmentSpec) -> dict:
    data = spec.model_dump(mode="json", exclude={"name", "source"})
    data["description"] = (spec.description + " " if spec.description else "") + f"(resolved from '{spec.name}')"
    return data


def case_files(case: Case) -> dict[str, bytes]:
    """The case's files (as the steps see them) under files/, plus the case folder's other regular files
    (logs, notes) as they are; symlinks and hidden files are left out."""
    members = {_file_member(path): text.encode() for path, text in case.files.items()}
    if case.folder is not None and case.folder.is_dir():
        for path in sorted(case.folder.rglob("*")):
            relative = path.relative_to(case.folder).as_posix()
            if path.is_symlink() or not path.is_file() or relative == "case.yaml" or \
                    any(p.startswith(".") for p in relative.split("/")) or relative.startswith("files/"):
                continue
            if path.stat().st_size > MAX_MEMBER_BYTES:
                raise BundleError(f"{path}: {path.stat().st_size} bytes is more than a bundle member may hold "
                                  f"({MAX_MEMBER_BYTES})", hint="keep large logs out of the case folder")
            data = path.read_bytes()
            if members.get(_file_member(relative)) != data:  # a step's file is already under files/
                members[f"attachments/{relative}"] = data
    return members


def _file_member(path: str) -> str:
    return f"files/{path}"


def _environment_meta(spec: EnvironmentSpec, run: EnvironmentRun | None) -> dict:
    """Name, spec hash and image of one environment; the image tag and hash are computed here when no run
    recorded them."""
    from reprokit.image.render import render_for_build

    image = run.image if run else None
    tag, image_hash = (image.tag, image.image_hash) if image else (None, None)
    if not tag or not image_hash:
        try:
            rendering = render_for_build(spec)
            tag, image_hash = tag or rendering.tag(), image_hash or rendering.content_hash()
        except SpecError:
            pass
    return {"name": spec.name, "os": spec.os, "spec_hash": spec.content_hash(),
            "image": {"tag": tag, "id": image.id if image else None, "image_hash": image_hash}}


def manifest(members: dict[str, bytes]) -> str:
    """``sha256  name`` for every member (sorted), the format ``sha256sum -c`` reads."""
    return "".join(f"{hashlib.sha256(members[n]).hexdigest()}  {n}\n" for n in sorted(members) if n != MANIFEST)


# -- opening ----------------------------------------------------------------------------------------------------


def open_bundle(path: Path | str, dest: Path | str) -> Path:
    """Check and unpack a bundle into ``dest``; returns the case folder ``dest/<ID>``.

    Refuses (BundleError, nothing left behind) absolute or ``..`` member names, links, devices, oversized
    members, members that are not in the manifest or do not match it, and a case folder that exists."""
    path, dest = Path(path), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".reprokit-bundle-", dir=dest))
    try:
        case_id, members = _read_members(path)
        _check_manifest(path, members)
        _check_meta(path, case_id, members)
        folder = staging / case_id
        folder.mkdir()
        for name, data in members.items():
            _write_inside(folder, name, data)
        try:
            load_case(folder, root=staging)
        except SpecError as error:
            raise BundleError(f"{path}: the bundled case does not load: {error}",
                              hint="the bundle may come from a newer reprokit; upgrade and retry") from None
        target = dest / case_id
        if target.exists() or target.is_symlink():
            raise BundleError(f"{target} already exists; not overwriting it",
                              hint="remove it or open the bundle somewhere else")
        os.rename(folder, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def import_bundle(path: Path | str, project: Project | Path | str) -> Path:
    """Add a bundle's case to ``project``'s cases/ (checked exactly as ``open_bundle`` does)."""
    project = project if isinstance(project, Project) else Project.at(project)
    return open_bundle(path, project.cases)


def read_meta(folder: Path) -> dict:
    """The bundle.json of an opened bundle (versions, image ids, signature)."""
    return json.loads((Path(folder) / META).read_text())


def _read_members(path: Path) -> tuple[str, dict[str, bytes]]:
    members: dict[str, bytes] = {}
    top: str | None = None
    total = 0
    try:
        archive = tarfile.open(path, "r:gz")
    except (OSError, tarfile.TarError, EOFError) as error:
        raise BundleError(f"{path}: not a readable .tar.gz bundle ({error})",
                          hint="create bundles with: reprokit bundle ID -o ID.tar.gz") from None
    with archive:
        try:
            for info in archive:
                if info.isdir() and posixpath.normpath(info.name) == "." and _plain_dots(info.name):
                    continue  # the folder itself, in an archive re-packed with `tar -czf b.tar.gz -C dir .`
                name = _safe_name(path, info.name)
                first, _, rest = name.partition("/")
                if top is None:
                    top = first
                if first != top:
                    raise BundleError(f"{path}: member {info.name!r} is outside the bundle's folder {top!r}/")
                if info.isdir():
                    continue
                if not info.isfile():
                    kind = "a link" if info.issym() or info.islnk() else "a device or special file"
                    target = f" -> {info.linkname!r}" if info.linkname else ""
                    raise BundleError(f"{path}: member {info.name!r}{target} is {kind}; bundles hold only files",
                                      hint="the archive was not written by reprokit or was tampered with")
                if info.size > MAX_MEMBER_BYTES:
                    raise BundleError(f"{path}: member {info.name!r} is {info.size} bytes; at most "
                                      f"{MAX_MEMBER_BYTES} are allowed")
                total += info.size
                if total > MAX_TOTAL_BYTES or len(members) >= MAX_MEMBERS:
                    raise BundleError(f"{path}: more than {MAX_TOTAL_BYTES} bytes or {MAX_MEMBERS} members")
                if not rest or rest in members:
                    raise BundleError(f"{path}: member {info.name!r} is {'repeated' if rest else 'misplaced'}")
                members[rest] = archive.extractfile(info).read()
        except (tarfile.TarError, EOFError, OSError) as error:
            raise BundleError(f"{path}: the archive is corrupt ({error})") from None
    if top is None:
        raise BundleError(f"{path}: the archive is empty")
    return top, members


def _plain_dots(name: str) -> bool:
    """Only '.' and '/' in ``name`` ('.', './', './.'): the archive's own root, as tar writes it for `-C dir .`."""
    return set(name) <= {".", "/"} and ".." not in name.split("/")


def _safe_name(path: Path, name: str) -> str:
    """The member's name without a leading './' (`tar -C dir .` writes one), refusing any that leaves the bundle."""
    normal = posixpath.normpath(name)
    if name.startswith(("/", "\\")) or "\\" in name or "\x00" in name or normal.startswith("..") or \
            any(part == ".." for part in name.split("/")) or normal in (".", ""):
        raise BundleError(f"{path}: member {name!r} points outside the bundle; refusing to open it",
                          hint="the archive was not written by reprokit or was tampered with")
    return normal


def _check_manifest(path: Path, members: dict[str, bytes]) -> None:
    if MANIFEST not in members:
        raise BundleError(f"{path}: no {MANIFEST}; not a reprokit bundle")
    listed: dict[str, str] = {}
    for number, line in enumerate(members[MANIFEST].decode("utf-8", "replace").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise BundleError(f"{path}: {MANIFEST}:{number}: {line!r} is not 'sha256  name'")
        listed[name] = digest
    present = set(members) - {MANIFEST}
    problems = [f"{n}: not in the manifest" for n in sorted(present - set(listed))]
    problems += [f"{n}: listed in the manifest but missing" for n in sorted(set(listed) - present)]
    problems += [f"{n}: content does not match its sha256" for n in sorted(present & set(listed))
                 if hashlib.sha256(members[n]).hexdigest() != listed[n]]
    if problems:
        raise BundleError(f"{path}: the bundle does not match its manifest:\n  " + "\n  ".join(problems),
                          hint="the bundle was changed after it was written; ask for a fresh one")


def _check_meta(path: Path, case_id: str, members: dict[str, bytes]) -> None:
    try:
        meta = json.loads(members[META])
    except (KeyError, ValueError):
        raise BundleError(f"{path}: {META} is missing or not JSON; not a reprokit bundle") from None
    if meta.get("format") != FORMAT:
        raise BundleError(f"{path}: bundle format {meta.get('format')!r}; this reprokit reads format {FORMAT}",
                          hint="use the reprokit version that wrote it: " + str(meta.get("reprokit_version")))
    if meta.get("case") != case_id or "case.yaml" not in members:
        raise BundleError(f"{path}: folder {case_id!r} does not hold case {meta.get('case')!r}")
    if not NAME.match(case_id):
        raise BundleError(f"{path}: {case_id!r} is not a case id")


def _write_inside(root: Path, name: str, data: bytes) -> None:
    """Create ``root/name`` as a new regular file, never following a link and never leaving ``root``."""
    target = root / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        inside = root.resolve()
        if os.path.commonpath([target.parent.resolve(), inside]) != str(inside):
            raise BundleError(f"refusing to write {name!r} outside {root}")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as error:  # e.g. a member that is both a file and a folder ('a' and 'a/b')
        raise BundleError(f"cannot unpack member {name!r}: {error.strerror}",
                          hint="the bundle is malformed; ask for a new one (reprokit bundle ID)") from None
