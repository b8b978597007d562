"""Load environment and case files into frozen specs, with errors that name file, line, field and fix."""
from __future__ import annotations

import copy
import datetime
import difflib
import functools
import re
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from reprokit.errors import SpecError
from reprokit.aspects.base import Merge
from reprokit.aspects.registry import spec_fields
from reprokit.contract.models import NAME, Case, EnvironmentSpec, Step, environment_model



def _map_fields() -> set[str]:
    """Fields that merge key by key under `extends` (their aspects say so)."""
    return {name for name, f in spec_fields().items() if f.merge is Merge.MAP}


def _package_fields() -> dict[str, Callable[[str], str]]:
    """Fields that merge by package name, and how to read a package name from an item."""
    return {name: f.name_of for name, f in spec_fields().items() if f.merge is Merge.PACKAGES}


Key = tuple  # a path into a document: ("python_packages", 2), ("env", "TZ")
MAX_FILE_BYTES = 1 << 20
# Aliases let a 1 KB file expand to billions of values (the "billion laughs"); no real spec comes near this.
MAX_VALUES = 100_000
# ruamel's parser recurses per nesting level and slows down quadratically as it nears the recursion limit
# (3000 nested brackets take ~20 s before failing), so deeper text is refused before it is parsed.
MAX_DEPTH = 100


@dataclass(frozen=True)
class Project:
    """A folder holding environments/ and cases/; every path the library uses is relative to it."""

    root: Path

    @classmethod
    def at(cls, root: Path | str | None = None) -> Project:
        """The project at ``root``; else $REPROKIT_PROJECT; else the nearest folder up from the current one
        that has environments/ (the CLI's and the quickstart's convenience, never used below this call)."""
        if root is not None:
            return cls(Path(root).resolve())
        if os.environ.get("REPROKIT_PROJECT"):
            return cls(Path(os.environ["REPROKIT_PROJECT"]).resolve())
        here = Path.cwd().resolve()
        for folder in (here, *here.parents):
            if (folder / "environments").is_dir():
                return cls(folder)
        return cls(here)

    @property
    def environments(self) -> Path:
        return self.root / "environments"

    @property
    def cases(self) -> Path:
        return self.root / "cases"

    def environment_names(self) -> list[str]:
        return sorted(p.stem for p in self.environments.glob("*.yaml"))

    def case_ids(self) -> list[str]:
        return sorted(p.parent.name for p in self.cases.glob("*/case.yaml"))

    def show(self, path: Path) -> str:
        """A path as the user should read it: relative to the project when inside it."""
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)


@dataclass
class Doc:
    """A YAML mapping turned into plain Python, with the file and line of every value in it."""

    data: dict[str, Any]
    where: dict[Key, tuple[str, int]] = field(default_factory=dict)
    file: str = "<inline>"
    values: int = 0  # how many values _plain has produced so far (aliases counted every time they expand)

    def line_of(self, key: Key) -> tuple[str, int | None]:
        for end in range(len(key), -1, -1):
            if key[:end] in self.where:
                return self.where[key[:end]]
        return self.file, None

    def error(self, key: Key, problem: str, hint: str | None = None) -> SpecError:
        file, line = self.line_of(key)
        return SpecError(file, dotted(key), problem, line=line, hint=hint)

    def sub(self, key: Key) -> Doc:
        """The mapping at ``key`` as a Doc of its own (same data, lines re-keyed from it)."""
        data: Any = self.data
        for part in key:
            data = data[part]
        return Doc(data, {k[len(key):]: v for k, v in self.where.items() if k[:len(key)] == key}, self.file)


