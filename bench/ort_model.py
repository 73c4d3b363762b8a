# ONNX Runtime peer for a whole model (end to end): times any ONNX model with the C harness's protocol,
# for comparing a compiled Sieve artifact of the same model (bench/run.sh --model).
"""Usage: /work/main/.venv/bin/python bench/ort_model.py MODEL.onnx [options]

Inputs: float tensors uniform in [-1, 1), integer and boolean tensors zero (indices stay in range);
a symbolic dimension takes --dim NAME=VALUE, or 1; --input-shape NAME=AxBxC fixes a whole input's shape (as
`sieve compile --input-shape` does, so both sides run the same shapes). One session per thread count (intra-op threads =
the count, sequential execution), inputs and outputs bound once. Cold calls read a 64 MiB buffer
first. Prints 'SAMPLE' lines (--raw) and 'RESULT label model threads mode median_seconds -' lines with
batch 0, which bench/summarize.py shows as 'model', then a table.
"""

import argparse
import statistics
import sys

import numpy as np
import onnxruntime as ort

import ort_common

ELEMENT_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int32)": np.int32,
    "tensor(int64)": np.int64, "tensor(bool)": np.bool_,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--label", default="ort-fp32")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--mode", default="cold,hot")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--pause-ms", type=int, default=200)
    parser.add_argument("--evict-mib", type=int, default=64)
    parser.add_argument("--evict-on", choices=["all", "caller"], default="all",
                        help="where the cold eviction reads: every CPU of the process (default) or the caller only")
    parser.add_argument("--dim", action="append", default=[], help="NAME=VALUE for a symbolic dimension")
    parser.add_argument("--input-shape", action="append", default=[], help="NAME=AxBxC: the whole shape of an input")
    parser.add_argument("--batch", help="ignored (accepted so run.sh can pass its common options)")
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    threads_list = [int(t) for t in args.threads.split(",")]
    modes = args.mode.split(",")
    dims = {}
    for item in args.dim:
        name, _, value = item.partition("=")
        if not value.isdigit():
            parser.error(f"--dim takes NAME=VALUE, got '{item}'")
        dims[name] = int(value)
    input_shapes = {}
    for item in args.input_shape:
        name, _, value = item.partition("=")
        if not all(part.isdigit() for part in value.split("x")):
            parser.error(f"--input-shape takes NAME=AxBxC, got '{item}'")
        input_shapes[name] = [int(part) for part in value.split("x")]

    evict = ort_common.Eviction(args.evict_mib, args.evict_on)
    print(f"# onnxruntime {ort.__version__}: {args.model}; cold = {evict.describe()} between calls")
    rng = np.random.default_rng(11)
    results = []
    for threads in threads_list:
        try:
            session = ort_common.session(args.model, threads)
        except Exception as error:  # ORT raises its own exception types for unreadable models
            print(f"ort_model: error: {args.model}: {error}", file=sys.stderr)
            return 1
        binding = session.io_binding()
        keep_alive = []
        for spec in session.get_inputs():
            element = ELEMENT_TYPES.get(spec.type)
            if element is None:
                print(f"ort_model: error: input '{spec.name}' has type {spec.type}, which this script does not fill",
                      file=sys.stderr)
                return 1
            shape = input_shapes.get(spec.name) or [d if isinstance(d, int) else dims.get(str(d), 1) for d in spec.shape]
            if np.issubdtype(element, np.floating):
                value = rng.uniform(-1, 1, size=shape).astype(element)
            else:
                value = np.zeros(shape, dtype=element)
            ort_value = ort.OrtValue.ortvalue_from_numpy(value)
            keep_alive.append((value, ort_value))
            binding.bind_ortvalue_input(spec.name, ort_value)
        for spec in session.get_outputs():
            binding.bind_output(spec.name, "cpu")
        session.run_with_iobinding(binding)
        for mode in modes:
            samples = []
            for _ in range(args.reps):
                timed = ort_common.time_calls(session, binding, mode, args.calls, args.pause_ms, evict, threads)
                samples += timed
                if args.raw:
                    for elapsed in timed:
                        print(f"SAMPLE\t{args.label}\t0\t{threads}\t{mode}\t{elapsed:.9f}")
            results.append((threads, mode, samples))
        del session, binding, keep_alive
    for threads, mode, samples in results:
        print(f"RESULT\t{args.label}\t0\t{threads}\t{mode}\t{statistics.median(samples):.6f}\t-")
    print(f"\n{'contender':<24} {'threads':>7} {'mode':>4} {'median ms':>10}")
    for threads, mode, samples in results:
        print(f"{args.label:<24} {threads:>7} {mode:>4} {statistics.median(samples) * 1e3:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
