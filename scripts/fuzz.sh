#!/usr/bin/env bash
# A long fuzzing campaign (docs/reliability.md): mutants of .onnx, .sir, .kir and .npy files run under an
# address-space limit and a timeout, checked against onnx's checker and sampled through the sieve command line,
# then random graphs compiled for every runnable target and compared with the interpreter. Runs at low priority.
# Prints both summaries (cases per format, crashes, hangs, checker disagreements, graph mismatches); exits 1 when
# anything was found. Failing mutants are written to --findings (default .build/fuzz-findings).
#
# Usage: scripts/fuzz.sh [--mutants N] [--graphs N] [--seed S] [--graph-seed S] [--timeout SECONDS]
#                        [--memory-mib MIB] [--cli-every N] [--batch N] [--threads 1,2,3,4] [--findings DIR]
#   --mutants N      mutants per format (default 25000, so 100000 in all)
#   --graphs N       random graphs (default 10000; 0 to skip)
#   --seed S         mutant campaign seed (default 1); a finding names its seed and case index
#   --graph-seed S   first random graph's seed (default 0)
set -euo pipefail
cd "$(dirname "$0")/.."

mutants=25000 graphs=10000 seed=1 graph_seed=0 timeout=10 memory=4096 cli_every=100 batch=40 threads=1,2,3,4
findings=.build/fuzz-findings
while (($#)); do
    case "$1" in
        --mutants) mutants=$2 ;;
        --graphs) graphs=$2 ;;
        --seed) seed=$2 ;;
        --graph-seed) graph_seed=$2 ;;
        --timeout) timeout=$2 ;;
        --memory-mib) memory=$2 ;;
        --cli-every) cli_every=$2 ;;
        --batch) batch=$2 ;;
        --threads) threads=$2 ;;
        --findings) findings=$2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "fuzz: unknown option '$1' (see --help)" >&2; exit 1 ;;
    esac
    shift 2
done

echo "fuzz: building sieve and sieve-fuzz (debug)"
swift build --product sieve >/dev/null
swift build --product sieve-fuzz >/dev/null
bin=$(swift build --show-bin-path)
echo "fuzz: $(grep -m1 "model name" /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"

status=0
if ((mutants > 0)); then
    nice -n 19 "$bin/sieve-fuzz" mutants --count "$mutants" --seed "$seed" --timeout "$timeout" --memory-mib "$memory" \
        --cli-every "$cli_every" --findings "$findings" --repository "$PWD" || status=1
fi
if ((graphs > 0)); then
    nice -n 19 "$bin/sieve-fuzz" graphs --count "$graphs" --seed "$graph_seed" --batch "$batch" --threads "$threads" || status=1
fi
exit "$status"
