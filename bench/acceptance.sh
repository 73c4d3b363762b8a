#!/usr/bin/env bash
# Re-measures the speed acceptance lines of the open issues in one go, on whatever CPU this is: compiles the
# artifacts with a release `sieve` and times each against its baselines with bench/run.sh (cold weights,
# contenders alternating, medians). Two-thread figures of whole models are taken with one Sieve artifact per run:
# several artifacts' thread pools in one process disturb each other's two-thread samples.
#
# Usage: bench/acceptance.sh [OUT_DIR] [SECTION…]   (default OUT_DIR /tmp/sieve-acceptance; all sections)
#   sections: layer (4096x4096 f32: dense, 2:4, 2:4 via LLVM; batch 1 and 32), int8 (the same layer int8),
#             encoder (the 6-layer MiniLM-shaped encoder: dense, 2:4, 2:4 via LLVM, 2:4 + int8), compile
#             (encoder compile time, C and LLVM), cnn (Examples/models/cnn.onnx and PP-OCRv4 rec, dense)
#   SIEVE=path/to/sieve (default: a release build in .build-rel, brought up to date first); ROUNDS (default 3)
# An artifact already in OUT_DIR is reused only when it is newer than that sieve (and its model), so a re-run after
# a change measures the change.
# Needs scripts/setup-python.sh (.venv) and, for `cnn`, scripts/setup-models.sh (the OCR model).
# Prints each run's Markdown table under a heading naming the CPU and the load, with the harness's CPU 0 <-> CPU 1
# round trips (the host's placement of the two virtual CPUs: bench/README.md); nothing is written to RESULTS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/sieve-acceptance}
[ $# -gt 0 ] && shift
sections=("$@"); [ ${#sections[@]} -gt 0 ] || sections=(layer int8 encoder compile cnn)
rounds=${ROUNDS:-3}
python=$root/.venv/bin/python
[ -x "$python" ] || { echo "acceptance.sh: error: no $python; run scripts/setup-python.sh first" >&2; exit 1; }
sieve=${SIEVE:-$root/.build-rel/release/sieve}
if [ -z "${SIEVE:-}" ]; then
    (cd "$root" && swift build -c release --product sieve --scratch-path .build-rel >&2)
fi
[ -x "$sieve" ] || { echo "acceptance.sh: error: no sieve at $sieve" >&2; exit 1; }
models=$root/bench/models
mkdir -p "$out"

cpu() { grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'; }
features() { if grep -q avx512f /proc/cpuinfo; then echo "AVX-512"; else echo "AVX2 only"; fi; }
echo "# Acceptance figures, $(date -u '+%Y-%m-%d %H:%M UTC'): $(cpu) ($(features)), $(nproc) cores"

run() {  # run TITLE ARGS… : one bench/run.sh, its table under a heading with the load
    local title=$1; shift
    echo
    echo "## $title (load $(cut -d' ' -f1-3 /proc/loadavg))"
    local log; log=$(mktemp)
    if ! PYTHON=$python bash "$root/bench/run.sh" --rounds "$rounds" --reps 3 --calls 5 --mode cold --markdown "$@" >"$log" 2>&1; then
        echo "acceptance.sh: error: bench/run.sh failed for '$title'; its last lines:" >&2
        tail -n 20 "$log" >&2; rm -f "$log"; exit 1
    fi
    awk '/^# CPU 0 <-> CPU 1/ { print "- " substr($0, 3) } /^\| contender/ { table = 1 } table && /^\|/ { print } table && !/^\|/ { table = 0 }' "$log"
    rm -f "$log"
}

compile() {  # compile MODEL DIR NAME [FLAGS…], once per DIR and sieve binary
    local model=$1 dir=$2 name=$3; shift 3
    if [ -f "$dir/lib$name.so" ] && [ "$dir/lib$name.so" -nt "$sieve" ] && [ "$dir/lib$name.so" -nt "$model" ]; then return; fi
    "$sieve" compile "$model" "$@" -o "$dir" --name "$name" >&2
}

layer_models() {
    [ -f "$models/matmul_4096_b32_2of4-int8.onnx" ] || "$python" "$root/bench/make_models.py" --batches 1,32 --out "$models" >&2
}

for section in "${sections[@]}"; do
    case $section in
    layer)
        layer_models
        for b in 1 32; do
            compile "$models/matmul_4096_b${b}_2of4.onnx" "$out/b$b-2of4" mm --sparsity 2:4
            compile "$models/matmul_4096_b${b}_2of4.onnx" "$out/b$b-2of4-llvm" mm --sparsity 2:4 --backend llvm
            compile "$models/matmul_4096_b${b}_dense.onnx" "$out/b$b-dense" mm
            run "4096x4096 f32, batch $b" --batch "$b" --threads 1,2 \
                --sieve "$out/b$b-2of4/libmm.so:mm:sieve-2of4:$models/matmul_4096_2of4.weights.f32" \
                --sieve "$out/b$b-2of4-llvm/libmm.so:mm:sieve-2of4-llvm:$models/matmul_4096_2of4.weights.f32" \
                --sieve "$out/b$b-dense/libmm.so:mm:sieve-dense:$models/matmul_4096_dense.weights.f32"
        done ;;
    int8)
        layer_models
        for b in 1 32; do
            compile "$models/matmul_4096_b${b}_2of4.onnx" "$out/b$b-2of4-int8" mm --sparsity 2:4 --quantize int8
            compile "$models/matmul_4096_b${b}_dense.onnx" "$out/b$b-dense-int8" mm --quantize int8
            for threads in 1 2; do
                run "4096x4096 int8, batch $b, $threads thread(s)" --batch "$b" --threads "$threads" \
                    --ort-kinds dense,dense-int8,2of4-int8 \
                    --sieve "$out/b$b-2of4-int8/libmm.so:mm:sieve-2of4-int8" \
                    --sieve "$out/b$b-dense-int8/libmm.so:mm:sieve-dense-int8"
            done
        done ;;
    encoder)
        encoder=$out/minilm_l6.onnx
        [ -f "$encoder" ] || "$python" "$root/bench/make_compile_models.py" --out "$out" >&2
        compile "$encoder" "$out/enc-dense" enc
        compile "$encoder" "$out/enc-2of4" enc --sparsity 2:4
        compile "$encoder" "$out/enc-2of4-llvm" enc --sparsity 2:4 --backend llvm
        compile "$encoder" "$out/enc-2of4-int8" enc --sparsity 2:4 --quantize int8
        run "encoder, 1 thread, all artifacts" --model "$encoder" --threads 1 \
            --sieve "$out/enc-dense/libenc.so:enc:sieve-dense" --sieve "$out/enc-2of4/libenc.so:enc:sieve-2of4" \
            --sieve "$out/enc-2of4-llvm/libenc.so:enc:sieve-2of4-llvm" \
            --sieve "$out/enc-2of4-int8/libenc.so:enc:sieve-2of4-int8"
        for artifact in dense 2of4 2of4-llvm 2of4-int8; do
            run "encoder, 2 threads, sieve-$artifact alone" --model "$encoder" --threads 2 \
                --sieve "$out/enc-$artifact/libenc.so:enc:sieve-$artifact"
        done ;;
    compile)
        encoder=$out/minilm_l6.onnx
        [ -f "$encoder" ] || "$python" "$root/bench/make_compile_models.py" --out "$out" >&2
        echo
        echo "## encoder compile time, wall seconds, alternating (load $(cut -d' ' -f1-3 /proc/loadavg))"
        echo "| round | C backend | LLVM backend |"
        echo "| ---: | ---: | ---: |"
        for round in $(seq "$rounds"); do
            times=()
            for backend in c llvm; do
                rm -rf "$out/compile-$backend"
                start=$(date +%s%N)
                if ! "$sieve" compile "$encoder" --backend "$backend" -o "$out/compile-$backend" --name enc >/dev/null 2>"$out/compile.err"; then
                    echo "acceptance.sh: error: compiling the encoder with --backend $backend failed:" >&2
                    cat "$out/compile.err" >&2; exit 1
                fi
                times+=("$(( ($(date +%s%N) - start) / 10000000 ))")
            done
            printf '| %s | %d.%02d | %d.%02d |\n' "$round" $((times[0] / 100)) $((times[0] % 100)) $((times[1] / 100)) $((times[1] % 100))
        done ;;
    cnn)
        compile "$root/Examples/models/cnn.onnx" "$out/cnn" cnn
        rec=$(find "$root/.cache/models" -name ch_PP-OCRv4_rec_infer.onnx 2>/dev/null | head -1)
        run "Examples/models/cnn.onnx, dense" --model "$root/Examples/models/cnn.onnx" --threads 1,2 \
            --sieve "$out/cnn/libcnn.so:cnn:sieve-dense"
        if [ -n "$rec" ]; then
            compile "$rec" "$out/rec" rec --input-shape x=1x3x48x320
            run "PP-OCRv4 rec, dense" --model "$rec" --input-shape x=1x3x48x320 --threads 1,2 \
                --sieve "$out/rec/librec.so:rec:sieve-dense"
        else
            echo "acceptance.sh: no PP-OCRv4 rec model under .cache/models (scripts/setup-models.sh); skipped" >&2
        fi ;;
    *) echo "acceptance.sh: error: unknown section '$section' (layer, int8, encoder, compile, cnn)" >&2; exit 1 ;;
    esac
done
