#!/usr/bin/env python3
"""Quantizes Examples/models/mlp.onnx with onnxruntime's tools and records onnxruntime's outputs (issue #14).

Usage: make-quantized-mlp.py OUT_FOLDER

Writes, for KIND in `dynamic` (quantize_dynamic: DynamicQuantizeLinear + MatMulInteger) and `qdq`
(quantize_static in QDQ format, calibrated on the first rows of mlp.calibration.npy):
  OUT/mlp.KIND.onnx          the quantized model, with its integer intermediates added as graph outputs
                             (the dynamic model's quantized activations, zero points and int32 products; the
                             QDQ model's QuantizeLinear results), so that they can be compared exactly;
  OUT/mlp.KIND.input.npy     the input (32 rows of mlp.eval.input.npy);
  OUT/mlp.KIND.OUTPUT.npy    onnxruntime's value of every graph output, with its default graph optimizations
                             (which fuse QDQ groups into its own integer kernels, e.g. a QLinearSoftmax that
                             approximates);
  OUT/mlp.KIND.OUTPUT.literal.npy  the same with graph optimizations off: the model's ops as ONNX defines them;
  OUT/mlp.KIND.steps.json    for each float output, one quantization step: the unit of the last int32
                             product (activation scale x weight scale) for the dynamic model, the scale of
                             the QuantizeLinear the output was dequantized from for the QDQ model.
and the same files for KIND-bare: the quantized model exactly as the tool wrote it (only the probabilities as
output), which Sieve compiles into int8 products (the exposed intermediates keep the integer decomposition);
for dynamic-ort: the dynamic model as onnxruntime's graph optimizations save it (com.microsoft
DynamicQuantizeMatMul with the bias); and for dynamic-ort-integer: the same with each DynamicQuantizeMatMul
written as DynamicQuantizeLinear + com.microsoft MatMulIntegerToFloat; for qdq-24: mlp.onnx with each weight pruned
to 2:4 along its reduction (the two largest magnitudes of every four) and then quantized like the QDQ model, whose
int8 weights are therefore 2:4.
"""

import json
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_dynamic, quantize_static

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "Examples", "models")


class Rows(CalibrationDataReader):
    """The first calibration rows, one batch of 1 each."""

    def __init__(self, rows):
        self.rows = [{"input": rows[i:i + 1]} for i in range(len(rows))]

    def get_next(self):
        return self.rows.pop(0) if self.rows else None


def expose(path, names):
    """Adds the named intermediate values of the model at `path` as graph outputs (types from shape inference)."""
    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    known = {info.name: info for info in list(model.graph.value_info) + list(model.graph.output)}
    for name in names:
        if name not in [output.name for output in model.graph.output]:
            model.graph.output.append(known[name])
    onnx.save(model, path)


def record(kind, path, steps_of):
    inputs = np.load(os.path.join(MODELS, "mlp.eval.input.npy"))[:32].astype(np.float32)
    folder = os.path.dirname(path)
    np.save(os.path.join(folder, f"mlp.{kind}.input.npy"), inputs)
    literal = onnxruntime.SessionOptions()
    literal.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    values = {}
    for suffix, options in [("", onnxruntime.SessionOptions()), (".literal", literal)]:
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        names = [output.name for output in session.get_outputs()]
        for name, value in zip(names, session.run(None, {"input": inputs})):
            np.save(os.path.join(folder, f"mlp.{kind}.{name}{suffix}.npy"), value)
            values.setdefault(name, value)
    with open(os.path.join(folder, f"mlp.{kind}.steps.json"), "w") as file:
        json.dump(steps_of(onnx.load(path), values), file, indent=1)


def steps_of_model(kind, folder):
    """One quantization step per output as recorded for the exposed model `kind` (the same computation)."""
    return lambda model, values: json.load(open(os.path.join(folder, f"mlp.{kind}.steps.json")))


def record_bare(kind, bare):
    """Records onnxruntime's outputs of the unexposed model `bare`; one step is the exposed model's."""
    record(f"{kind}-bare", bare, steps_of_model(kind, os.path.dirname(bare)))


