#!/usr/bin/env bash
# The main job: provision, then build the baseline and a customer environment and run a command in each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source .ci/setup.sh
for env in baseline acme-bullseye; do
  echo "== $env"
  .venv/bin/reprokit env run "$env" -- python3 -c 'import platform; print("Python", platform.python_version())'
done
