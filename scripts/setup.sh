#!/usr/bin/env bash
# Install handful and the offline pretrained weights into the project's own virtual environment, .venv/.
# Needs only Python >= 3.11 with venv (on Debian/Ubuntu: apt-get install python3-venv) and pip's registry.
# Usage: bash scripts/setup.sh        (the tool: about 3-8 minutes the first time, mostly downloads)
#        bash scripts/setup.sh dev    (plus test and lint tools and, as root, Chromium for the browser tests)
# Then run .venv/bin/handful (or `source .venv/bin/activate` once, and plain `handful`).
set -euo pipefail
cd "$(dirname "$0")/.."

python_cmd=""
for candidate in python3.13 python3.12 python3.11 python3 python; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python_cmd="$candidate"; break
  fi
done
if [ -z "$python_cmd" ]; then
  echo "error: handful needs Python 3.11 or newer (python3 --version); install it and run this again" >&2
  exit 1
fi

# A virtual environment of the project's own: a stock Debian Python refuses pip installs into the system
# ("externally managed environment"), and nothing here should touch the user's other Python packages.
if [ ! -x .venv/bin/python ]; then
  if ! "$python_cmd" -m venv .venv; then
    rm -rf .venv
    echo "error: could not create a virtual environment with $python_cmd -m venv." >&2
    echo "       On Debian/Ubuntu: sudo apt-get install python3-venv, then run this again." >&2
    exit 1
  fi
fi
py=.venv/bin/python
"$py" -m pip install -q --upgrade "pip>=23" >/dev/null 2>&1 || true

# The CPU build of torch first: an unpinned torch requirement would pull several GB of CUDA packages.
# A local CPU wheel (pip's configured find-links) is used where there is one; then PyTorch's CPU index;
# only then the registry's default build, with a warning.
if ! "$py" -m pip install -q --no-index "torch==2.13.0" 2>/dev/null; then
  if ! "$py" -m pip install -q --timeout 30 --retries 1 --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0+cpu" 2>/dev/null; then
    echo "warning: no CPU-only build of torch 2.13.0 found; installing the registry's default build" >&2
    "$py" -m pip install -q "torch==2.13.0"
  fi
fi
extra=""
[ "${1:-}" = "dev" ] && extra="[dev]"
"$py" -m pip install -q -e ".${extra}"
# These two pin ancient numpy/librosa in their metadata but run fine with current ones: install without deps
# (what they really import is in pyproject's dependencies).
"$py" -m pip install -q --no-deps "aisfx==0.1.2" "Resemblyzer==0.1.4"
if [ "${1:-}" = "dev" ] && ! command -v chromium >/dev/null; then
  # Headless Chromium renders the HTML report in the integration tests (Debian's package; needs root).
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "note: install chromium (e.g. sudo apt-get install chromium) to run the report's browser test" >&2
  fi
fi
echo "handful is installed in .venv: run .venv/bin/handful, or 'source .venv/bin/activate' and then handful"
