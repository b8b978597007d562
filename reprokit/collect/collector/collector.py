#!/usr/bin/env python3
"""reprokit collector: this machine's environment as one JSON document, secrets redacted before printing.

Run it where the bug happens (host or container): ``python3 reprokit-collect.py > collection.json``.
Python 3.6 or later, standard library only. Nothing leaves the machine: it only prints. JSON is also
YAML, so the output is both. Options: --venv DIR, --python EXE, --packages GLOB, --file PATH (the config
files support asked for), --allow NAME (keep that named value), --output FILE.

The secret patterns below are the only copy: reprokit's redact.py imports them, and the sh fallback is
rendered from them, so they are written in the regex subset Python and POSIX awk agree on (no
backslashes, no {n} counts, no lazy quantifiers).
"""
import argparse
import fnmatch
import hashlib
import json
import os
import platform
import re
import struct
import subprocess
import sys
import time

FORMAT = "reprokit-collection"
FORMAT_VERSION = 1

# Names (env vars, config keys) whose values are secret: a name is secret when one of its lowercase
# alphanumeric tokens is one of these words, or contains one that is 5 letters or longer.
SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "key", "credential", "auth",
                "session", "cookie", "private", "dsn")
# Values that are secret wherever they appear: (kind, kept prefix, secret, kept suffix).
SECRET_VALUES = (
    ("url-password", "[A-Za-z][A-Za-z0-9+.-]*://[^/ :@\"']+:", "[^/ @\"']+", "@"),
    ("cloud-access-key", "", "(AKIA|ASIA)" + "[0-9A-Z]" * 16, ""),
    ("github-token", "", "gh[pousr]_" + "[A-Za-z0-9]" * 20 + "[A-Za-z0-9]*", ""),
    ("jwt", "", "eyJ[A-Za-z0-9_-]+[.][A-Za-z0-9_-]+[.][A-Za-z0-9_-]+", ""),
    ("bearer-token", "[Bb][Ee][Aa][Rr][Ee][Rr][ ]+", "[A-Za-z0-9._~+/=-]+", ""),
    ("basic-auth", "[Bb][Aa][Ss][Ii][Cc][ ]+", "[A-Za-z0-9+/]" * 16 + "[A-Za-z0-9+/=]*", ""),
)
PEM_BEGIN = "-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"
PEM_END = "-----END [A-Z0-9 ]*PRIVATE KEY-----"
# A config line that assigns a value: `key = v`, `key: v`, `"key": "v",`, `export KEY=v`.
ASSIGNMENT = "^[ \t]*(export[ \t]+)?[\"']?[A-Za-z0-9_.-]+[\"']?[ \t]*[:=][ \t]*"
# Maps whose keys are package or program names, host names, mount points or certificate file names, never
# secret names (an /etc/hosts entry 'auth.acme.internal' keeps its address; its value is still scanned).
NAME_SAFE = ("debian_packages", "debian_priorities", "rpm_packages", "pythons", "distributions", "etc_hosts",
             "tmpfs_mounts", "extra_ca_certificates", "library_owners")
# Maps of PEM texts whose certificate blocks are public: private keys in them are still redacted, and the value
# patterns apply everywhere except inside a certificate's base64 (where 'AKIA' + 16 capitals can occur by chance).
PUBLIC_PEM = ("extra_ca_certificates",)
CERTIFICATE = "-----BEGIN CERTIFICATE-----[A-Za-z0-9+/= \t\r\n]*-----END CERTIFICATE-----"
MARKER = re.compile(r"^<redacted:[0-9a-f]{12}>$")

_VALUE_RES = [(kind, re.compile("(?P<pre>%s)(?P<secret>%s)(?P<post>%s)" % (pre, secret, post)))
              for kind, pre, secret, post in SECRET_VALUES]
_PEM_RE = re.compile(PEM_BEGIN + "(?:.|\n)*?" + PEM_END)
_ASSIGNMENT_RE = re.compile(ASSIGNMENT)
_CERTIFICATE_RE = re.compile(CERTIFICATE)


