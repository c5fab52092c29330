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
# One worker more than cores (3 on 2 cores, at most 4; TEST_WORKERS=N to choose, 0 for none): many tests
# wait on servers, browsers, kernels and real-time trial windows, so a third worker fills the idle time
# (measured on 2 cores: 559 s with 3 workers, 619 s with 2). A file's tests stay on one worker, and the
# files that serve pages to Chromium run one after the other (tests/conftest.py).
CORES="$(nproc 2>/dev/null || echo 2)"
WORKERS="${TEST_WORKERS:-$(( CORES + 1 < 4 ? CORES + 1 : 4 ))}"
exec .venv/bin/python -m pytest -n "$WORKERS" --dist loadgroup "$@"
