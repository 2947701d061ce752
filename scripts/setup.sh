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
# Node.js + npm (Debian packages when missing) and the cosmjs suite's npm packages, pinned by
# tests/js/package-lock.json: tests/integration/test_cosmjs.py runs stock @cosmjs/tendermint-rpc.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
