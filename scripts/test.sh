#!/usr/bin/env bash
# Sets up everything the tests need, then runs the fast suites and the slow (real processes) suites.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/install-browser.sh   # Debian chromium for the explorer's browser tests
echo "== fast suites: unit, property, simulation"
.venv/bin/python -m pytest -q -m "not slow" "$@"
echo "== slow suites: real validator processes on 127.0.0.1, the explorer in headless Chromium"
.venv/bin/python -m pytest -q -m "slow and not docker" "$@"
echo "== docker compose devnet: image build, 4 validators + explorer + generator, checks"
.venv/bin/python -m pytest -q -m "docker" "$@"
