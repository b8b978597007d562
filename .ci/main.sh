#!/usr/bin/env bash
# The main job: provision, show each shipped environment's Python, then replay every case in cases/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source .ci/setup.sh
for env in baseline acme-bullseye; do
  printf '%s: ' "$env"
  .venv/bin/reprokit env run "$env" -- python3 -c 'import platform; print("Python", platform.python_version())'
done
exec .venv/bin/reprokit replay --jobs 2 "$@"
