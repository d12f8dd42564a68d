#!/usr/bin/env bash
# Set up everything the test suite needs, then run all of it: `scripts/test.sh [pytest args]`.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test,hdf5,images,tensorboard,plot,lmdb,leveldb,mpi,onnx,jit source scripts/setup.sh

.venv/bin/ruff check protonet tests scripts
exec .venv/bin/python -m pytest "$@"