def initializer(model, name):
    return next(onnx.numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    source = os.path.join(MODELS, "mlp.onnx")

    dynamic = os.path.join(out, "mlp.dynamic.onnx")
    quantize_dynamic(source, dynamic)
    shutil.copy(dynamic, os.path.join(out, "mlp.dynamic-bare.onnx"))
    model = onnx.load(dynamic)
    integer_values = []
    for node in model.graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            integer_values += [node.output[0], node.output[2]]
        if node.op_type == "MatMulInteger":
            integer_values.append(node.output[0])
    expose(dynamic, integer_values)

    # The probabilities come from the last product: one step is the unit of its int32 result, the Mul of that
    # layer's activation scale (exposed, it is computed at run time) and its weight scale.
    scale_muls = [node for node in model.graph.node if node.op_type == "Mul" and node.output[0].endswith("quant_scales_mul:0")]
    expose(dynamic, [node.input[0] for node in scale_muls])

    def dynamic_steps(model, values):
        last = scale_muls[-1]
        return {"probabilities": float(values[last.input[0]]) * float(initializer(model, last.input[1]))}

    record("dynamic", dynamic, dynamic_steps)
    record_bare("dynamic", os.path.join(out, "mlp.dynamic-bare.onnx"))

    # onnxruntime's own fused form, saved after its graph optimizations.
    fused = os.path.join(out, "mlp.dynamic-ort.onnx")
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = fused
    onnxruntime.InferenceSession(os.path.join(out, "mlp.dynamic-bare.onnx"), options, providers=["CPUExecutionProvider"])
    model = onnx.load(fused)
    assert [node.op_type for node in model.graph.node].count("DynamicQuantizeMatMul") == 3
    record("dynamic-ort", fused, steps_of_model("dynamic", out))

    # MatMulIntegerToFloat: each DynamicQuantizeMatMul split into DynamicQuantizeLinear and MatMulIntegerToFloat.
    nodes = []
    for node in model.graph.node:
        if node.op_type != "DynamicQuantizeMatMul":
            nodes.append(node)
            continue
        a, b, b_scale, b_zero_point, bias = node.input
        q = [f"{node.output[0]}.{suffix}" for suffix in ("quantized", "scale", "zero_point")]
        nodes.append(onnx.helper.make_node("DynamicQuantizeLinear", [a], q))
        nodes.append(onnx.helper.make_node("MatMulIntegerToFloat", [q[0], b, q[1], b_scale, q[2], b_zero_point, bias],
                                           [node.output[0]], domain="com.microsoft"))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    integer = os.path.join(out, "mlp.dynamic-ort-integer.onnx")
    onnx.save(model, integer)
    record("dynamic-ort-integer", integer, steps_of_model("dynamic", out))

    qdq = os.path.join(out, "mlp.qdq.onnx")
    calibration = np.load(os.path.join(MODELS, "mlp.calibration.npy"))[:16].astype(np.float32)
    quantize_static(source, qdq, Rows(calibration), quant_format=QuantFormat.QDQ)
    shutil.copy(qdq, os.path.join(out, "mlp.qdq-bare.onnx"))
    model = onnx.load(qdq)
    expose(qdq, [node.output[0] for node in model.graph.node if node.op_type == "QuantizeLinear"])

    def qdq_steps(model, values):
        # The probabilities are Identity(DequantizeLinear(QuantizeLinear(softmax))): one step is that scale.
        producer = {output: node for node in model.graph.node for output in node.output}
        node = producer["probabilities"]
        while node.op_type != "DequantizeLinear":
            node = producer[node.input[0]]
        return {"probabilities": float(initializer(model, node.input[1]))}

    record("qdq", qdq, qdq_steps)
    record_bare("qdq", os.path.join(out, "mlp.qdq-bare.onnx"))

    # A 2:4 model: every group of four along a MatMul weight's reduction (axis 0 of [K, N]) keeps its two largest.
    sparse = onnx.load(source)
    for tensor in sparse.graph.initializer:
        if not tensor.name.startswith("coefficient"):
            continue
        weight = onnx.numpy_helper.to_array(tensor).copy()
        groups = weight.reshape(weight.shape[0] // 4, 4, weight.shape[1])
        order = np.argsort(np.abs(groups), axis=1)
        np.put_along_axis(groups, order[:, :2, :], 0, axis=1)
        tensor.CopyFrom(onnx.numpy_helper.from_array(groups.reshape(weight.shape), tensor.name))
    pruned = os.path.join(out, "mlp.24.onnx")
    onnx.save(sparse, pruned)
    qdq24 = os.path.join(out, "mlp.qdq-24.onnx")
    quantize_static(pruned, qdq24, Rows(calibration), quant_format=QuantFormat.QDQ)
    record("qdq-24", qdq24, steps_of_model("qdq", out))


if __name__ == "__main__":
    main()
