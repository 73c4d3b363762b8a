# Writes the models that measure `sieve compile` itself (wall time and peak memory), not the speed of
# the code it generates: an encoder shaped like all-MiniLM-L6-v2 and a wide two-layer model of 512M weights.
"""Usage: .venv/bin/python bench/make_compile_models.py [--out bench/models] [--encoder] [--wide]

  minilm_l6.onnx         BERT embeddings (word 30522x384, position 512x384, LayerNorm), 6 encoder layers
                         (hidden 384, 12 heads, FFN 1536), sequence 128, batch 1, mean pooling over the
                         sequence (ReduceMean); random weights (seed 2026), opset 17; 22.6M weights as
                         initializers, like all-MiniLM-L6-v2. Input input_ids[1,128] (int64), output
                         y[1,384]. Also minilm_l6.input.npy, a sample input.
  wide_16384.onnx        y = (x @ W0) @ W1 with W0, W1 of 16384x16384 f32: 512M weights, 2 GiB, stored as
  wide_16384.onnx.data   ONNX external data (a protobuf cannot hold more than 2 GiB). Input x[1,16384].
                         Only with --wide (writes 2 GiB).

With neither flag, writes the encoder only. The encoder's structure is the one PyTorch exports for BERT
(MatMul + Add per linear layer, attention split into heads with Reshape/Transpose, scale by Div,
Softmax, LayerNormalization, GELU in its Erf form).
"""

import argparse
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def make_encoder(layers=6, seq=128, dim=384, heads=12, ffn=1536, vocabulary=30522, positions=512, seed=2026):
    rng = np.random.default_rng(seed)
    head_dim = dim // heads
    inits, nodes = [], []

    def weight(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    def const(name, array):
        inits.append(numpy_helper.from_array(array, name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x, name, fan_in, fan_out):
        w = const(f"{name}.weight", weight(fan_in, fan_out))
        b = const(f"{name}.bias", weight(fan_out))
        return node("Add", [node("MatMul", [x, w], f"{name}.matmul"), b], f"{name}.out")

    def layer_norm(x, name):
        gamma = const(f"{name}.gamma", (1.0 + rng.standard_normal(dim) * 0.05).astype(np.float32))
        beta = const(f"{name}.beta", weight(dim))
        return node("LayerNormalization", [x, gamma, beta], f"{name}.out", axis=-1, epsilon=1e-12)

    split_shape = const("heads_shape", np.array([1, seq, heads, head_dim], dtype=np.int64))
    merge_shape = const("model_shape", np.array([1, seq, dim], dtype=np.int64))
    scale = const("attn_scale", np.array(math.sqrt(head_dim), dtype=np.float32))
    sqrt2 = const("gelu_sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    one = const("gelu_one", np.array(1.0, dtype=np.float32))
    half = const("gelu_half", np.array(0.5, dtype=np.float32))

    def split_heads(x, name, perm):
        return node("Transpose", [node("Reshape", [x, split_shape], f"{name}.split")], f"{name}.heads", perm=perm)

    words = node("Gather", [const("word_embeddings", weight(vocabulary, dim)), "input_ids"], "embed.words", axis=0)
    position_ids = const("position_ids", np.arange(seq, dtype=np.int64).reshape(1, seq))
    places = node("Gather", [const("position_embeddings", weight(positions, dim)), position_ids], "embed.positions", axis=0)
    x = layer_norm(node("Add", [words, places], "embed.sum"), "embed.ln")
    for layer in range(layers):
        p = f"layer{layer}"
        q = split_heads(linear(x, f"{p}.q", dim, dim), f"{p}.q", [0, 2, 1, 3])
        k_t = split_heads(linear(x, f"{p}.k", dim, dim), f"{p}.k", [0, 2, 3, 1])
        v = split_heads(linear(x, f"{p}.v", dim, dim), f"{p}.v", [0, 2, 1, 3])
        scores = node("Div", [node("MatMul", [q, k_t], f"{p}.scores"), scale], f"{p}.scaled")
        probs = node("Softmax", [scores], f"{p}.probs", axis=-1)
        context = node("MatMul", [probs, v], f"{p}.context")
        merged = node("Reshape", [node("Transpose", [context], f"{p}.context.t", perm=[0, 2, 1, 3]), merge_shape],
                      f"{p}.merged")
        h = layer_norm(node("Add", [x, linear(merged, f"{p}.o", dim, dim)], f"{p}.residual1"), f"{p}.ln1")
        up = linear(h, f"{p}.up", dim, ffn)
        erf = node("Erf", [node("Div", [up, sqrt2], f"{p}.gelu.div")], f"{p}.gelu.erf")
        gelu = node("Mul", [node("Mul", [up, node("Add", [erf, one], f"{p}.gelu.add")], f"{p}.gelu.mul"), half],
                    f"{p}.gelu.out")
        x = layer_norm(node("Add", [h, linear(gelu, f"{p}.down", ffn, dim)], f"{p}.residual2"), f"{p}.ln2")
    node("ReduceMean", [x], "y", axes=[1], keepdims=0)

    graph = helper.make_graph(
        nodes, "minilm_l6",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, seq])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, dim])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="sieve-bench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    sample = np.random.default_rng(1).integers(0, vocabulary, size=(1, seq), dtype=np.int64)
    return model, sample


def make_wide(size=16384, seed=2026):
    rng = np.random.default_rng(seed)
    inits = []
    for name in ("W0", "W1"):
        w = rng.standard_normal((size, size), dtype=np.float32)
        w *= 1.0 / math.sqrt(size)
        inits.append(numpy_helper.from_array(w, name))
        del w
    nodes = [helper.make_node("MatMul", ["x", "W0"], ["h"], name="MatMul_0"),
             helper.make_node("MatMul", ["h", "W1"], ["y"], name="MatMul_1")]
    graph = helper.make_graph(
        nodes, f"wide_{size}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, size])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="sieve-bench")
    model.ir_version = 8
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "models"))
    parser.add_argument("--encoder", action="store_true", help="write minilm_l6.onnx (the default)")
    parser.add_argument("--wide", action="store_true", help="write wide_16384.onnx with 2 GiB of external data")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.encoder or not args.wide:
        model, sample = make_encoder()
        path = os.path.join(args.out, "minilm_l6.onnx")
        onnx.save(model, path)
        np.save(os.path.join(args.out, "minilm_l6.input.npy"), sample)
        count = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        print(f"wrote {path} ({count} weights)")
    if args.wide:
        path = os.path.join(args.out, "wide_16384.onnx")
        onnx.save(make_wide(), path, save_as_external_data=True, all_tensors_to_one_file=True,
                  location="wide_16384.onnx.data", size_threshold=1024)
        print(f"wrote {path} and wide_16384.onnx.data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
