#!/usr/bin/env bash
# One command for the demo: set up, then serve the virtual line's live dashboard.
#   scripts/demo.sh [--port 5006] [--speed 10] ...   (arguments go to `workbench demo`)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/workbench demo "$@"