def dotted(key: Key) -> str:
    """('python_packages', 2) -> 'python_packages[2]'; ('env', 'A') -> 'env.A'."""
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def read_yaml(path: Path, shown: str) -> Doc:
    """Parse one YAML file into a Doc; any YAML problem becomes a SpecError naming the line."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SpecError(shown, "", f"cannot read the file: {error.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(shown, "", f"file is {len(raw)} bytes; a spec may have at most {MAX_FILE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(shown, "", f"not UTF-8 text (byte {error.start})", hint="save the file as UTF-8") from None
    return copy.deepcopy(_parse(text, shown))


@functools.lru_cache(maxsize=64)
def _parse(text: str, shown: str) -> Doc:
    """``read_yaml``'s parse, kept per file content: a replay reads the same environment files for every case,
    and ruamel's pure-Python parser is the slow part. Callers get deep copies (the Doc is changed in place)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    deep = _too_deep(text)
    if deep is not None:
        raise SpecError(shown, "", f"nesting is deeper than {MAX_DEPTH} levels", line=deep,
                        hint="a spec nests a few levels at most; check the brackets and indentation")
    yaml = YAML(typ="rt", pure=True)
    yaml.version = (1, 2)
    try:
        node = yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(filter(None, [error.context, error.problem])).replace("\n", " ")
        raise SpecError(shown, "", f"invalid YAML: {problem}", line=mark.line + 1 if mark else None,
                        hint="check the indentation and quoting on that line") from None
    except (YAMLError, RecursionError, ValueError) as error:
        raise SpecError(shown, "", f"invalid YAML: {type(error).__name__}: {error}"[:300]) from None
    if node is None:
        node = {}
    doc = Doc({}, file=shown)
    if not isinstance(node, dict):
        kind = "a list" if isinstance(node, list) else f"the single value {str(node)[:60]!r}"
        raise SpecError(shown, "", f"the file must be a mapping of fields (field: value), got {kind}", line=1,
                        hint="start each line with a field name, e.g. 'os: debian:bookworm'")
    try:
        doc.data = _plain(node, (), doc)
    except RecursionError:
        raise SpecError(shown, "", "nesting is too deep for a spec") from None
    return doc


def _too_deep(text: str) -> int | None:
    """The first line nesting deeper than MAX_DEPTH (open flow brackets + block indentation), if any.
    An over-estimate is harmless: brackets inside quoted strings count too, but no spec has a hundred."""
    flow = 0
    for number, line in enumerate(text.splitlines(), 1):
        block = len(line) - len(line.lstrip(" -?:"))  # indentation and compact "- - -" nesting
        deepest = flow
        for char in line if "[" in line or "{" in line or flow else ():
            flow = flow + 1 if char in "[{" else max(0, flow - 1) if char in "]}" else flow
            deepest = max(deepest, flow)
        if deepest + block // 2 > MAX_DEPTH:
            return number
    return None


def _plain(node: Any, key: Key, doc: Doc) -> Any:
    """Convert ruamel's round-trip objects to dict/list/scalars, recording each value's line."""
    lc = getattr(node, "lc", None)
    doc.values += 1
    if doc.values > MAX_VALUES:
        raise doc.error(key, f"more than {MAX_VALUES} values (are YAML aliases expanding?)",
                        hint="write the values out; a spec needs no anchors or aliases")
    if isinstance(node, dict):
        out = {}
        for k, value in node.items():
            if not isinstance(k, str):
                line = lc.key(k)[0] + 1 if lc is not None else doc.line_of(key)[1]
                raise SpecError(doc.file, dotted(key), f"key {k!r} must be a string", line=line,
                                hint="quote the key")
            if lc is not None:
                doc.where[key + (k,)] = (doc.file, lc.key(k)[0] + 1)
            out[k] = _plain(value, key + (k,), doc)
        return out
    if isinstance(node, list):
        for i in range(len(node)):
            if lc is not None:
                doc.where[key + (i,)] = (doc.file, lc.item(i)[0] + 1)
        return [_plain(value, key + (i,), doc) for i, value in enumerate(node)]
    if node is None or type(node) is bool:
        return node
    if isinstance(node, (int, float)):  # ruamel's ScalarInt/ScalarFloat/ScalarBoolean -> plain numbers
        return float(node) if isinstance(node, float) else int(node)
    if isinstance(node, str):  # ruamel's ScalarString subclasses; a tagged scalar is not a str
        return str(node)
    if isinstance(node, (datetime.date, datetime.datetime)):
        written = str(node).replace("T", " ")
        raise doc.error(key, f"{written} was read as a YAML date, not text",
                        hint=f'quote it: {dotted(key)}: "{written}"')
    tag = getattr(getattr(node, "tag", None), "value", None) or type(node).__name__
    raise doc.error(key, f"YAML tags and typed values are not supported (found {tag})",
                    hint="write the value as a plain quoted string")


