#!/usr/bin/env bash
# Provision this machine for reprokit, idempotently: Docker engine, debootstrap, docker-registry, the apt cache for
# builds (apt-cacher-ng), the three Debian base images, arm64 emulation (qemu-user-static + binfmt_misc) with an
# arm64 bookworm base, and the project's virtualenv. On a fresh Debian machine (as root) it installs everything
# (the arm64 base takes 2-5 min); when all is there already it takes a few seconds. Sourced by .ci/test.sh and
# .ci/main.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v chromium >/dev/null || missing+=(chromium)  # renders HTML reports in tests/integration
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)  # arm64 environments, emulated
command -v update-binfmts >/dev/null || missing+=(binfmt-support)
command -v podman >/dev/null || missing+=(podman catatonit)  # tests/integration/test_podman_engine.py (README: Podman)
command -v docker-compose >/dev/null || missing+=(docker-compose)  # checks `reprokit env export --compose`
# A registry the integration tests start on 127.0.0.1 to share images between two engines (not a service here).
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
[ -x /usr/sbin/apt-cacher-ng ] || missing+=(apt-cacher-ng)  # the apt cache of builds (README: Package caches)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The devcontainer CLI reads `reprokit env export --devcontainer` folders in tests/integration/test_env_export.py.
if ! command -v devcontainer >/dev/null && command -v npm >/dev/null; then
  npm install -g --silent @devcontainers/cli >/dev/null 2>&1 || echo "setup: npm could not install @devcontainers/cli"
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd (log: /var/log/reprokit-dockerd.log)"
  nohup dockerd >/var/log/reprokit-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 /var/log/reprokit-dockerd.log; echo "setup: dockerd did not start"; exit 1; }
fi

if [ ! -x .venv/bin/reprokit ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "setup: creating .venv and installing reprokit"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  touch .venv/.installed
fi

# Builds fetch Debian packages through apt-cacher-ng on 127.0.0.1:3142 (reprokit/image/caches.py): bound to
# loopback only, its Debian backend the host's own mirror (the package's default backend answered 503 here), started
# by its init script (no systemd here). A config already right and a cache already answering cost nothing.
acng=/etc/apt-cacher-ng
mirror="$(.venv/bin/python -c 'from reprokit.image.base import host_mirrors; print(host_mirrors()[0])')/"
if ! grep -qx 'BindAddress: 127.0.0.1' $acng/acng.conf \
    || [ "$(cat $acng/backends_debian 2>/dev/null)" != "$mirror" ]; then
  echo "setup: apt-cacher-ng on 127.0.0.1:3142, backend $mirror"
  sed -i '/^BindAddress:/d' $acng/acng.conf && echo 'BindAddress: 127.0.0.1' >>$acng/acng.conf
  echo "$mirror" >$acng/backends_debian
  /etc/init.d/apt-cacher-ng stop >/dev/null 2>&1 || true
fi
(exec 3<>/dev/tcp/127.0.0.1/3142) 2>/dev/null || /etc/init.d/apt-cacher-ng start >/dev/null \
  || echo "setup: apt-cacher-ng did not start; builds download directly (see reprokit doctor)"

.venv/bin/reprokit images bootstrap debian:bullseye debian:bookworm debian:trixie
# Mounts binfmt_misc and registers qemu-aarch64 with the F flag when they are not (a reboot drops both; a
# /proc read when they are), then makes arm64v8/debian:bookworm once (for cases/SUP-5231 and
# tests/integration/test_arch.py).
.venv/bin/reprokit images bootstrap debian:bookworm --arch arm64
