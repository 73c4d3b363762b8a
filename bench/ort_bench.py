# ONNX Runtime peer for bench/: times the single-layer MatMul models from make_models.py with the same
# protocol as the C harness (cold = a 64 MiB read between calls, hot = same weights every call).
"""Usage: /work/main/.venv/bin/python bench/ort_bench.py [options]

Times ONNX Runtime's CPU MatMul on bench/models/matmul_SIZE_bBATCH_{dense,2of4}.onnx for each thread
count, batch and mode. Per thread count one session per model is created (intra-op threads = the
count, sequential execution); contenders alternate within every repetition with a pause before each,
because ORT's pool keeps spinning about 0.1 s after a call. Each session's output is checked against
numpy (float64) once before timing. Prints 'RESULT label batch threads mode median_seconds GB/s' lines
like bench/build/harness, optionally every sample ('SAMPLE ...', --raw), then a table.
"""

import argparse
import os
import statistics
import sys

import numpy as np
import onnxruntime as ort

import ort_common


def parse_list(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v]
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got '{text}'")
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--models", default=os.path.join(here, "models"))
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--threads", type=parse_list, default=[1, 2])
    parser.add_argument("--batch", type=parse_list, default=[1, 32])
    parser.add_argument("--mode", default="cold,hot")
    parser.add_argument("--kinds", default="dense,2of4",
                        help="which models to time: dense, 2of4, dense-int8, 2of4-int8")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--pause-ms", type=int, default=200)
    parser.add_argument("--evict-mib", type=int, default=64)
    parser.add_argument("--evict-on", choices=["all", "caller"], default="all",
                        help="where the cold eviction reads: every CPU of the process (default) or the caller only")
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    modes = args.mode.split(",")
    if any(m not in ("cold", "hot") for m in modes):
        parser.error(f"--mode takes cold and/or hot, got '{args.mode}'")
    kinds = args.kinds.split(",")

    print(f"# onnxruntime {ort.__version__}, providers {ort.get_available_providers()}")
    evict = ort_common.Eviction(args.evict_mib, args.evict_on)
    print(f"# layer {args.size}x{args.size} f32, {args.reps} repetitions x {args.calls} calls, "
          f"cold = {evict.describe()} between calls, pause {args.pause_ms} ms")
    sys.stdout.flush()
    rng = np.random.default_rng(7)
    results = []
    for threads in args.threads:
        for batch in args.batch:
            contenders = []
            keep_alive = []
            for kind in kinds:
                path = os.path.join(args.models, f"matmul_{args.size}_b{batch}_{kind}.onnx")
                if not os.path.exists(path):
                    print(f"ort_bench: error: {path} is missing; run bench/make_models.py first", file=sys.stderr)
                    return 1
                session = ort_common.session(path, threads)
                x = rng.uniform(-1, 1, size=(batch, args.size)).astype(np.float32)
                y = np.empty((batch, args.size), dtype=np.float32)
                # Inputs and outputs bound once to numpy memory, so a call times ORT and not allocation.
                x_value = ort.OrtValue.ortvalue_from_numpy(x)
                y_value = ort.OrtValue.ortvalue_from_numpy(y)
                binding = session.io_binding()
                binding.bind_ortvalue_input("x", x_value)
                binding.bind_ortvalue_output("y", y_value)
                session.run_with_iobinding(binding)
                base = kind.removesuffix("-int8")
                weights = np.fromfile(os.path.join(args.models, f"matmul_{args.size}_{base}.weights.f32"),
                                      dtype="<f4").reshape(args.size, args.size)
                expected = x.astype(np.float64) @ weights.astype(np.float64)
                worst = float(np.max(np.abs(y - expected)))
                # int8 dynamic quantization is lossy (about 0.5% of the largest output on these layers).
                tolerance = 2e-2 if kind.endswith("-int8") else 1e-4
                if not worst <= tolerance * float(np.max(np.abs(expected))):
                    print(f"ort_bench: error: {path}: output differs from numpy by {worst}", file=sys.stderr)
                    return 1
                del weights, expected
                label = f"ort-int8-{base}" if kind.endswith("-int8") else f"ort-fp32-{kind}"
                contenders.append((label, session, binding))
                keep_alive.append((x, y, x_value, y_value))
            for mode in modes:
                samples = {label: [] for label, _, _ in contenders}
                for _ in range(args.reps):
                    for label, session, binding in contenders:
                        timed = ort_common.time_calls(session, binding, mode, args.calls, args.pause_ms, evict, threads)
                        samples[label] += timed
                        if args.raw:
                            for elapsed in timed:
                                print(f"SAMPLE\t{label}\t{batch}\t{threads}\t{mode}\t{elapsed:.9f}")
                for label, values in samples.items():
                    results.append((label, batch, threads, mode, values))
            del contenders
    def weight_bytes_of(label: str) -> int:
        """Bytes of the weights a call streams: int8 models hold one byte per weight."""
        return args.size * args.size * (1 if label.startswith("ort-int8") else 4)

    for label, batch, threads, mode, values in results:
        middle = statistics.median(values)
        weight_bytes = weight_bytes_of(label)
        print(f"RESULT\t{label}\t{batch}\t{threads}\t{mode}\t{middle:.6f}\t{weight_bytes / middle / 1e9:.3f}")
        print(f"BYTES\t{label}\t{weight_bytes}")
    print(f"\n{'contender':<24} {'batch':>5} {'threads':>7} {'mode':>4} {'median ms':>10} {'p10 ms':>10} {'p90 ms':>10} {'GB/s':>8}")
    for label, batch, threads, mode, values in results:
        ordered = sorted(values)
        middle = statistics.median(values)
        weight_bytes = weight_bytes_of(label)
        low = ordered[round(0.1 * (len(ordered) - 1))]
        high = ordered[round(0.9 * (len(ordered) - 1))]
        print(f"{label:<24} {batch:>5} {threads:>7} {mode:>4} {middle * 1e3:>10.3f} {low * 1e3:>10.3f} "
              f"{high * 1e3:>10.3f} {weight_bytes / middle / 1e9:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
