#!/usr/bin/env bash
# Set up everything the test suite needs, then run all of it: `scripts/test.sh [pytest args]`.
#   - Fashion-MNIST from Debian's dataset-fashion-mnist package (where root and apt exist)
#   - a virtual environment in .venv with protonet and its test extras
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; } \
    || echo "note: could not install dataset-fashion-mnist; tests that need it will skip"
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"

.venv/bin/ruff check protonet tests scripts
exec .venv/bin/python -m pytest "$@"
