#!/usr/bin/env bash
# Shared set-up of demo.sh and test.sh (sourced from the repository root):
#   - Fashion-MNIST from Debian's dataset-fashion-mnist package, where root and apt exist
#     (elsewhere `protonet data get` downloads it and checks its sha256);
#   - a virtual environment in .venv with protonet installed, with the extras in $EXTRAS.
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; } \
    || echo "note: could not install dataset-fashion-mnist; it will be downloaded where needed"
fi

[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".${EXTRAS:+[$EXTRAS]}"