def marker(value):
    """The stand-in for a secret: the same value always gives the same marker, so collections compare."""
    return "<redacted:%s>" % hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def secret_name(name):
    tokens = [t for t in re.split("[^a-z0-9]+", str(name).lower()) if t]
    return any(t == word or (len(word) >= 5 and word in t) for t in tokens for word in SECRET_WORDS)


def redact_text(text, where, found):
    """Replace secret-looking values anywhere in ``text``; note each one in ``found`` (never the value)."""
    return _redact_values(_redact_pem(text, where, found), where, found)


def redact_certificates(text, where, found):
    """A PEM text of public certificates: private keys redacted over the whole text, the value patterns
    applied everywhere except inside certificate blocks, which stay byte for byte."""
    text = _redact_pem(text, where, found)
    pieces, start = [], 0
    for match in _CERTIFICATE_RE.finditer(text):
        pieces += [_redact_values(text[start:match.start()], where, found), match.group(0)]
        start = match.end()
    return "".join(pieces) + _redact_values(text[start:], where, found)


def _redact_pem(text, where, found):
    def pem(match):
        found.append({"where": where, "why": "pem-private-key"})
        return marker(match.group(0))

    return _PEM_RE.sub(pem, text)


def _redact_values(text, where, found):
    for kind, pattern in _VALUE_RES:
        def one(match, kind=kind):
            secret = match.group("secret")
            if MARKER.match(secret):
                return match.group(0)
            found.append({"where": where, "why": kind})
            return match.group("pre") + marker(secret) + match.group("post")
        text = pattern.sub(one, text)
    return text


def redact_named(name, value, where, allow, found):
    """A value under a name: the whole value if the name is secret, else the secret-looking parts."""
    if name in allow:
        return value
    if secret_name(name) and value != "" and not MARKER.match(value):
        found.append({"where": where, "why": "secret name"})
        return marker(value)
    return redact_text(value, where, found)


def redact_config(text, where, allow, found):
    """A config file: values of secret-named keys, then secret-looking values anywhere."""
    lines = []
    for number, line in enumerate(text.split("\n"), 1):
        match = _ASSIGNMENT_RE.match(line)
        if match:
            name = re.sub("^[ \t]*(export[ \t]+)?[\"']?|[\"']?[ \t]*[:=][ \t]*$", "", match.group(0))
            value = line[match.end():]
            body = value.rstrip(" \t,;")
            quote = body[:1] if body[:1] in "\"'" and body[-1:] == body[:1] and len(body) > 1 else ""
            inner = body[1:-1] if quote else body
            if name not in allow and secret_name(name) and inner and not MARKER.match(inner):
                found.append({"where": "%s:%d (%s)" % (where, number, name), "why": "secret name"})
                line = line[:match.end()] + quote + marker(inner) + quote + value[len(body):]
            elif name in allow:
                lines.append(line)
                continue
        lines.append(line)
    return redact_text("\n".join(lines), where, found)


def redact_document(node, allow=(), found=None, path=()):
    """Redact a whole collection (or any JSON-like value) in place of a copy; returns (copy, found)."""
    found = [] if found is None else found
    where = ".".join(str(p) for p in path)
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            here = path + (key,)
            if path and path[-1] == "files" and isinstance(value, str):
                out[key] = redact_config(value, "files.%s" % key, allow, found)
            elif path and path[-1] in PUBLIC_PEM and isinstance(value, str):
                out[key] = redact_certificates(value, ".".join(str(p) for p in here), found)
            elif isinstance(value, (dict, list)):
                out[key] = redact_document(value, allow, found, here)[0]
            elif isinstance(value, str) and not (path and path[-1] in NAME_SAFE):
                out[key] = redact_named(str(key), value, ".".join(str(p) for p in here), allow, found)
            elif isinstance(value, str):
                out[key] = redact_text(value, ".".join(str(p) for p in here), found)
            elif value is not None and not isinstance(value, bool) and secret_name(key) and key not in allow \
                    and not (path and path[-1] in NAME_SAFE):
                found.append({"where": ".".join(str(p) for p in here), "why": "secret name"})
                out[key] = marker(str(value))
            else:
                out[key] = value
        return out, found
    if isinstance(node, list):
        return [redact_document(item, allow, found, path + (i,))[0] for i, item in enumerate(node)], found
    if isinstance(node, str):
        return redact_text(node, where, found), found
    return node, found


