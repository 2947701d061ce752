#!/usr/bin/env bash
# Creates .venv and installs provchain with the extras named in $PROVCHAIN_EXTRAS (default: all but docker).
# Says what it does and how long each step took; pip's own output goes to .venv/setup.log (shown in full
# if a step fails), so its harmless notices (setuptools' "Editable installation" box, pip's "Location ...
# is ignored" for package folders that do not exist on this machine) don't read like errors.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${PROVCHAIN_EXTRAS:-test,generator,c2pa}"
PY="${PYTHON:-python3}"
LOG=.venv/setup.log
T0=$(date +%s)

say() { echo "setup: $*"; }
# run DESCRIPTION COMMAND...: the command's output goes to the log; on failure the log is shown
run() {
  local what="$1" t=$(date +%s)
  shift
  echo "== $what" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    say "FAILED: $what. pip's output:"
    grep -v "is ignored: it is neither a file nor a directory" "$LOG" | tail -40 >&2
    exit 1
  fi
  say "  $what: done in $(( $(date +%s) - t )) s"
}

if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment .venv (a few seconds)"
  "$PY" -m venv .venv
fi
: >"$LOG"
if [ -x .venv/bin/provchain ]; then
  say "updating provchain and its dependencies in .venv [$EXTRAS] (about 20 s when nothing changed, 2-3 minutes when packages are added)"
else
  say "installing provchain and its dependencies in .venv [$EXTRAS]: PyAV, LevelDB, torch (CPU), c2pa ..."
  say "  (about 2 minutes the first time; pip's output goes to $LOG)"
fi
run "upgrading pip" .venv/bin/python -m pip install -q --upgrade pip
# torch==2.13.0 is pinned in the generator extra: it resolves to the CPU build on this machine's disk.
run "installing provchain[$EXTRAS]" .venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
# Node.js + npm (Debian packages when missing) and the cosmjs suite's npm packages, pinned by
# tests/js/package-lock.json: tests/integration/test_cosmjs.py runs stock @cosmjs/tendermint-rpc.
APT_UPDATED=""
apt_install() {  # apt_install PACKAGE...: Debian packages, as root or through sudo
  local sudo=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$APT_UPDATED" ]; then run "apt-get update" $sudo apt-get update -q; APT_UPDATED=1; fi
  run "apt-get install $*" $sudo apt-get install -y -q --no-install-recommends "$@"
}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "installing Node.js and npm from Debian (for the cosmjs client tests; about a minute)"
  apt_install nodejs npm
fi
# libfaketime: tests/integration/test_clock_skew.py runs one validator process with a wrong clock
if [ ! -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ]; then
  say "installing libfaketime from Debian (for the clock-skew test; seconds)"
  apt_install faketime
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  say "warning: node $(node --version) is older than 20.19, which @cosmjs/tendermint-rpc 0.39 needs (tests/integration/test_cosmjs.py will say so)"
fi
say "installing the cosmjs test client (npm ci in tests/js; seconds when cached)"
run "npm ci in tests/js" bash -c "cd tests/js && npm ci --no-audit --no-fund --loglevel=error"
say "ready in $(( $(date +%s) - T0 )) s: .venv/bin/provchain, .venv/bin/verify"
