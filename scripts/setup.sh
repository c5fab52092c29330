#!/usr/bin/env bash
# Set up Line Workbench in ./.venv with the versions CI tested (constraints.txt).
#   scripts/setup.sh            Python packages only (enough for the demo and notebooks)
#   scripts/setup.sh --system   also the Debian packages the tests drive: chromium, mosquitto, mdbtools (Arbin .res)
# Safe to run again: it only reinstalls when pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
  # apt_install PKG... : install Debian packages when root, else tell the user how.
  if ! is_root; then
    die "missing Debian package(s): $*. Install them as root: sudo apt-get install -y $*"
  fi
  command -v apt-get >/dev/null || die "missing $*, and this is not a Debian/Ubuntu system with apt-get; install them by hand"
  say "installing Debian package(s): $*"
  if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null; }; then
    die "apt-get could not install: $*. Check the network/apt sources and run: apt-get install -y $*"
  fi
}

WANT_SYSTEM=0
for arg in "$@"; do
  case "$arg" in
    --system) WANT_SYSTEM=1 ;;
    *) die "unknown option $arg (use --system)" ;;
  esac
done

# 1. Python 3.11+
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PY="$cand"; break
    fi
  done
fi
[ -n "$PY" ] || die "Python 3.11 or newer is required (found: $(python3 --version 2>&1 || echo none)). Install it: apt-get install -y python3 python3-venv"

# 2. The virtual environment
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
  fi
  say "creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv || die "could not create .venv with $PY (on Debian: apt-get install -y python3-venv)"
fi

# 3. Python packages, pinned by constraints.txt
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "installing Python packages (pinned by constraints.txt); the first time takes a few minutes"
  # (the filter hides one machine's harmless notes about local package mirrors)
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test,bench,biologic]" \
      2> >(grep -v "^WARNING: Location 'file:" >&2) \
    || die "pip could not install the packages; see the messages above (network? a proxy needs HTTPS_PROXY)"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# 4. Debian packages the tests drive (real browser, real MQTT broker)
if [ "$WANT_SYSTEM" = 1 ]; then
  missing=()
  command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
  command -v mdb-export >/dev/null || missing+=(mdbtools)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
  [ -x /usr/bin/chromium ] || die "Debian's chromium is not at /usr/bin/chromium after install"
  [ -x /usr/sbin/mosquitto ] || die "mosquitto is not at /usr/sbin/mosquitto after install"
  command -v mdb-export >/dev/null || die "mdbtools' mdb-export is not on PATH after install"
  # the broker the tests start is their own; keep the packaged service from holding port 1883
  if is_root && command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then
    systemctl stop mosquitto || true
  fi
fi
# 5. the analyses' numba kernels, compiled once into numba's cache (workbench/jit_warm.py, 20-30 s; ~1 s when
#    the cache is there): otherwise the first notebook cell or dashboard page of a fresh checkout waits for it
.venv/bin/python -m workbench.jit_warm || die "compiling the numba kernels failed; see the messages above"
say "ready: .venv ($(.venv/bin/python --version))"