# -- facts ------------------------------------------------------------------------------------------------


def run(command, timeout=60):
    """stdout of a command, or None when it is missing or fails (a missing tool empties one fact only)."""
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout,
                                universal_newlines=True, errors="replace")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return result.stdout if result.returncode == 0 else None


def read(path, limit=256 * 1024):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def os_release():
    text = read("/etc/os-release") or read("/usr/lib/os-release") or ""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip().strip("\"'") for k, v in pairs}


def pythons():
    """Every python executable on PATH and in the usual places, with its version."""
    folders = os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/local/bin", "/opt/conda/bin"]
    seen, found = set(), {}
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if not re.match(r"^python(3(\.\d+)?)?$", name) or not os.access(path, os.X_OK):
                continue
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            version = run([path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], timeout=20)
            if version:
                found[path] = version.strip()
    return found


# Runs in the target interpreter (maybe another venv): distributions with versions and requirements.
DISTRIBUTIONS = r"""
import json, os, re, sys
out = {}
for folder in sys.path:
    try:
        names = os.listdir(folder or ".")
    except OSError:
        continue
    for name in names:
        if not name.endswith((".dist-info", ".egg-info")):
            continue
        meta = os.path.join(folder, name, "METADATA" if name.endswith(".dist-info") else "PKG-INFO")
        try:
            with open(meta, encoding="utf-8", errors="replace") as f:
                head = f.read().split("\n\n", 1)[0]
        except OSError:
            continue
        fields = re.findall(r"^([A-Za-z-]+): (.*)$", head, re.M)
        get = lambda key: [v for k, v in fields if k.lower() == key]
        if not get("name"):
            continue
        key = re.sub(r"[-_.]+", "-", get("name")[0]).lower()
        requires = sorted(set(re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", r).group(0)).lower()
                              for r in get("requires-dist") if "extra ==" not in r and re.match(r"[A-Za-z0-9]", r)))
        out.setdefault(key, {"version": (get("version") or [""])[0], "requires": requires})
print(json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3], "distributions": out,
                  "sys_path": [p for p in sys.path if p]}))
"""


def python_facts(python):
    """The target interpreter: its version, `pip freeze`, and each distribution's requirements."""
    info = run([python, "-c", DISTRIBUTIONS], timeout=120)
    data = json.loads(info) if info else {"executable": python, "version": "", "distributions": {}}
    freeze = run([python, "-m", "pip", "freeze", "--disable-pip-version-check"], timeout=120)
    if freeze is None:  # no pip here: the distributions found on sys.path are the next best pins
        skip = ("pip", "setuptools", "wheel", "distribute")
        freeze = "".join("%s==%s\n" % (k, v["version"]) for k, v in sorted(data["distributions"].items())
                         if k not in skip)
        data["pip_freeze_source"] = "dist-info"
    data["pip_freeze"] = [line for line in freeze.splitlines() if line.strip() and not line.startswith("#")]
    return data


def debian_packages(pattern):
    text = run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\t${Priority}\n"]) or ""
    out, priorities = {}, {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0].startswith("ii") and fnmatch.fnmatch(parts[1], pattern):
            out[parts[1]] = parts[2]
            priorities[parts[1]] = parts[3]
    return out, priorities


# -- native libraries and package origins (issue 15: pin what the app can feel, from where it came) ---------

DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29
SCAN_LIMIT = 20000  # ELF files read per collection at most: a huge tree must not stall the customer's machine


