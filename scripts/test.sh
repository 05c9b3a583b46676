#!/usr/bin/env bash
# Set up (including Debian's chromium for the browser tests), then run the whole test suite.
# Extra arguments go to pytest:  bash scripts/test.sh -k store -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --browser
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
exit "$status"
