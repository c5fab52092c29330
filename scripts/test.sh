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
# Two workers on 2 cores (at most 4 on bigger machines; TEST_WORKERS=N to choose, 0 for none): half the
# tests wait on servers, browsers and kernels. A file's tests stay on one worker (tests/conftest.py).
CORES="$(nproc 2>/dev/null || echo 2)"
WORKERS="${TEST_WORKERS:-$(( CORES < 4 ? (CORES < 2 ? 2 : CORES) : 4 ))}"
exec .venv/bin/python -m pytest -n "$WORKERS" --dist loadgroup "$@"
