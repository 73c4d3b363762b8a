#!/usr/bin/env bash
# Runs every benchmark of bench/: builds the harness, makes the models if missing, alternates the C
# harness (read probe, OpenBLAS, Sieve artifacts) and the ONNX Runtime peer for a few rounds, prints one table.
#
# Usage: bench/run.sh [--rounds N] [--reps N] [--calls N] [--threads LIST] [--batch LIST] [--mode LIST]
#                     [--sieve LIB:NAME[:LABEL[:WEIGHTS]]]... [--stand-in] [--model MODEL.onnx]
#                     [--ort-kinds dense,2of4[,dense-int8,2of4-int8]] [--input-shape NAME=AxB]... [--markdown]
#                     [--evict-on all|caller]
#   --sieve     adds a compiled Sieve artifact (repeatable; see bench/README.md)
#   --model     end to end instead of the single layer: ONNX Runtime on MODEL.onnx against the --sieve
#               artifacts compiled from it (no OpenBLAS rows)
#   --stand-in  adds bench/stand-in-artifact.c (a plain dense loop behind the artifact API) to check the
#               --sieve path end to end; it is not Sieve and its figures mean nothing
#   --input-shape  with --model: an input's whole shape for ONNX Runtime (give the artifacts the same one)
#   --evict-on  where a cold call's 64 MiB eviction read runs: all = on the caller and, at 2+ threads, at once on
#               every other CPU, a pinned thread each (default); caller = the calling thread only (bench/README.md)
# Every process's output goes to bench/build/last-run.txt; the table is computed from all rounds.
set -euo pipefail
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")"
PYTHON=${PYTHON:-/work/main/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=../.venv/bin/python
command="bench/run.sh $*"
rounds=3 reps=3 calls=10 threads=1,2 batch=1,32 mode=cold,hot markdown=""
sieve=() stand_in=0 model="" ort_kinds=dense,2of4 input_shapes=() evict_on=all
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --calls) calls=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --mode) mode=$2; shift 2 ;;
        --sieve) sieve+=(--sieve "$2"); shift 2 ;;
        --stand-in) stand_in=1; shift ;;
        --model) model=$2; shift 2 ;;
        --ort-kinds) ort_kinds=$2; shift 2 ;;
        --input-shape) input_shapes+=(--input-shape "$2"); shift 2 ;;
        --markdown) markdown=--markdown; shift ;;
        --evict-on) evict_on=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$script"; exit 0 ;;
        *) echo "run.sh: error: unknown option '$1' (see --help)" >&2; exit 1 ;;
    esac
done

case "$evict_on" in all|caller) ;; *) echo "run.sh: error: --evict-on takes all or caller, got '$evict_on'" >&2; exit 1 ;; esac
case "$model" in ""|/*) ;; *) model="$OLDPWD/$model" ;; esac  # relative to where run.sh was started
[ -z "$model" ] || [ -f "$model" ] || { echo "run.sh: error: no model at $model" >&2; exit 1; }
load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if awk "BEGIN { exit !($load > 1.0) }"; then
    echo "run.sh: warning: load average $load before starting: other processes share the cores and will skew the figures" >&2
fi
bash build.sh
if [ -z "$model" ] && { [ ! -f models/matmul_4096_2of4.weights.f32 ] || [ ! -f models/matmul_4096_b32_2of4-int8.onnx ]; }; then
    "$PYTHON" make_models.py
fi
if [ "$stand_in" = 1 ]; then
    ${CC:-cc} -O3 -march=native -Wall -Wextra -Werror -fPIC -shared \
        -DSTANDIN_WEIGHTS="\"$PWD/models/matmul_4096_dense.weights.f32\"" stand-in-artifact.c -o build/libstandin.so
    sieve+=(--sieve "build/libstandin.so:standin:stand-in (not Sieve):models/matmul_4096_dense.weights.f32")
fi

log=build/last-run.txt
common=(--threads "$threads" --batch "$batch" --mode "$mode" --reps "$reps" --calls "$calls" --evict-on "$evict_on" --raw)
{
    echo "# command: $command"
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
    echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-(unset)}"
} > "$log"
for round in $(seq 1 "$rounds"); do
    echo "run.sh: round $round of $rounds" >&2
    status=0
    if [ -z "$model" ]; then
        ./build/harness "${common[@]}" ${sieve[@]+"${sieve[@]}"} >> "$log" || status=$?
    else
        ./build/harness "${common[@]}" --no-blas ${sieve[@]+"${sieve[@]}"} >> "$log" || status=$?
    fi
    if [ "$status" != 0 ] && [ "$status" != 2 ]; then
        echo "run.sh: error: the harness failed (status $status); see $log" >&2; exit 1
    fi
    if [ -z "$model" ]; then
        "$PYTHON" ort_bench.py "${common[@]}" --kinds "$ort_kinds" >> "$log"
    else
        "$PYTHON" ort_model.py "$model" "${common[@]}" ${input_shapes[@]+"${input_shapes[@]}"} >> "$log"
    fi
done
grep '^#' "$log" | awk '!seen[$0]++' 
"$PYTHON" summarize.py "$log" $markdown
