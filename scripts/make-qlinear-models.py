#!/usr/bin/env python3
"""Quantizes a small MLP and CNN with onnxruntime's quantize_static in QOperator format and records onnxruntime's outputs (#14).

Usage: make-qlinear-models.py OUT_FOLDER

QOperator format writes QuantizeLinear -> QLinearMatMul / QLinearConv (int8 weights, symmetric; uint8 activations)
-> DequantizeLinear, the Relus folded into the ranges of the products before them. The models (KIND):
  qop-mlp          MatMul 64x96 -> Relu -> MatMul 96x64 -> Relu -> MatMul 64x10, weights per tensor;
  qop-mlp-channel  the same, weights per output channel (QLinearMatMul's b_scale per column);
  qop-cnn          Conv 3x3 (pads 1) -> Relu -> depthwise Conv 3x3 (stride 2, pads 1) -> Relu -> Conv 1x1, each with
                   a bias (QLinearConv's int32 B), weights per output channel;
  qop-cnn-tensor   the same, weights per tensor;
  qop-mlp-s8, qop-cnn-s8  the MLP and the CNN with int8 activations (activation_type QInt8), weights per channel;
  qop-residual     MatMul 64x96 -> Relu -> MatMul 96x96 -> Add (residual, the Relu's output) -> MatMul 96x10 -> Add (a
                   bias [10]), then Add(a constant [8, 1] column, the logits): com.microsoft QLinearAdd of equal shapes, with a
                   constant broadcast along rows, and with A broadcast along the innermost axis (onnxruntime streams B);
  qop-residual-cnn Conv 3x3 (pads 1) -> Relu -> Conv 3x3 (pads 1) -> Add (residual, the Relu's output) -> Add(a [8, 1, 1]
                   constant, the sum) -> Conv 1x1;
  qdq-residual, qdq-residual-cnn  the same two quantized in QDQ format (DequantizeLinear -> Add -> QuantizeLinear), every
                   QuantizeLinear result exposed;
  qop-add-i8       int8 QLinearAdds written here: a constant [4, 1] column plus A (onnxruntime streams A), A plus that
                   sum (equal shapes), A plus a one-element constant; A quantizes 4x64 values spread over the whole range;
  qop-ties         one QLinearMatMul written here whose sums (±15762) land where the two ways of requantizing differ:
                   f32(acc) · (a_scale · b_scale / y_scale), rounded once (onnxruntime: ±27), against
                   f32(acc) · (a_scale · b_scale), then / y_scale (±26), or f32(acc) · m + y_zero_point rounded (154.5
                   rounds to 154);
  qop-ties-u8      the same with a uint8 weight of zero point 128 (which Sieve imports as the integer decomposition).
Every QLinearMatMul/QLinearConv result is also a graph output, compared exactly. Files as make-quantized-cnn.py
writes them (OUT/mlp.KIND.onnx, .input.npy, .OUTPUT.npy, .OUTPUT.literal.npy, .steps.json with one quantization step
of the float output: the scale of its DequantizeLinear).
"""

import importlib.util
import os
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name, script):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


quantized_mlp = load("quantized_mlp", "make-quantized-mlp.py")
quantized_cnn = load("quantized_cnn", "make-quantized-cnn.py")


def mlp_model(path):
    rng = np.random.default_rng(141)

    def tensor(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32), name)

    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["m1"]),
        helper.make_node("Relu", ["m1"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["m2"]),
        helper.make_node("Relu", ["m2"], ["r2"]),
        helper.make_node("MatMul", ["r2", "w3"], ["logits"]),
    ]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [8, 64])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [8, 10])],
                              [tensor("w1", 64, 96), tensor("w2", 96, 64), tensor("w3", 64, 10)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return rng.standard_normal((40, 8, 64)).astype(np.float32)


def cnn_model(path):
    rng = np.random.default_rng(142)

    def tensor(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], group=8),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["features"], kernel_shape=[1, 1]),
    ]
    initializers = [tensor("w1", 8, 3, 3, 3), tensor("b1", 8), tensor("w2", 8, 1, 3, 3), tensor("b2", 8),
                    tensor("w3", 16, 8, 1, 1), tensor("b3", 16)]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, 12, 12])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, [2, 16, 6, 6])], initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return rng.standard_normal((18, 2, 3, 12, 12)).astype(np.float32)