def _resolve_all_sources(doc: Doc, base: Path, project: Project) -> None:
    """Read every ``{source: path}`` in the fields whose aspects take files (files, ca_certificates, ...)."""
    for name, spec_field in spec_fields().items():
        if spec_field.sources is True:
            _resolve_sources(doc, (name,), base, project)
        elif spec_field.sources and isinstance(doc.data.get(name), dict):
            for key in spec_field.sources(doc.data[name]):  # maps nested in the field (a service's files)
                _resolve_sources(doc, (name, *key), base, project)


def _resolve_sources(doc: Doc, key: Key, base: Path, project: Project) -> None:
    """Replace every ``{source: path}`` under ``doc.data[key]`` by the text of that file."""
    files: Any = doc.data
    for part in key:
        files = files.get(part) if isinstance(files, dict) else None
    if files is None:
        return
    if not isinstance(files, dict):
        raise doc.error(key, f"expected a mapping of path -> text or {{source: file}}, got {files!r}")
    for path, value in files.items():
        if isinstance(value, dict):
            if set(value) != {"source"} or not isinstance(value["source"], str):
                raise doc.error(key + (path,), f"{value!r} is not text or {{source: relative/path}}")
            source = (base / value["source"]).resolve()
            if not (source.is_relative_to(project.root) or source.is_relative_to(base.resolve())):
                # Cases travel in bundles: a source must not read the host's files outside the project.
                raise doc.error(key + (path, "source"), f"{value['source']!r} points outside the project "
                                f"({source})", hint="copy the file into the project and name it relative to "
                                "the file that declares it")
            try:
                raw = source.read_bytes()
            except OSError as error:
                raise doc.error(key + (path, "source"), f"{value['source']!r}: {error.strerror} ({project.show(source)})",
                                hint="the path is relative to the file that declares it") from None
            try:
                files[path] = raw.decode("utf-8")
            except UnicodeDecodeError:
                der = raw[:1] == b"\x30"  # an ASN.1 SEQUENCE: a certificate in binary (DER) form
                raise doc.error(key + (path, "source"), f"{value['source']!r} is not UTF-8 text"
                                + (" (it looks like a DER certificate)" if der else ""),
                                hint=f"convert it to PEM: openssl x509 -inform der -in {value['source']} -out "
                                     f"{Path(value['source']).stem}.pem" if der else None) from None


def check_name(name: str, option: str) -> str:
    """An environment name or case id given on the command line: a plain file stem, nothing else."""
    if not NAME.match(name):
        raise SpecError(None, option, f"{name!r} is not a name reprokit can file",
                        hint="use letters, digits, '.', '_' and '-', starting with a letter or digit")
    return name


def write_checked(path: Path, text: str, *, check: Callable[[], Any], force: bool = False,
                  shown: str | None = None) -> Path:
    """Write a spec file the user asked for, then ``check()`` it (load it back); if that fails, the file
    that was there before (or none) is put back, so a bad import never leaves a broken spec behind."""
    if path.exists() and not force:
        raise SpecError(shown or str(path), "", "already exists; nothing was written",
                        hint="choose another name, or pass --force to replace it")
    previous = path.read_bytes() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    try:
        check()
    except BaseException:
        if previous is None:
            path.unlink()
        else:
            path.write_bytes(previous)
        raise
    return path


