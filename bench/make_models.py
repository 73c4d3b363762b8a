# Writes the single-layer benchmark models into bench/models/ (git-ignored): a 4096x4096 f32 MatMul
# with dense weights and with weights that are already 2:4 along the reduction axis, for batch 1 and 32.
"""Usage: /work/main/.venv/bin/python bench/make_models.py [--size 4096] [--batches 1,32] [--out bench/models]

For each weight kind (dense, 2of4) it writes
  matmul_SIZE_KIND.weights.f32   the weights W[K][N] as raw little-endian f32 (ONNX MatMul's B layout),
                                 read by the C harness to check a Sieve artifact's output
  matmul_SIZE_bBATCH_KIND.onnx   y[B][N] = x[B][K] @ W, opset 17, W as an initializer
  matmul_SIZE_bBATCH_KIND-int8.onnx  the same quantized by onnxruntime's quantize_dynamic (int8 weights,
                                 activations quantized at run time; ORT fuses it into DynamicQuantizeMatMul)
The 2:4 weights keep, in every group of 4 consecutive k (the reduction axis) of each column n, the two
entries of largest magnitude of the dense weights and zero the other two. Deterministic (seed 2026).
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic


def two_of_four(weights: np.ndarray) -> np.ndarray:
    """Zeroes the two smallest-magnitude entries in each group of 4 along axis 0 (the reduction axis)."""
    k, n = weights.shape
    groups = weights.reshape(k // 4, 4, n)
    order = np.argsort(np.abs(groups), axis=1, kind="stable")
    pruned = groups.copy()
    np.put_along_axis(pruned, order[:, :2, :], 0.0, axis=1)
    return pruned.reshape(k, n)


def check_two_of_four(weights: np.ndarray) -> None:
    """Raises if any group of 4 along the reduction axis has more than 2 non-zeros."""
    k, n = weights.shape
    nonzeros = np.count_nonzero(weights.reshape(k // 4, 4, n), axis=1)
    if nonzeros.max() > 2:
        raise SystemExit(f"make_models: internal error: a group has {nonzeros.max()} non-zeros")


def matmul_model(weights: np.ndarray, batch: int, name: str) -> onnx.ModelProto:
    k, n = weights.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="MatMul_0")],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, n])],
        initializer=[numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="sieve-bench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "models"))
    args = parser.parse_args()
    if args.size <= 0 or args.size % 4:
        print("make_models: error: --size must be a positive multiple of 4", file=sys.stderr)
        return 1
    batches = [int(b) for b in args.batches.split(",")]
    os.makedirs(args.out, exist_ok=True)

    rng = np.random.default_rng(2026)
    dense = rng.uniform(-1.0, 1.0, size=(args.size, args.size)).astype(np.float32)
    sparse = two_of_four(dense)
    check_two_of_four(sparse)
    for kind, weights in (("dense", dense), ("2of4", sparse)):
        path = os.path.join(args.out, f"matmul_{args.size}_{kind}.weights.f32")
        weights.astype("<f4").tofile(path)
        print(f"wrote {path}")
        for batch in batches:
            name = f"matmul_{args.size}_b{batch}_{kind}"
            path = os.path.join(args.out, name + ".onnx")
            onnx.save(matmul_model(weights, batch, name), path)
            print(f"wrote {path}")
            quantized = os.path.join(args.out, name + "-int8.onnx")
            quantize_dynamic(path, quantized, weight_type=QuantType.QInt8)
            print(f"wrote {quantized}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
