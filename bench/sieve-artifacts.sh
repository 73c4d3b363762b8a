#!/usr/bin/env bash
# Compiles the batch-1 single-layer models (2:4 and dense) with Sieve for each named target and prints the
# matching `--sieve` arguments of run.sh / harness, labelled by target (sieve-2of4-v3, sieve-dense-v4, …), so
# that the AVX2 kernels (x86-64-v3) can be timed beside the AVX-512 ones on the same machine.
#
# Usage: bench/sieve-artifacts.sh OUT_DIR [TARGET…]   (default targets: x86-64-v3 x86-64-v4)
#   SIEVE=path/to/sieve (default: the release build in .build-release); BATCH=1 (or 32)
#   bench/run.sh --batch 1 $(bench/sieve-artifacts.sh /tmp/sieve-bench)
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,9p' "$0" >&2; exit 1; }
out=$1; shift
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(x86-64-v3 x86-64-v4)
root=$(cd "$(dirname "$0")/.." && pwd)
sieve=${SIEVE:-$root/.build-release/release/sieve}
batch=${BATCH:-1}
models=$root/bench/models
[ -x "$sieve" ] || { echo "sieve-artifacts.sh: error: no sieve at $sieve (swift build -c release --scratch-path .build-release)" >&2; exit 1; }
[ -f "$models/matmul_4096_b${batch}_2of4.onnx" ] || { echo "sieve-artifacts.sh: error: run bench/make_models.py first" >&2; exit 1; }
mkdir -p "$out"
for target in "${targets[@]}"; do
    short=${target##*-}   # v3, v4, x86-64 stays x86-64
    "$sieve" compile "$models/matmul_4096_b${batch}_2of4.onnx" --sparsity 2:4 --target "$target" \
        -o "$out/b$batch-2of4-$target" --name mm >&2
    "$sieve" compile "$models/matmul_4096_b${batch}_dense.onnx" --target "$target" -o "$out/b$batch-dense-$target" --name mm >&2
    printf -- '--sieve %s ' "$out/b$batch-2of4-$target/libmm.so:mm:sieve-2of4-$short:$models/matmul_4096_2of4.weights.f32"
    printf -- '--sieve %s ' "$out/b$batch-dense-$target/libmm.so:mm:sieve-dense-$short:$models/matmul_4096_dense.weights.f32"
done
echo
