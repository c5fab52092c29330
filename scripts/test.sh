#!/usr/bin/env bash
# One command for the tests: set up (Python packages + chromium + mosquitto), then run the whole suite.
#   scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --system

DATA="$(cd .. && pwd)/shared/data"
if [ ! -d "$DATA" ]; then
  echo "test: ERROR: the reference data is missing: expected $DATA (shared/ beside this checkout)." >&2
  echo "test: the formation/cycling tests read real files from there; clone with shared/ beside the project." >&2
  exit 1
fi

mkdir -p artifacts
export PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest "$@"