def residual_model(path):
    rng = np.random.default_rng(143)

    def tensor(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32), name)

    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["m1"]),
        helper.make_node("Relu", ["m1"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["m2"]),
        helper.make_node("Add", ["m2", "r1"], ["s2"]),
        helper.make_node("MatMul", ["s2", "w3"], ["m3"]),
        helper.make_node("Add", ["m3", "bias"], ["biased"]),
        helper.make_node("Add", ["column", "biased"], ["logits"]),
    ]
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [8, 64])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [8, 10])],
                              [tensor("w1", 64, 96), tensor("w2", 96, 96), tensor("w3", 96, 10), tensor("bias", 10),
                               tensor("column", 8, 1)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return rng.standard_normal((17, 8, 64)).astype(np.float32)


def residual_cnn_model(path):
    rng = np.random.default_rng(144)

    def tensor(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["s2"]),
        helper.make_node("Add", ["shift", "s2"], ["shifted"]),
        helper.make_node("Conv", ["shifted", "w3", "b3"], ["features"], kernel_shape=[1, 1]),
    ]
    initializers = [tensor("w1", 8, 3, 3, 3), tensor("b1", 8), tensor("w2", 8, 8, 3, 3), tensor("b2", 8),
                    tensor("shift", 8, 1, 1), tensor("w3", 16, 8, 1, 1), tensor("b3", 16)]
    graph = helper.make_graph(nodes, "residual_cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, 12, 12])],
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, [2, 16, 12, 12])], initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return rng.standard_normal((17, 2, 3, 12, 12)).astype(np.float32)


def add_i8_model(path):
    rng = np.random.default_rng(145)
    floats = [("a_scale", 0.0213), ("column_scale", 0.0371), ("y1_scale", 0.0459), ("y2_scale", 0.0622), ("one_scale", 0.0097),
              ("y3_scale", 0.0198), ("y4_scale", 0.0301), ("y5_scale", 1e-9)]
    points = [("a_zero_point", -3), ("column_zero_point", 5), ("y1_zero_point", -11), ("y2_zero_point", 7), ("one_zero_point", 0),
              ("y3_zero_point", 2), ("y4_zero_point", -6), ("y5_zero_point", 0)]
    initializers = [numpy_helper.from_array(np.array(v, dtype=np.float32), name) for name, v in floats]
    initializers += [numpy_helper.from_array(np.array(v, dtype=np.int8), name) for name, v in points]
    initializers.append(numpy_helper.from_array(rng.integers(-128, 128, (4, 1)).astype(np.int8), "column"))
    initializers.append(numpy_helper.from_array(np.array([-77], dtype=np.int8), "one"))

    def add(a, b, y):
        return helper.make_node("QLinearAdd", [a, f"{a}_scale", f"{a}_zero_point", b, f"{b}_scale", f"{b}_zero_point",
                                               f"{y}_scale", f"{y}_zero_point"], [y], domain="com.microsoft")

    nodes = [helper.make_node("QuantizeLinear", ["input", "a_scale", "a_zero_point"], ["a"]),
             add("column", "a", "y1"), add("a", "y1", "y2"), add("a", "one", "y3"),
             # A of one element (onnxruntime streams B); sums far beyond int32 (its conversion gives INT32_MIN).
             add("one", "a", "y4"), add("a", "a", "y5"),
             helper.make_node("DequantizeLinear", ["y2", "y2_scale", "y2_zero_point"], ["output"])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [4, 64])]
    outputs += [helper.make_tensor_value_info(name, TensorProto.INT8, [4, 64]) for name in ["y1", "y2", "y3", "y4", "y5"]]
    graph = helper.make_graph(nodes, "add_i8", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [4, 64])], outputs,
                              initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]), path)
    return (rng.uniform(-128, 127, (4, 64)) * 0.0213 + 3 * 0.0213).astype(np.float32)


def expose_uint8(path, names, sample):
    """Adds the named uint8 values as graph outputs, with the shapes onnxruntime gives them on `sample` (onnx's shape
    inference does not type com.microsoft outputs)."""
    model = onnx.load(path)
    untyped = onnx.load(path)
    for name in names:
        untyped.graph.output.append(helper.make_tensor_value_info(name, TensorProto.UINT8, None))
    session = onnxruntime.InferenceSession(untyped.SerializeToString(), providers=["CPUExecutionProvider"])
    values = session.run(names, {"input": sample})
    for name, value in zip(names, values):
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.UINT8, list(value.shape)))
    onnx.save(model, path)


