#!/usr/bin/env bash
# The test command: provision (see setup.sh), then the unit and integration tests, then replay cases/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source .ci/setup.sh
.venv/bin/python -m pytest tests cases "$@"