def elf_dynamic(path):
    """(64-bit?, needed sonames, rpath/runpath folders) of an ELF file from its dynamic segment, as the loader
    reads it (program headers, not sections); None when it is not a dynamically linked ELF file."""
    with open(path, "rb") as handle:
        head = handle.read(64)
        if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
            return None
        wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
        offset, size, count = struct.unpack_from(order + ("Q14xHH" if wide else "I10xHH"), head, 32 if wide else 28)
        handle.seek(offset)
        table = handle.read(size * count)
        header = order + ("IIQQQQ" if wide else "IIIIII")
        loads, dynamic = [], None
        for i in range(count):
            fields = struct.unpack_from(header, table, i * size)
            kind, offset_, vaddr, filesz = (fields[0], fields[2], fields[3], fields[5]) if wide else \
                (fields[0], fields[1], fields[2], fields[4])
            if kind == 1:
                loads.append((vaddr, offset_, filesz))
            elif kind == 2:
                dynamic = (offset_, filesz)
        if dynamic is None:
            return None
        handle.seek(dynamic[0])
        raw = handle.read(dynamic[1])
        entry = order + ("qQ" if wide else "iI")
        step = struct.calcsize(entry)
        tags = [struct.unpack_from(entry, raw, i) for i in range(0, len(raw) - step + 1, step)]
        table_at = next((value for tag, value in tags if tag == DT_STRTAB), None)
        where = next((o + table_at - v for v, o, n in loads if table_at is not None and v <= table_at < v + n), None)
        if where is None:
            return None

        def string(index):
            handle.seek(where + index)
            return handle.read(4096).split(b"\0", 1)[0].decode("utf-8", "replace")

        needed = [string(value) for tag, value in tags if tag == DT_NEEDED]
        paths = [string(value) for tag, value in tags if tag in (DT_RPATH, DT_RUNPATH)]
    origin = os.path.dirname(os.path.abspath(path))
    folders = [p.replace("$ORIGIN", origin).replace("${ORIGIN}", origin) for text in paths for p in text.split(":") if p]
    return wide, needed, folders


def library_cache():
    """{(soname, 64-bit?): path} from `ldconfig -p`, the loader's own cache."""
    found = {}
    for line in (run(["ldconfig", "-p"]) or run(["/sbin/ldconfig", "-p"]) or "").splitlines():
        match = re.match(r"^\s+(\S+) \(([^)]*)\) => (\S+)$", line)
        if match:
            found.setdefault((match.group(1), "64" in match.group(2)), match.group(3))
    return found


DEFAULT_LIBRARY_FOLDERS = ("/lib/%s-linux-gnu" % platform.machine(), "/usr/lib/%s-linux-gnu" % platform.machine(),
                           "/lib64", "/usr/lib64", "/lib", "/usr/lib")


def resolve_library(soname, wide, folders, cache):
    """Where the loader finds ``soname``: rpath/runpath folders, its cache, then the default folders."""
    if "/" in soname:
        return soname if os.path.exists(soname) else None
    for folder in folders:
        if os.path.exists(os.path.join(folder, soname)):
            return os.path.normpath(os.path.join(folder, soname))
    if (soname, wide) in cache:
        return cache[(soname, wide)]
    return next((os.path.join(f, soname) for f in DEFAULT_LIBRARY_FOLDERS if os.path.exists(os.path.join(f, soname))),
                None)


def dpkg_owners():
    """{path: Debian package} for the shared libraries dpkg installed (from /var/lib/dpkg/info/*.list)."""
    folder, owners = "/var/lib/dpkg/info", {}
    try:
        names = os.listdir(folder)
    except OSError:
        return owners
    for name in names:
        if name.endswith(".list"):
            package = name[:-5].split(":", 1)[0]
            for line in (read(os.path.join(folder, name), 8 << 20) or "").splitlines():
                if ".so" in line:
                    owners.setdefault(line, package)
    return owners


def owner_of(path, owners):
    """The package owning ``path``, looked up as installed, resolved, and across the /usr merge."""
    for candidate in (path, os.path.realpath(path)):
        for variant in (candidate, candidate[4:] if candidate.startswith("/usr/") else "/usr" + candidate):
            if variant in owners:
                return owners[variant]
    return ""


