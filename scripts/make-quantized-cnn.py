#!/usr/bin/env python3
"""Quantizes small CNNs with onnxruntime's quantize_static (QDQ format) and records onnxruntime's outputs (#14).

Usage: make-quantized-cnn.py OUT_FOLDER

The models: `forms`, a CNN made here (two images a batch) whose convolutions take each form Sieve lowers (a 3x3 im2col convolution,
a depthwise 3x3 convolution of stride 2, a pointwise 1x1 convolution; each with a bias and a Relu) before a
global average pool and a Gemm, its weights quantized per output channel (`forms`, with every QuantizeLinear
result exposed as an output) and per tensor (`forms-tensor`), and by quantize_dynamic (`forms-dynamic`:
DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul groups, the last product's activation scale exposed); and `example`, Examples/models/cnn.onnx. Writes, for each KIND (as make-quantized-mlp.py,
whose layout of files and tolerance rule it shares):
  OUT/mlp.KIND.onnx, OUT/mlp.KIND.input.npy, OUT/mlp.KIND.OUTPUT.npy, OUT/mlp.KIND.OUTPUT.literal.npy,
  OUT/mlp.KIND.steps.json (one quantization step of the float output: the scale of its last DequantizeLinear, or
  for forms-dynamic the unit of the last int32 product).
The prefix is mlp. so that the MLP tests' helpers read them as they are.
"""

import importlib.util
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("quantized_mlp", os.path.join(ROOT, "scripts", "make-quantized-mlp.py"))
quantized_mlp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quantized_mlp)


class Inputs(quantized_mlp.Rows):
    """Calibration images in batches of `batch`, under the model's input name."""

    def __init__(self, name, images, batch=1):
        self.rows = [{name: images[i:i + batch]} for i in range(0, len(images), batch)]


def forms_model(path):
    rng = np.random.default_rng(14)

    def tensor(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], group=8),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("GlobalAveragePool", ["r3"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w4", "b4"], ["logits"], transB=1),
    ]
    initializers = [tensor("w1", 8, 3, 3, 3), tensor("b1", 8), tensor("w2", 8, 1, 3, 3), tensor("b2", 8),
                    tensor("w3", 16, 8, 1, 1), tensor("b3", 16), tensor("w4", 10, 16), tensor("b4", 10)]
    graph = helper.make_graph(nodes, "forms", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, 12, 12])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, 10])], initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return rng.standard_normal((24, 3, 12, 12)).astype(np.float32)


def record(kind, path, inputs, steps_of=None, threads=None):
    """Runs the model at `path` with and without onnxruntime's graph optimizations (on `threads` threads, or its
    default) and writes its input, outputs and steps as mlp.KIND.*."""
    folder = os.path.dirname(path)
    model = onnx.load(path)
    name = model.graph.input[0].name
    np.save(os.path.join(folder, f"mlp.{kind}.input.npy"), inputs)
    optimized, literal = onnxruntime.SessionOptions(), onnxruntime.SessionOptions()
    literal.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads:
        optimized.intra_op_num_threads = literal.intra_op_num_threads = threads
    values = {}
    for suffix, options in [("", optimized), (".literal", literal)]:
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        names = [output.name for output in session.get_outputs()]
        for output, value in zip(names, session.run(None, {name: inputs})):
            np.save(os.path.join(folder, f"mlp.{kind}.{output}{suffix}.npy"), value)
            values.setdefault(output, value)
    producer = {output: node for node in model.graph.node for output in node.output}
    steps = steps_of(model, values) if steps_of else {}
    for output in model.graph.output if not steps_of else []:
        if output.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        node = producer[output.name]
        while node.op_type != "DequantizeLinear":
            node = producer[node.input[0]]
        steps[output.name] = float(quantized_mlp.initializer(model, node.input[1]))
    with open(os.path.join(folder, f"mlp.{kind}.steps.json"), "w") as file:
        json.dump(steps, file, indent=1)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    source = os.path.join(out, "cnn-forms.onnx")
    images = forms_model(source)
    for kind, per_channel in [("forms", True), ("forms-tensor", False)]:
        path = os.path.join(out, f"mlp.{kind}.onnx")
        quantize_static(source, path, Inputs("input", images[:16], batch=2), quant_format=QuantFormat.QDQ, per_channel=per_channel)
        if kind == "forms":
            # Every quantized activation as an output too, compared exactly.
            model = onnx.load(path)
            quantized_mlp.expose(path, [node.output[0] for node in model.graph.node if node.op_type == "QuantizeLinear"])
        record(kind, path, images[16:18])
    # quantize_dynamic: DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul per convolution (and MatMulInteger for the
    # Gemm). One step of the logits is the unit of the last int32 product: the scale DynamicQuantizeLinear computed
    # for its input (exposed, so that product keeps the integer decomposition) times its weight scale.
    dynamic = os.path.join(out, "mlp.forms-dynamic.onnx")
    quantize_dynamic(source, dynamic, weight_type=QuantType.QInt8)
    model = onnx.load(dynamic)
    last = [node for node in model.graph.node if node.op_type == "MatMulInteger"][-1]
    scale_mul = next(node for node in model.graph.node if node.op_type == "Mul" and node.output[0].endswith("_scale_mul:0")
                     and last.input[2].replace("zero_point", "scale") in node.input)
    activation_scale = last.input[2].replace("zero_point", "scale")
    quantized_mlp.expose(dynamic, [activation_scale])
    weight_scale = next(name for name in scale_mul.input if name != activation_scale)

    def dynamic_steps(model, values):
        return {"logits": float(values[activation_scale]) * float(quantized_mlp.initializer(model, weight_scale)),
                activation_scale: 0.0}

    record("forms-dynamic", dynamic, images[16:18], dynamic_steps)

    example = os.path.join(ROOT, "Examples", "models", "cnn.onnx")
    path = os.path.join(out, "mlp.example.onnx")
    digits = np.random.default_rng(7).random((17, 1, 28, 28)).astype(np.float32)
    quantize_static(example, path, Inputs("input", digits[:16]), quant_format=QuantFormat.QDQ, per_channel=True)
    record("example", path, digits[16:17])


if __name__ == "__main__":
    main()