def ties_model(path, unsigned=False):
    # Scales found by search: 15762 · m rounds to 27 with m = s · ws / ys, to 26 as (15762 · s · ws) / ys.
    s, ws, ys = np.float32(0.008273857645690441), np.float32(0.08594585210084915), np.float32(0.4229591190814972)
    initializers = [numpy_helper.from_array(np.array(v, dtype=t), name) for name, v, t in [
        ("a_scale", s, np.float32), ("a_zero_point", 0, np.uint8), ("w_scale", ws, np.float32),
        ("w_zero_point", 128 if unsigned else 0, np.uint8 if unsigned else np.int8),
        ("y_scale", ys, np.float32), ("y_zero_point", 128, np.uint8)]]
    weight = np.array([[71, -71], [71, 71]])
    initializers.append(numpy_helper.from_array((weight + 128).astype(np.uint8) if unsigned else weight.astype(np.int8), "w"))
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "a_scale", "a_zero_point"], ["a"]),
        helper.make_node("QLinearMatMul", ["a", "a_scale", "a_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point"], ["y"]),
        helper.make_node("DequantizeLinear", ["y", "y_scale", "y_zero_point"], ["output"]),
    ]
    graph = helper.make_graph(nodes, "ties", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [3, 2])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [3, 2]),
                               helper.make_tensor_value_info("y", TensorProto.UINT8, [3, 2])], initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    # Rows (222, 0), (0, 222), (3, 5) once quantized.
    return (np.array([[222, 0], [0, 222], [3, 5]], dtype=np.float32) * s).astype(np.float32)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, make in [("mlp", mlp_model), ("cnn", cnn_model)]:
        source = os.path.join(out, f"qlinear-{name}.onnx")
        batches = make(source)
        variants = [(f"qop-{name}", name == "cnn", QuantType.QUInt8),
                    (f"qop-{name}-{'tensor' if name == 'cnn' else 'channel'}", name != "cnn", QuantType.QUInt8),
                    (f"qop-{name}-s8", True, QuantType.QInt8)]
        for kind, per_channel, activations in variants:
            path = os.path.join(out, f"mlp.{kind}.onnx")
            reader = quantized_cnn.Inputs("input", batches[:16])
            reader.rows = [{"input": batch} for batch in batches[:16]]
            quantize_static(source, path, reader, quant_format=QuantFormat.QOperator, per_channel=per_channel,
                            activation_type=activations, weight_type=QuantType.QInt8)
            model = onnx.load(path)
            products = [node.output[0] for node in model.graph.node if node.op_type in ("QLinearMatMul", "QLinearConv")]
            if len(products) != 3:
                raise SystemExit(f"{kind}: expected 3 QLinearMatMul/QLinearConv nodes, found {[n.op_type for n in model.graph.node]}")
            quantized_mlp.expose(path, products)
            quantized_cnn.record(kind, path, batches[16])
    for kind, make, adds in [("qop-residual", residual_model, 3), ("qop-residual-cnn", residual_cnn_model, 2)]:
        source = os.path.join(out, f"qlinear-{kind}.onnx")
        batches = make(source)
        path = os.path.join(out, f"mlp.{kind}.onnx")
        reader = quantized_cnn.Inputs("input", batches[:16])
        reader.rows = [{"input": batch} for batch in batches[:16]]
        quantize_static(source, path, reader, quant_format=QuantFormat.QOperator, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        model = onnx.load(path)
        found = [node.output[0] for node in model.graph.node if node.op_type == "QLinearAdd"]
        if len(found) != adds:
            raise SystemExit(f"{kind}: expected {adds} QLinearAdd nodes, found {[n.op_type for n in model.graph.node]}")
        expose_uint8(path, [node.output[0] for node in model.graph.node if node.op_type.startswith("QLinear")], batches[16])
        quantized_cnn.record(kind, path, batches[16])
        qdq = kind.replace("qop", "qdq")
        path = os.path.join(out, f"mlp.{qdq}.onnx")
        reader.rows = [{"input": batch} for batch in batches[:16]]
        quantize_static(source, path, reader, quant_format=QuantFormat.QDQ, per_channel=True)
        model = onnx.load(path)
        quantized_mlp.expose(path, [node.output[0] for node in model.graph.node if node.op_type == "QuantizeLinear"])
        quantized_cnn.record(qdq, path, batches[16])
    path = os.path.join(out, "mlp.qop-add-i8.onnx")
    quantized_cnn.record("qop-add-i8", path, add_i8_model(path))
    for kind, unsigned in [("qop-ties", False), ("qop-ties-u8", True)]:
        path = os.path.join(out, f"mlp.{kind}.onnx")
        quantized_cnn.record(kind, path, ties_model(path, unsigned))
        y = np.load(os.path.join(out, f"mlp.{kind}.y.npy"))
        if list(y[:2].ravel()) != [128 + 27, 128 - 27, 128 + 27, 128 + 27]:
            raise SystemExit(f"{kind}: onnxruntime requantized the ties to {y[:2].ravel()}, not to the single rounding's 155, 101")


if __name__ == "__main__":
    main()
