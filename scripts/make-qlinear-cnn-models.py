#!/usr/bin/env python3
"""Quantizes a small CNN with pooling, activations and a concatenation by onnxruntime's quantize_static in QOperator format
and records onnxruntime's outputs (#14).

Usage: make-qlinear-cnn-models.py OUT_FOLDER

The CNN (two 3x16x16 images a batch): Conv 3x3 -> Relu -> MaxPool 2x2 -> Conv 3x3 -> LeakyRelu(0.1) -> AveragePool 2x2 ->
Conv 1x1 -> Sigmoid -> Concat(the sigmoid, the average pool) -> GlobalAveragePool -> Flatten -> Reshape -> MatMul 16x16 ->
Gemm 16x10 (transB, a bias).
QOperator format writes QuantizeLinear -> QLinearConv -> MaxPool (on the 8-bit values) -> QLinearConv -> QLinearLeakyRelu
-> QLinearAveragePool -> QLinearConv -> QLinearSigmoid -> QLinearConcat -> QLinearGlobalAveragePool -> Flatten ->
Reshape -> QLinearMatMul -> QGemm -> DequantizeLinear (the com.microsoft ops in that domain). The models (KIND):
  qop-pools          weights per tensor, uint8 activations;
  qop-pools-channel  weights per output channel, uint8 activations;
  qop-pools-s8       weights per output channel, int8 activations (activation_type QInt8).
Every 8-bit result of an op (QLinear*, QGemm, MaxPool, Flatten, Reshape) is also a graph output. Files as make-quantized-cnn.py
writes them (OUT/mlp.KIND.onnx, .input.npy, .OUTPUT.npy, .OUTPUT.literal.npy, .steps.json with one quantization step
of the float output).
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
spec = importlib.util.spec_from_file_location("quantized_cnn", os.path.join(ROOT, "scripts", "make-quantized-cnn.py"))
quantized_cnn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quantized_cnn)

EXPECTED = ["QuantizeLinear", "QLinearConv", "MaxPool", "QLinearConv", "QLinearLeakyRelu", "QLinearAveragePool", "QLinearConv",
            "QLinearSigmoid", "QLinearConcat", "QLinearGlobalAveragePool", "Flatten", "Reshape", "QLinearMatMul", "QGemm", "DequantizeLinear"]


def pools_model(path):
    rng = np.random.default_rng(146)

    def tensor(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c2"], ["l2"], alpha=0.1),
        helper.make_node("AveragePool", ["l2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p2", "w3", "b3"], ["c3"], kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["c3"], ["s3"]),
        helper.make_node("Concat", ["s3", "p2"], ["joined"], axis=1),
        helper.make_node("GlobalAveragePool", ["joined"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Reshape", ["flat", "shape"], ["rows"]),
        helper.make_node("MatMul", ["rows", "w4"], ["hidden"]),
        helper.make_node("Gemm", ["hidden", "w5", "b5"], ["logits"], transB=1),
    ]
    initializers = [tensor("w1", 8, 3, 3, 3), tensor("b1", 8), tensor("w2", 8, 8, 3, 3), tensor("b2", 8),
                    tensor("w3", 8, 8, 1, 1), tensor("b3", 8), tensor("w4", 16, 16), tensor("w5", 10, 16), tensor("b5", 10),
                    numpy_helper.from_array(np.array([2, 16], dtype=np.int64), "shape")]
    graph = helper.make_graph(nodes, "pools", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, 10])], initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return rng.standard_normal((17, 2, 3, 16, 16)).astype(np.float32)


def expose_8bit(path, names, element, sample):
    """Adds the named 8-bit values (of the onnx type `element`) as graph outputs, shaped as onnxruntime computes them on
    `sample` (onnx's shape inference does not type com.microsoft outputs)."""
    model = onnx.load(path)
    probe = onnx.load(path)
    for name in names:
        probe.graph.output.append(helper.make_tensor_value_info(name, element, None))
    session = onnxruntime.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    for name, value in zip(names, session.run(names, {"input": sample})):
        model.graph.output.append(helper.make_tensor_value_info(name, element, list(value.shape)))
    onnx.save(model, path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    source = os.path.join(out, "qlinear-pools.onnx")
    batches = pools_model(source)
    for kind, per_channel, activations in [("qop-pools", False, QuantType.QUInt8), ("qop-pools-channel", True, QuantType.QUInt8),
                                           ("qop-pools-s8", True, QuantType.QInt8)]:
        path = os.path.join(out, f"mlp.{kind}.onnx")
        reader = quantized_cnn.Inputs("input", batches[:16])
        reader.rows = [{"input": batch} for batch in batches[:16]]
        quantize_static(source, path, reader, quant_format=QuantFormat.QOperator, per_channel=per_channel,
                        activation_type=activations, weight_type=QuantType.QInt8)
        model = onnx.load(path)
        found = [node.op_type for node in model.graph.node]
        if found != EXPECTED:
            raise SystemExit(f"{kind}: expected {EXPECTED}, found {found}")
        element = TensorProto.INT8 if activations == QuantType.QInt8 else TensorProto.UINT8
        expose_8bit(path, [node.output[0] for node in model.graph.node if node.op_type not in ("QuantizeLinear", "DequantizeLinear")],
                    element, batches[16])
        quantized_cnn.record(kind, path, batches[16])


if __name__ == "__main__":
    main()
