#!/usr/bin/env bash
# Creates .venv and installs provchain with the extras named in $PROVCHAIN_EXTRAS (default: all but docker).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${PROVCHAIN_EXTRAS:-test,generator,c2pa}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch==2.13.0 is pinned in the generator extra: it resolves to the CPU build on this machine's disk.
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
