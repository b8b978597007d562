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
# Maps whose keys are package or program names, never secret names.
NAME_SAFE = ("debian_packages", "debian_priorities", "rpm_packages", "pythons", "distributions")
MARKER = re.compile(r"^<redacted:[0-9a-f]{12}>$")

_VALUE_RES = [(kind, re.compile("(?P<pre>%s)(?P<secret>%s)(?P<post>%s)" % (pre, secret, post)))
              for kind, pre, secret, post in SECRET_VALUES]
_PEM_RE = re.compile(PEM_BEGIN + "(?:.|\n)*?" + PEM_END)
_ASSIGNMENT_RE = re.compile(ASSIGNMENT)


def marker(value):
    """The stand-in for a secret: the same value always gives the same marker, so collections compare."""
    return "<redacted:%s>" % hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def secret_name(name):
    tokens = [t for t in re.split("[^a-z0-9]+", str(name).lower()) if t]
    return any(t == word or (len(word) >= 5 and word in t) for t in tokens for word in SECRET_WORDS)


def redact_text(text, where, found):
    """Replace secret-looking values anywhere in ``text``; note each one in ``found`` (never the value)."""
    def pem(match):
        found.append({"where": where, "why": "pem-private-key"})
        return marker(match.group(0))

    text = _PEM_RE.sub(pem, text)
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
print(json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3], "distributions": out}))
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


def _or_unreadable(text):
    return "<unreadable>" if text is None else text


def collect(options):
    python = options.python or (os.path.join(options.venv, "bin", "python") if options.venv else sys.executable)
    packages, priorities = debian_packages(options.packages)
    facts = {
        "os_release": os_release(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "libc": " ".join(platform.libc_ver()).strip(),
        "pythons": pythons(),
        "python": python_facts(python),
        "debian_packages": packages,
        "debian_priorities": priorities,
        "rpm_packages": rpm_packages(options.packages),
        "env": dict(os.environ),
        "locale": {k: os.environ[k] for k in ("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE") if k in os.environ},
        "timezone": timezone(),
        "ulimits": ulimits(),
        "cgroup": cgroup_limits(),
        "user": user(),
        "host": host_only(),
        "files": {path: _or_unreadable(read(path)) for path in options.file},
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
