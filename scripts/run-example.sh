#!/usr/bin/env bash
# The main job on a fresh Debian machine with the Swift toolchain: installs what is missing,
# builds sieve, compiles the bundled digits MLP with 2:4 sparsity (calibrated on the bundled
# calibration split) into a C library, links the C example against it and classifies the
# 500 held-out digits. Idempotent; a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "example: building sieve (release)"
swift build -c release --product sieve
sieve=$(swift build -c release --show-bin-path)/sieve
out=.build/example
models=Examples/models
mkdir -p "$out"

echo "example: the model"
"$sieve" inspect "$models/mlp.onnx" --input-shape input=1x64

echo "example: compiling with 2:4 sparsity (sparsegpt, calibrated on $models/mlp.calibration.npy)"
"$sieve" compile "$models/mlp.onnx" --input-shape input=1x64 --sparsity 2:4 --prune sparsegpt \
    --calibration "$models/mlp.calibration.npy" --eval "$models/mlp.eval.input.npy" \
    --name mlp -o "$out/mlp"
sed -n '1,40p' "$out/mlp/report.md"

echo "example: linking Examples/c/digits.c against $out/mlp/libmlp.a (flags from $out/mlp/mlp-static.pc)"
"${CC:-cc}" -O2 -Wall -Wextra $(PKG_CONFIG_PATH="$out/mlp" pkg-config --cflags mlp-static) Examples/c/digits.c \
    $(PKG_CONFIG_PATH="$out/mlp" pkg-config --static --libs mlp-static) -o "$out/digits"

echo "example: classifying the held-out digits"
"$out/digits" "$models/mlp.eval.input.npy" "$models/mlp.eval.labels.npy"