def write_json_atomically(path: Path, data: Any) -> None:
    """Write a cache file so that a concurrent reader sees the old content or the new, never half of it."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    partial.write_text(json.dumps(data, indent=1, sort_keys=True))
    partial.replace(path)


def dump_yaml(data: Any) -> str:
    """YAML as a person writes it (the inverse of reading): block style, multi-line text as literal blocks."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import LiteralScalarString

    def literal(value):
        if isinstance(value, dict):
            return {k: literal(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [literal(v) for v in value]
        return LiteralScalarString(value) if isinstance(value, str) and "\n" in value else value

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump(literal(data), stream)
    return stream.getvalue()


# -- environments -------------------------------------------------------------------------------------------


def load_environment(name: str, *, root: Path | str | None = None) -> EnvironmentSpec:
    """Load ``environments/<name>.yaml`` with its ``extends`` chain applied."""
    return _named_environment(Project.at(root), name, referrer=None)


def _named_environment(project: Project, name: str, *, referrer: tuple[Doc, Key] | None) -> EnvironmentSpec:
    doc = _environment_doc(project, name, chain=(), referrer=referrer)
    return _validate(environment_model(), doc, name=name, source=project.environments / f"{name}.yaml")


def _inline_environment(project: Project, doc: Doc, key: Key, *, name: str, base: Path) -> EnvironmentSpec:
    """An environment declared inline (in a case), which may extend a named one."""
    inline = doc.sub(key)
    _resolve_all_sources(inline, base, project)
    merged = _with_parent(project, inline, chain=(name,))
    return _validate(environment_model(), merged, name=name, prefix=key, outer=doc)


def _environment_doc(project: Project, name: str, *, chain: tuple[str, ...], referrer: tuple[Doc, Key] | None) -> Doc:
    path = project.environments / f"{name}.yaml"
    if not NAME.match(name) or not path.is_file():
        available = project.environment_names()
        close = difflib.get_close_matches(name, available, n=1)
        problem = f"{name!r} is not an environment in {project.show(project.environments)}/"
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"available: {', '.join(available) or 'none'}"
        if referrer:
            raise referrer[0].error(referrer[1], problem, hint=hint)
        raise SpecError(project.show(path), "", problem, hint=hint)
    if name in chain:
        problem, hint = "cycle: " + " -> ".join((*chain, name)), "remove one of these 'extends'"
        if referrer:  # point at the `extends:` line that closes the cycle
            raise referrer[0].error(referrer[1], problem, hint=hint)
        raise SpecError(project.show(path), "extends", problem, hint=hint)
    doc = read_yaml(path, project.show(path))
    _resolve_all_sources(doc, path.parent, project)
    return _with_parent(project, doc, chain=(*chain, name))


def _with_parent(project: Project, doc: Doc, *, chain: tuple[str, ...]) -> Doc:
    parent_name = doc.data.pop("extends", None)
    removals = doc.data.pop("remove", [])
    for name in _package_fields():  # the spec checks these too, but cannot say which item is wrong
        if isinstance(doc.data.get(name), list):
            _package_names(doc, name)
    if parent_name is None:
        if removals:
            raise doc.error(("remove",), "'remove' needs 'extends': there is nothing inherited to remove")
        return doc
    if not isinstance(parent_name, str):
        raise doc.error(("extends",), f"{parent_name!r} is not an environment name")
    parent = _environment_doc(project, parent_name, chain=chain, referrer=(doc, ("extends",)))
    _apply_removals(parent, doc, removals)
    return merge(parent, doc)


def _apply_removals(parent: Doc, child: Doc, removals: Any) -> None:
    """``remove: [timezone, env.ACME_MODE, python_packages.markupsafe]`` drops inherited entries."""
    if not isinstance(removals, list):
        raise child.error(("remove",), f"{removals!r} is not a list of 'field' or 'field.key' entries")
    for i, entry in enumerate(removals):
        if not isinstance(entry, str):
            raise child.error(("remove", i), f"{entry!r} is not 'field' or 'field.key'")
        fieldname, _, item = entry.partition(".")
        if fieldname not in parent.data:
            raise child.error(("remove", i), f"{entry!r}: the parent sets no '{fieldname}'",
                              hint=f"inherited fields: {', '.join(parent.data) or 'none'}")
        if not item:
            del parent.data[fieldname]
        elif fieldname in _map_fields() and isinstance(parent.data[fieldname], dict) and item in parent.data[fieldname]:
            del parent.data[fieldname][item]
        elif fieldname in _package_fields() and isinstance(parent.data[fieldname], list):
            items = parent.data[fieldname]
            kept = [p for p in items if _safe_name(_package_fields()[fieldname], p) != _safe_name(_package_fields()[fieldname], item)]
            if len(kept) == len(items):
                raise child.error(("remove", i), f"{entry!r}: the parent's {fieldname} has no {item!r}",
                                  hint=f"it has: {', '.join(map(str, items))}")
            parent.data[fieldname] = kept
            parent.where = {k: v for k, v in parent.where.items() if k[:1] != (fieldname,)}
        else:
            raise child.error(("remove", i), f"{entry!r}: the parent's {fieldname} has no {item!r}")


def _safe_name(name_of: Callable[[str], str], item: Any) -> str:
    try:
        return name_of(str(item))
    except ValueError:
        return str(item)


def merge(parent: Doc, child: Doc) -> Doc:
    """Child over parent: scalars replace, maps merge by key, package lists merge by package name."""
    data = dict(parent.data)
    where = dict(parent.where)
    for name, value in child.data.items():
        if name in _map_fields() and isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}
        elif name in _package_fields() and isinstance(value, list) and isinstance(data.get(name), list):
            data[name], origins = _merge_packages(parent, child, name)
            where = {k: v for k, v in where.items() if k[:1] != (name,) or len(k) == 1}
            where.update({(name, i): origin for i, origin in enumerate(origins) if origin})
            continue
        else:
            data[name] = value
            where = {k: v for k, v in where.items() if k[:1] != (name,)}
        where.update({k: v for k, v in child.where.items() if k[:1] == (name,)})
    return Doc(data, where, child.file)


def _merge_packages(parent: Doc, child: Doc, name: str) -> tuple[list, list]:
    merged: dict[str, tuple[str, tuple | None]] = {}
    for doc in (parent, child):
        for i, (key, item) in enumerate(zip(_package_names(doc, name), doc.data[name])):
            merged[key] = (item, doc.where.get((name, i)))
    return [v[0] for v in merged.values()], [v[1] for v in merged.values()]


def _package_names(doc: Doc, name: str) -> list[str]:
    """The package name of each item of ``doc.data[name]``; a bad item is reported at its own index."""
    names: list[str] = []
    for i, item in enumerate(doc.data[name]):
        if not isinstance(item, str):
            raise doc.error((name, i), f"{item!r} is not a string", hint="quote it, e.g. 'name==1.0'")
        try:
            key = _package_fields()[name](item)
        except ValueError as error:
            raise doc.error((name, i), str(error)) from None
        if key in names:
            raise doc.error((name, i), f"{item!r} repeats package {key!r} (already "
                            f"{doc.data[name][names.index(key)]!r}); keep one")
        names.append(key)
    return names


# -- cases ----------------------------------------------------------------------------------------------------


def load_case(case: str | Path, *, root: Path | str | None = None) -> Case:
    """Load ``cases/<ID>/case.yaml`` (or a case folder or file path) with its environments resolved."""
    project = Project.at(root)
    path = Path(case)
    if isinstance(case, Path) or "/" in str(case):  # a folder or case.yaml path; a bare word is an ID
        path = path / "case.yaml" if path.name != "case.yaml" else path
    else:
        path = project.cases / str(case) / "case.yaml"
    if not path.is_file():
        ids = project.case_ids()
        close = difflib.get_close_matches(str(case), ids, n=1)
        raise SpecError(project.show(path), "", f"no case {str(case)!r} here",
                        hint=(f"did you mean '{close[0]}'? " if close else "") +
                        f"cases: {', '.join(ids) or 'none'}; create one with 'reprokit case new ID'")
    doc = read_yaml(path, project.show(path))
    _resolve_sources(doc, ("files",), path.parent, project)
    data = doc.data
    for role, default in (("environment", None), ("baseline", "baseline")):
        value = data.get(role, default)
        if value is None:
            raise doc.error((role,), "required field is missing",
                            hint="name an environment from environments/ or declare one inline")
        if isinstance(value, str):
            data[role] = _named_environment(project, value, referrer=(doc, (role,) if role in data else ()))
        elif isinstance(value, dict):
            data[role] = _inline_environment(project, doc, (role,), base=path.parent,
                                             name=f"{data.get('id', path.parent.name)}/{role}")
        else:
            raise doc.error((role,), f"{value!r} is not an environment name or mapping")
    if isinstance(data.get("steps"), list):
        data["steps"] = [_step(doc, i, step) for i, step in enumerate(data["steps"])]
    case = _validate(Case, doc, folder=path.parent)
    if case.id != path.parent.name and path.parent.parent == project.cases:
        raise doc.error(("id",), f"{case.id!r} differs from the folder name {path.parent.name!r}",
                        hint=f"rename the folder to cases/{case.id}/ or set id: {path.parent.name}")
    return case


def _step(doc: Doc, index: int, step: Any) -> Any:
    """A step as the Step model reads it: a string is its command. A one-entry mapping whose key is no step
    field is a command that YAML split at ': ' (`- echo "status: ok"` reads as {'echo "status': 'ok"'});
    say so, rather than "unknown field 'echo "status'"."""
    if isinstance(step, str):
        return {"run": step}
    if isinstance(step, dict) and len(step) == 1:
        (key, value), = step.items()
        if key not in Step.model_fields and not isinstance(value, (dict, list)):
            shown = "" if value is None else " " + (str(value).lower() if isinstance(value, bool) else str(value))
            command = f"{key}:{shown}"
            colon = "': '" if value is not None else "a ':' at its end"
            raise doc.error(("steps", index), f"this step was read as a mapping ({key!r} -> {value!r}) because of "
                            f"{colon} in an unquoted string; quote the whole command",
                            hint="write it as: - '" + command.replace("'", "''") + "'")
    return step


# -- validation -------------------------------------------------------------------------------------------------


def _validate(model: type[BaseModel], doc: Doc, *, prefix: Key = (), outer: Doc | None = None, **fixed):
    """Validate ``doc.data`` against ``model``; turn pydantic's errors into one SpecError."""
    for internal in ("name", "source", "folder"):  # set by the loader, never by the file
        if internal in doc.data:
            raise (outer or doc).error(prefix + (internal,), "unknown field",
                                       hint="the name is the file's stem; remove this field")
    try:
        return model.model_validate({**doc.data, **fixed})
    except ValidationError as error:
        lines = []
        first = None
        for problem in error.errors():
            key = _data_key(doc.data, problem["loc"])
            message = _describe(model, problem, key)
            if not key:  # a check across fields says where, as "field.key: problem"
                key, message = _located(doc.data, message)
            located = (outer or doc).error(prefix + key, message["problem"], hint=message.get("hint"))
            first = first or located
            lines.append(located.message + (f"  ({located.hint})" if located.hint else ""))
        if len(lines) > 1:
            first.message = "\n".join(lines)
            first.hint = None
        raise first from None


def _located(data: dict, message: dict[str, str]) -> tuple[Key, dict[str, str]]:
    found = re.match(r"^([a-z_]+)(?:\.([^:\s]+))?: (.*)$", message["problem"], re.S)
    if not found or found.group(1) not in data:
        return (), message
    field, item, problem = found.groups()
    inside = isinstance(data[field], dict) and item in data[field]
    return ((field, item) if inside else (field,)), {**message, "problem": problem if inside or not item else
                                                   f"{item}: {problem}"}


def _data_key(data: Any, loc: tuple) -> Key:
    """The part of pydantic's location that is a path in the data (drops union branch names)."""
    key: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict) and not key and isinstance(part, str):
            key.append(part)  # a missing top-level field
            break
        else:
            break
        key.append(part)
    return tuple(key)


def _describe(model: type[BaseModel], problem: dict, key: Key) -> dict[str, str]:
    kind, message = problem["type"], problem["msg"]
    if kind == "extra_forbidden":
        known = _fields_at(model, key[:-1])
        close = difflib.get_close_matches(str(key[-1]), known, n=1)
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"known fields: {', '.join(known)}"
        return {"problem": "unknown field", "hint": hint}
    if kind == "missing":
        return {"problem": "required field is missing"}
    if kind == "value_error":
        return {"problem": message.removeprefix("Value error, ")}
    value = problem.get("input")
    shown = repr(value) if not isinstance(value, (dict, list)) or len(repr(value)) < 80 else type(value).__name__
    return {"problem": f"{shown}: {message[0].lower()}{message[1:]}"}


def _fields_at(model: type[BaseModel], key: Key) -> list[str]:
    for part in key:
        if isinstance(part, int):
            continue
        annotation = model.model_fields.get(part)
        inner = getattr(annotation, "annotation", None)
        candidates = [inner, *getattr(inner, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            break
        model = nested[0]
    return [name for name, f in model.model_fields.items() if not f.exclude and name not in ("name", "folder")]
