#!/bin/sh
# reprokit collector, POSIX sh fallback for hosts without Python: this machine's environment as one
# JSON document, secrets redacted (by awk, with sha256sum) before anything is printed.
# Get a runnable copy with `reprokit collect --script FILE --sh`: the secret patterns are filled in
# from the Python collector, their only source, when the script is written.
# Usage: sh reprokit-collect.sh [--venv DIR] [--python EXE] [--packages GLOB] [--file PATH]...
#                               [--allow NAME]... [--output FILE] > collection.json
# Of the machine's limits, mounts, names, umask, CAs and clock it records what the Python collector does,
# except tmpfs mounts whose path /proc/mounts escapes (a space is \040), and time_epoch in whole seconds.
set -u
REPROKIT_RENDERED=__RENDERED__
if [ "$REPROKIT_RENDERED" != yes ]; then
  echo "this is the collector template; write a runnable one with: reprokit collect --script FILE --sh" >&2
  exit 2
fi

packages='*'; venv=''; python=''; allow=''; files=''; output=''
while [ $# -gt 0 ]; do
  case "$1" in
    --packages|--venv|--python|--file|--allow|--output)
      [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; } ;;
  esac
  case "$1" in
    --packages) packages=$2; shift 2 ;;
    --venv) venv=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    --file) files="$files
$2"; shift 2 ;;
    --allow) allow="$allow $2"; shift 2 ;;
    --output) output=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

customer_umask=$(umask)  # before the collector's own umask below
umask 077
# Scratch space for awk's hashing; a read-only root (a hardened pod) may leave only /dev/shm or the workdir.
tmp=$(mktemp -d 2>/dev/null) || for dir in /tmp /dev/shm /var/tmp "${HOME:-}" "$PWD"; do
  [ -n "$dir" ] && mkdir "$dir/reprokit-collect.$$" 2>/dev/null && { tmp=$dir/reprokit-collect.$$; break; }
done
[ -n "$tmp" ] && [ -d "$tmp" ] || { echo "collector: no writable folder for scratch files; set TMPDIR" >&2; exit 1; }
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; exit 1' INT TERM HUP

section() { printf '@@reprokit-section %s %s\n' "$1" "$2"; }
value() { "$@" 2>/dev/null | head -n 1; }
first_file() { for f in "$@"; do [ -r "$f" ] && { head -n 1 "$f"; return; }; done; }

