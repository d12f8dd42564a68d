#!/usr/bin/env bash
# The main job, from nothing: set up, get Fashion-MNIST, train LeNet, test it on the full
# 10,000-image test set, and save it to the model zoo as zoo/lenet-fashion.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS=jit source scripts/setup.sh
protonet=.venv/bin/protonet

start=$(date +%s)
$protonet data get fashion-mnist
$protonet train --solver configs/lenet/solver.yaml --no-progress
weights=$(ls -t runs/lenet/lenet_iter_*.caffemodel | head -n 1)
$protonet test --model configs/lenet/train_val.yaml --weights "$weights"
$protonet deploy --model configs/lenet/train_val.yaml --weights "$weights" --name lenet-fashion \
  --description "LeNet (Caffe's MNIST recipe) trained on Fashion-MNIST by scripts/demo.sh"
echo "demo finished in $(( $(date +%s) - start )) s"
