#!/usr/bin/env bash
# Installs Debian's Chromium (and its driver) for the browser tests; Playwright drives it through
# executable_path=/usr/bin/chromium because Playwright's own browser download cannot be reached.
# Also makes sure the Playwright Python package is in the venv. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core
fi
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import playwright" 2>/dev/null; then
  .venv/bin/python -m pip install -q "playwright>=1.40"
fi
/usr/bin/chromium --version || true