gather() {
  section kv os_release; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
  section text kernel; uname -r
  section text arch; uname -m
  section text libc; { getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1; } | head -n 1
  section kv pythons
  for dir in $(echo "${PATH:-}" | tr ':' ' ') /usr/bin /usr/local/bin; do
    for exe in "$dir"/python "$dir"/python3 "$dir"/python3.*; do
      [ -f "$exe" ] && [ -x "$exe" ] || continue
      case "$exe" in *-config|*m) continue ;; esac
      v=$("$exe" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) && echo "$exe=$v"
    done
  done
  py=${python:-}
  [ -z "$py" ] && [ -n "$venv" ] && py=$venv/bin/python
  [ -z "$py" ] && py=$(command -v python3 || command -v python || true)
  section kv python
  if [ -n "$py" ]; then
    echo "executable=$py"
    echo "version=$(value "$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
  fi
  section lines pip_freeze
  [ -n "$py" ] && "$py" -m pip freeze --disable-pip-version-check 2>/dev/null | grep -v '^#'
  dpkg-query -W -f '${db:Status-Abbrev}\t${Package}\t${Version}\t${Priority}\n' 2>/dev/null > "$tmp/dpkg"
  section kv debian_packages
  while IFS="$(printf '\t')" read -r status name version priority; do
    case "$status" in ii*) ;; *) continue ;; esac
    case "$name" in $packages) echo "$name=$version" ;; esac
  done < "$tmp/dpkg"
  section kv debian_priorities
  while IFS="$(printf '\t')" read -r status name version priority; do
    case "$status" in ii*) ;; *) continue ;; esac
    case "$name" in $packages) echo "$name=$priority" ;; esac
  done < "$tmp/dpkg"
  section kv rpm_packages
  command -v rpm >/dev/null 2>&1 && rpm -qa --qf '%{NAME}=%{VERSION}-%{RELEASE}\n' 2>/dev/null |
    while IFS= read -r line; do case "${line%%=*}" in $packages) echo "$line" ;; esac; done
  section env env; env
  section env locale; env | grep -E '^(LANG|LC_ALL|LC_CTYPE|LANGUAGE)='
  section kv timezone
  zone=${TZ:-$(first_file /etc/timezone)}
  if [ -z "$zone" ] && [ -L /etc/localtime ]; then
    zone=$(readlink /etc/localtime | sed -n 's|.*/zoneinfo/||p')
  fi
  echo "name=$zone"; echo "abbreviation=$(date +%Z)"; echo "offset=$(date +%z)"
  section kv ulimits
  echo "nofile=$(ulimit -n 2>/dev/null)"
  n=$(ulimit -u 2>/dev/null) && echo "nproc=$n"
  echo "stack_kib=$(ulimit -s 2>/dev/null)"
  section kv cgroup
  own=$(sed -n 's/^0:://p' /proc/self/cgroup 2>/dev/null); [ "$own" = / ] && own=''
  base=/sys/fs/cgroup$own
  memory=$(first_file "$base/memory.max" /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes)
  case "$memory" in ''|max) memory=max ;; *) [ ${#memory} -ge 19 ] && memory=max ;; esac
  cpu=$(first_file "$base/cpu.max" /sys/fs/cgroup/cpu.max)
  [ -z "$cpu" ] && cpu="$(first_file /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(first_file /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
  cpus=$(echo "$cpu" | awk '$1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && $2 > 0 { printf "%g", $1 / $2; next } { printf "max" }')
  pids=$(first_file "$base/pids.max" /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max)
  echo "memory=$memory"; echo "cpus=$cpus"; echo "pids=${pids:-max}"
  section kv user
  echo "name=$(id -un 2>/dev/null)"; echo "uid=$(id -u)"; echo "gid=$(id -g)"
  section kv host
  echo "cpu_model=$(sed -n 's/^model name[^:]*: *//p' /proc/cpuinfo 2>/dev/null | head -n 1)"
  echo "cpu_count=$(getconf _NPROCESSORS_ONLN 2>/dev/null)"
  case "$(first_file /sys/fs/selinux/enforce)" in 1) s=enforcing ;; 0) s=permissive ;; *) s=absent ;; esac
  echo "selinux=$s"
  if [ -e /.dockerenv ] || [ -e /run/.containerenv ]; then echo "in_container=true"; else echo "in_container=false"; fi
  section number shm_kib; df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 {print $2}'
  # The last mount on / is the one in effect.
  section bool root_read_only
  awk '$2 == "/" {o = $4} END {if (o != "") { ro = (("," o ",") ~ /,ro,/); print (ro ? "true" : "false") }}' /proc/mounts 2>/dev/null
  # tmpfs mounts of the application: not those every machine or container has under /dev, /run, /sys, /proc.
  section kv tmpfs_mounts
  awk '$3 == "tmpfs" && $2 !~ /^[/](dev|run|sys|proc)([/]|$)/ {
         s = ""; n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] ~ /^size=/) s = substr(o[i], 6)
         print $2 "\t" s }' /proc/mounts 2>/dev/null |
    while IFS="$(printf '\t')" read -r point size; do
      case "$point" in *\\*) continue ;; esac
      [ -n "$size" ] || size=$(df -Pk "$point" 2>/dev/null | awk 'NR == 2 {print $2 "k"}')
      echo "$point=$size"
    done
  section text hostname; uname -n
  section text umask; case "$customer_umask" in ???) echo "0$customer_umask" ;; *) echo "$customer_umask" ;; esac
  # /etc/hosts beyond the local and IPv6 boilerplate and this machine's own name; the first line naming a host wins.
  section kv etc_hosts
  awk -v own="$(uname -n 2>/dev/null)" '{ sub(/#.*/, ""); if (NF < 2 || $1 ~ /^127[.]/ || $1 == "::1") next
      for (i = 2; i <= NF; i++) {
        n = $i
        if (n ~ /^(localhost|localhost[.].*|localhost4|localhost6|broadcasthost|ip6-.*)$/) continue
        if (own != "" && (n == own || index(n, own ".") == 1 || index(own, n ".") == 1)) continue
        if (!(n in seen)) { seen[n] = 1; print n "=" $1 }
      } }' /etc/hosts 2>/dev/null
  # CAs the distro does not ship: *.crt under /usr/local/share/ca-certificates, each and all bounded in size.
  cadir=/usr/local/share/ca-certificates
  [ -d "$cadir" ] && find "$cadir" -name '*.crt' 2>/dev/null | LC_ALL=C sort | {
    total=0
    while IFS= read -r path; do
      [ -f "$path" ] && [ -r "$path" ] || continue
      size=$(wc -c < "$path" 2>/dev/null | tr -d ' ') || continue; [ "${size:-0}" -gt 65536 ] && size=65536
      [ $((total + size)) -gt 1048576 ] && continue
      total=$((total + size))
      section pem "${path#"$cadir"/}"; head -c 65536 "$path"; echo
    done
  }
  section number time_epoch; date +%s
  echo "$files" | while IFS= read -r path; do
    [ -n "$path" ] || continue
    section file "$path"
    if [ -r "$path" ]; then head -c 262144 "$path"; echo; else echo '<unreadable>'; fi
  done
}