def extension_files(folders):
    """ELF shared objects under the interpreter's sys.path folders (extension modules and the libraries wheels
    bundle with them), plus the interpreter itself; zips and the current folder are skipped."""
    seen, found = set(), []
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for root, dirs, names in os.walk(folder):
            real = os.path.realpath(root)
            if real in seen:
                dirs[:] = []
                continue
            seen.add(real)
            dirs.sort()
            found += [os.path.join(root, n) for n in sorted(names) if n.endswith(".so") or ".so." in n]
            if len(found) >= SCAN_LIMIT:
                return found[:SCAN_LIMIT]
    return found


def native_libraries(python):
    """For each extension module the interpreter can load: the libraries it links (DT_NEEDED, resolved as the
    loader would), and the Debian package owning each library ('' when none does: bundled or self-built; the
    links of those are followed too, so a self-built libpython's libssl is found)."""
    cache, owners = library_cache(), dpkg_owners()
    extensions, library_owners = {}, {}
    todo = [python.get("executable") or sys.executable] + extension_files(python.get("sys_path") or [])
    while todo:
        path = todo.pop(0)
        try:
            elf = elf_dynamic(path)
        except (OSError, struct.error, ValueError):
            continue
        if elf is None:
            continue
        wide, needed, folders = elf
        linked = []
        for soname in needed:
            found = resolve_library(soname, wide, folders, cache)
            linked.append(found or soname + " (not found)")
            if found and found not in library_owners:
                library_owners[found] = owner_of(found, owners)
                if not library_owners[found] and found not in extensions:  # self-built (libpython): its links too
                    todo.append(found)
        if linked:
            extensions[path] = linked
    return {"extensions": extensions, "library_owners": library_owners}


def package_origins(names):
    """{package: ["Origin/suite@host", ...]}: the repositories that serve the installed version, from apt's
    policy (an empty list: no configured repository does; a .deb installed by hand, or a repository removed)."""
    if not names:
        return {}
    return parse_origins(run(["apt-cache", "policy"]) or "", run(["apt-cache", "policy"] + sorted(names), timeout=300)
                         or "", names)


def parse_origins(sources, policies, names):
    """``sources``: `apt-cache policy` (the package files and their release lines); ``policies``: `apt-cache
    policy NAME...`; the version table line under the installed version names the files serving it."""
    releases, current = {}, None
    for line in sources.splitlines():
        source = re.match(r"^\s*-?\d+ (\S+ \S+ \S+ Packages|\S+ \S+ Packages)$", line)
        if source:
            current = source.group(1)
            host = re.match(r"^[a-z+]+://(?:[^@/]*@)?([^/:]+)", current)
            releases[current] = {"host": host.group(1) if host else "", "o": "", "n": ""}
        elif current and line.strip().startswith("release "):
            fields = dict(p.split("=", 1) for p in line.strip()[8:].split(",") if "=" in p)
            releases[current].update(o=fields.get("o", ""), n=fields.get("n", "") or fields.get("a", ""))
    origins, package, installed, version = {}, None, None, None
    for line in policies.splitlines():
        if re.match(r"^\S+:$", line):
            package, installed, version = line[:-1], None, None
            origins[package] = []
        elif package and line.strip().startswith("Installed:"):
            installed = line.split(":", 1)[1].strip()
        elif package and re.match(r"^ (\*\*\*|   ) \S+ -?\d+$", line):
            version = line.split()[-2]
        elif package and version == installed and re.match(r"^\s+-?\d+ \S", line):
            source = line.split(None, 1)[1].strip()
            if source in releases:
                r = releases[source]
                origins[package].append("%s/%s@%s" % (r["o"] or "unknown", r["n"] or source.split()[1], r["host"]))
    return {name: origins[name] for name in names if name in origins}


def rpm_packages(pattern):
    text = run(["rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"]) or ""
    pairs = (line.split("\t", 1) for line in text.splitlines() if "\t" in line)
    return {name: version for name, version in pairs if fnmatch.fnmatch(name, pattern)}


def timezone():
    link = os.path.realpath("/etc/localtime") if os.path.exists("/etc/localtime") else ""
    name = os.environ.get("TZ") or (read("/etc/timezone") or "").strip() or \
        (link.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in link else "")
    return {"name": name, "abbreviation": time.strftime("%Z"), "offset": time.strftime("%z")}


def ulimits():
    try:
        import resource
    except ImportError:
        return {}
    out = {}
    for name, which, scale in (("nofile", "RLIMIT_NOFILE", 1), ("nproc", "RLIMIT_NPROC", 1),
                               ("stack_kib", "RLIMIT_STACK", 1024)):
        if hasattr(resource, which):
            soft = resource.getrlimit(getattr(resource, which))[0]
            out[name] = "unlimited" if soft == resource.RLIM_INFINITY else str(soft // scale)
    return out


def cgroup_limits():
    """memory bytes, cpus and pids of this process's cgroup (v2, else v1); "max" when unlimited."""
    own = ""
    for line in (read("/proc/self/cgroup") or "").splitlines():
        if line.startswith("0::"):
            own = line[3:].strip()
    base = "/sys/fs/cgroup" + (own if own != "/" else "")

    def first(*paths):
        for path in paths:
            value = read(path)
            if value is not None and value.strip():
                return value.strip()
        return ""

    memory = first(base + "/memory.max", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if memory.isdigit() and int(memory) >= 1 << 60:
        memory = "max"
    cpu = first(base + "/cpu.max", "/sys/fs/cgroup/cpu.max").split()
    if not cpu:
        cpu = [first("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), first("/sys/fs/cgroup/cpu/cpu.cfs_period_us")]
    cpus = "%g" % (int(cpu[0]) / int(cpu[1])) if len(cpu) == 2 and cpu[0].isdigit() and cpu[1].isdigit() else "max"
    pids = first(base + "/pids.max", "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max") or "max"
    return {"memory": memory or "max", "cpus": cpus, "pids": pids}


def user():
    import pwd

    try:
        name = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        name = ""
    return {"name": name, "uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups())}


def host_only():
    """Facts a container cannot reproduce; the importer lists them instead of dropping them."""
    cpuinfo = read("/proc/cpuinfo") or ""
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    enforce = read("/sys/fs/selinux/enforce")
    return {"cpu_model": model.group(1) if model else "", "cpu_count": os.cpu_count() or 0,
            "selinux": {"1": "enforcing", "0": "permissive"}.get((enforce or "").strip(), "absent"),
            "in_container": os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")}


def guarded(reader, empty=None):
    """``reader()``, or ``empty`` when it fails: one unreadable fact must not cost the customer the others."""
    try:
        return reader()
    except Exception:  # whatever it is, it empties this one fact, never the whole collection
        return empty


def mounts():
    """(mount point, type, options) from /proc/mounts, in mount order; octal escapes (\\040 = space) decoded."""
    found = []
    for line in (read("/proc/mounts", 4 << 20) or "").splitlines():
        parts = line.split()
        if len(parts) >= 4:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[1])
            found.append((point, parts[2], parts[3].split(",")))
    return found


def size_kib(path):
    """Size of the filesystem mounted at ``path``, in KiB."""
    stat = os.statvfs(path)
    return stat.f_blocks * stat.f_frsize // 1024


def shm_kib():
    """Size of /dev/shm in KiB (Docker's default is 65536, 64m)."""
    return size_kib("/dev/shm")


def root_read_only():
    """Is / mounted read-only (a hardened pod)? The last mount on / is the one in effect; None when none is listed."""
    options = [options for point, kind, options in mounts() if point == "/"]
    return "ro" in options[-1] if options else None


# Mounts every machine or container has: a tmpfs there is the system's, not the application's.
SYSTEM_TMPFS = ("/dev", "/run", "/sys", "/proc")


def tmpfs_mounts():
    """{mount point: size} of tmpfs mounts, size as /proc/mounts states it ('16384k'), else as statvfs finds it."""
    found = {}
    for point, kind, options in mounts():
        if kind != "tmpfs" or any(point == p or point.startswith(p + "/") for p in SYSTEM_TMPFS):
            continue
        size = [o.split("=", 1)[1] for o in options if o.startswith("size=")]
        found[point] = size[0] if size else guarded(lambda: "%dk" % size_kib(point), "")
    return found


def current_umask():
    """The umask as 4 octal digits; reading it means setting it, so it is set back at once."""
    old = os.umask(0o22)
    os.umask(old)
    return "%04o" % old


CA_FOLDER = "/usr/local/share/ca-certificates"  # where Debian, Ubuntu and Alpine take CAs the distro does not ship
CA_FILE_LIMIT, CA_TOTAL_LIMIT = 64 * 1024, 1024 * 1024


def extra_ca_certificates(folder=CA_FOLDER):
    """{path under the folder: PEM text} of the *.crt files there (recursively), each and all bounded in size."""
    found, total = {}, 0
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            if not name.endswith(".crt") or not os.path.isfile(path):
                continue
            text = read(path, CA_FILE_LIMIT)
            if text is None or total + len(text) > CA_TOTAL_LIMIT:
                continue
            total += len(text)
            found[os.path.relpath(path, folder)] = text
    return found


LOCAL_HOSTS = ("localhost", "localhost.localdomain", "localhost4", "localhost6", "broadcasthost")


def etc_hosts(own=None):
    """{name: address} of /etc/hosts beyond the local and IPv6 boilerplate and this machine's own name; the
    first line naming a host wins, as in the resolver."""
    own = platform.node() if own is None else own
    found = {}
    for line in (read("/etc/hosts") or "").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 2 or words[0].startswith("127.") or words[0] == "::1":
            continue
        for name in words[1:]:
            if name in LOCAL_HOSTS or name.startswith(("ip6-", "localhost.")) or \
                    (own and (name == own or name.startswith(own + ".") or own.startswith(name + "."))):
                continue
            found.setdefault(name, words[0])
    return found


def _or_unreadable(text):
    return "<unreadable>" if text is None else text


def collect(options):
    python = options.python or (os.path.join(options.venv, "bin", "python") if options.venv else sys.executable)
    packages, priorities = debian_packages(options.packages)
    interpreter = python_facts(python)
    facts = {
        "os_release": os_release(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "libc": " ".join(platform.libc_ver()).strip(),
        "pythons": pythons(),
        "python": interpreter,
        "native_libraries": guarded(lambda: native_libraries(interpreter), {}),
        "debian_packages": packages,
        "debian_priorities": priorities,
        "debian_origins": guarded(lambda: package_origins(sorted(packages)), {}),
        "rpm_packages": rpm_packages(options.packages),
        "env": dict(os.environ),
        "locale": {k: os.environ[k] for k in ("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE") if k in os.environ},
        "timezone": timezone(),
        "ulimits": ulimits(),
        "cgroup": cgroup_limits(),
        "user": user(),
        "host": host_only(),
        "files": {path: _or_unreadable(read(path)) for path in options.file},
        "shm_kib": guarded(shm_kib),
        "root_read_only": guarded(root_read_only),
        "tmpfs_mounts": guarded(tmpfs_mounts, {}),
        "hostname": guarded(platform.node, ""),  # uname's nodename, as socket.gethostname() on Linux
        "umask": guarded(current_umask, ""),
        "extra_ca_certificates": guarded(extra_ca_certificates, {}),
        "etc_hosts": guarded(etc_hosts, {}),
        # The machine's own clock; `env import --collected-at` compares it with when the collection was really
        # taken (collected_at below comes from the same clock, so it cannot tell a wrong clock).
        "time_epoch": guarded(lambda: round(time.time(), 3)),
    }
    facts, found = redact_document(facts, allow=set(options.allow))
    return {"format": FORMAT, "version": FORMAT_VERSION, "collector": "python",
            "collected_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "facts": facts, "redactions": found}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", help="record pip freeze of this virtualenv instead of this interpreter")
    parser.add_argument("--python", help="record pip freeze of this python executable")
    parser.add_argument("--packages", default="*", help="only system packages matching this glob")
    parser.add_argument("--file", action="append", default=[], help="a config file to include (repeatable)")
    parser.add_argument("--allow", action="append", default=[], help="keep the value of this name (repeatable)")
    parser.add_argument("--output", help="write here instead of stdout")
    options = parser.parse_args(argv)
    text = json.dumps(collect(options), indent=1, sort_keys=True) + "\n"
    if options.output:
        with open(options.output, "w") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