cat > "$tmp/redact.awk" <<'AWK'
BEGIN {
#@@PATTERNS@@
#@@CERTIFICATE@@
    nwords = split(secret_words, words, " ")
    nsafe = split(name_safe, safe_list, " ")
    for (i = 1; i <= nsafe; i++) safe[safe_list[i]] = 1
    nallow = split(allow_list, allow_items, " ")
    for (i = 1; i <= nallow; i++) allowed[allow_items[i]] = 1
    for (i = 1; i < 32; i++) { c = sprintf("%c", i); ctrl[c] = sprintf("\\u%04x", i); ctrl_chars = ctrl_chars c }
    kind = ""; nred = 0; facts = ""; files = ""; pems = ""
}
function is_secret_name(name,    lower, ntok, toks, i, j) {
    lower = tolower(name); gsub(/[^a-z0-9]+/, " ", lower); ntok = split(lower, toks, " ")
    for (i = 1; i <= ntok; i++)
        for (j = 1; j <= nwords; j++)
            if (toks[i] == words[j] || (length(words[j]) >= 5 && index(toks[i], words[j]) > 0)) return 1
    return 0
}
function is_marker(s) { return s ~ /^<redacted:[0-9a-f][0-9a-f]*>$/ }
function hash(s,    cmd, h) {
    printf "%s", s > hashfile; close(hashfile)
    cmd = "sha256sum < '" hashfile "' 2>/dev/null || shasum -a 256 < '" hashfile "' 2>/dev/null"
    h = ""; cmd | getline h; close(cmd)
    printf "" > hashfile; close(hashfile)
    return h ~ /^[0-9a-f]/ ? "<redacted:" substr(h, 1, 12) ">" : "<redacted:no-sha256sum>"
}
function note(where, why) { nred++; red_where[nred] = where; red_why[nred] = why }
function redact_text(s, where) { return redact_values(redact_pem(s, where), where) }
# Public certificates: private keys redacted over the whole text, the value patterns everywhere but inside
# certificate blocks, which stay byte for byte (as redact_certificates in the Python collector).
function redact_certificates(s, where,    out, rs, rl) {
    s = redact_pem(s, where); out = ""
    while (match(s, certificate)) {
        rs = RSTART; rl = RLENGTH  # redact_values matches too
        out = out redact_values(substr(s, 1, rs - 1), where) substr(s, rs, rl)
        s = substr(s, rs + rl)
    }
    return out redact_values(s, where)
}
function redact_pem(s, where,    out, rs, rest) {
    out = ""
    while (match(s, pem_begin)) {
        rs = RSTART; rest = substr(s, rs)
        if (!match(rest, pem_end)) break
        note(where, "pem-private-key")
        out = out substr(s, 1, rs - 1) hash(substr(rest, 1, RSTART + RLENGTH - 1))
        s = substr(rest, RSTART + RLENGTH)
    }
    return out s
}
function redact_values(s, where,    i, out, rs, rl, m, plen, secret) {
    for (i = 1; i <= nvalues; i++) {
        out = ""
        while (match(s, vpre[i] vsecret[i] vpost[i])) {
            rs = RSTART; rl = RLENGTH; m = substr(s, rs, rl); plen = 0
            if (vpre[i] != "" && match(m, "^" vpre[i])) plen = RLENGTH
            secret = substr(m, plen + 1, rl - plen - length(vpost[i]))
            if (is_marker(secret)) out = out substr(s, 1, rs + rl - 1)
            else { note(where, vkind[i]); out = out substr(s, 1, rs - 1) substr(m, 1, plen) hash(secret) vpost[i] }
            s = substr(s, rs + rl)
        }
        s = out s
    }
    return s
}
function redact_named(name, value, where) {
    if (name in allowed) return value
    if (is_secret_name(name) && value != "" && !is_marker(value)) { note(where, "secret name"); return hash(value) }
    return redact_text(value, where)
}
function redact_config(s, where,    n, L, i, line, pfx, name, value, body, tail, q, inner, out) {
    n = split(s, L, "\n"); out = ""
    for (i = 1; i <= n; i++) {
        line = L[i]
        if (match(line, assignment)) {
            pfx = substr(line, 1, RLENGTH); value = substr(line, RLENGTH + 1); name = pfx
            sub(/^[ \t]*(export[ \t]+)?["']?/, "", name); sub(/["']?[ \t]*[:=][ \t]*$/, "", name)
            body = value; sub(/[ \t,;]*$/, "", body); tail = substr(value, length(body) + 1)
            q = substr(body, 1, 1); inner = body
            if ((q == "\"" || q == "'") && length(body) > 1 && substr(body, length(body), 1) == q)
                inner = substr(body, 2, length(body) - 2)
            else q = ""
            if (!(name in allowed) && is_secret_name(name) && inner != "" && !is_marker(inner)) {
                note(where ":" i " (" name ")", "secret name"); line = pfx q hash(inner) q tail
            }
        }
        out = out (i > 1 ? "\n" : "") line
    }
    return redact_text(out, where)
}
function jstr(s,    out, i, c, n) {
    if (index(s, "\\") == 0 && index(s, "\"") == 0 && s !~ ("[" ctrl_chars "]")) return "\"" s "\""
    out = ""; n = length(s)
    for (i = 1; i <= n; i++) {
        c = substr(s, i, 1)
        if (c == "\\") out = out "\\\\"
        else if (c == "\"") out = out "\\\""
        else if (c in ctrl) out = out ctrl[c]
        else out = out c
    }
    return "\"" out "\""
}
function finish(    i, json, v, where) {
    if (kind == "") return
    if (kind == "kv" || kind == "env") {
        json = "{"
        for (i = 1; i <= nkeys; i++) {
            v = vals[i]; where = name "." keys[i]
            if (name == "os_release") { sub(/^["']/, "", v); sub(/["']$/, "", v) }
            v = (name in safe) ? redact_text(v, where) : redact_named(keys[i], v, where)
            json = json (i > 1 ? ", " : "") jstr(keys[i]) ": " jstr(v)
        }
        json = json "}"
    } else if (kind == "lines") {
        json = "["
        for (i = 1; i <= nlines; i++) json = json (i > 1 ? ", " : "") jstr(redact_text(lines[i], name "." (i - 1)))
        json = json "]"
    } else if (kind == "text") {
        json = jstr(redact_text(text, name))
    } else if (kind == "number") {
        json = (text ~ /^[0-9]+([.][0-9]+)?$/) ? text : "null"
    } else if (kind == "bool") {
        json = (text == "true" || text == "false") ? text : "null"
    } else if (kind == "pem") {
        pems = pems (pems == "" ? "" : ", ") jstr(name) ": " jstr(redact_certificates(text, "extra_ca_certificates." name))
        kind = ""; return
    } else if (kind == "file") {
        files = files (files == "" ? "" : ", ") jstr(name) ": " jstr(redact_config(text, "files." name))
        kind = ""; return
    }
    facts = facts (facts == "" ? "" : ",\n  ") jstr(name) ": " json
    kind = ""
}
/^@@reprokit-section / {
    finish()
    kind = $2; name = substr($0, length("@@reprokit-section " kind " ") + 1)
    nkeys = 0; nlines = 0; text = ""; ntext = 0
    next
}
{
    if (kind == "kv" || kind == "env") {
        if ((kind == "env" && match($0, /^[A-Za-z_][A-Za-z0-9_]*=/)) || (kind == "kv" && match($0, /^[^=]+=/))) {
            nkeys++; keys[nkeys] = substr($0, 1, RLENGTH - 1); vals[nkeys] = substr($0, RLENGTH + 1)
        } else if (nkeys > 0) vals[nkeys] = vals[nkeys] "\n" $0
    } else if (kind == "lines") { if ($0 != "") { nlines++; lines[nlines] = $0 } }
    else { text = (ntext++ > 0 ? text "\n" : "") $0 }
}
END {
    finish()
    printf "{\"format\": \"reprokit-collection\", \"version\": 1, \"collector\": \"sh\", \"collected_at\": %s,\n", jstr(collected_at)
    printf " \"facts\": {\n  %s,\n  \"extra_ca_certificates\": {%s},\n  \"files\": {%s}},\n \"redactions\": [", facts, pems, files
    for (i = 1; i <= nred; i++) printf "%s{\"where\": %s, \"why\": %s}", (i > 1 ? ", " : ""), jstr(red_where[i]), jstr(red_why[i])
    printf "]}\n"
}
AWK

# Raw facts go straight from gather to awk through a pipe: unredacted values never touch the disk.
gather | LC_ALL=C awk -v hashfile="$tmp/hash" -v allow_list="$allow" -v collected_at="$(date +%Y-%m-%dT%H:%M:%S%z)" \
  -f "$tmp/redact.awk" > "$tmp/out" || { echo "collector: redaction failed; nothing printed" >&2; exit 1; }
if [ -n "$output" ]; then cat "$tmp/out" > "$output"; else cat "$tmp/out"; fi
