#!/usr/bin/env python3
"""Quantizes small LSTMs with onnxruntime's quantize_dynamic (com.microsoft DynamicQuantizeLSTM) and records
onnxruntime's outputs (#14).

Usage: make-quantized-lstm.py OUT_FOLDER

The models, each an ONNX LSTM made here with random weights and quantized by quantize_dynamic (int8 weights,
stored transposed as [D, I, 4H] and [D, H, 4H]):
  `lstm-direction`: bidirectional, bias, initial states, one weight scale per direction;
  `lstm-row`:       the same with a scale per direction and gate row (per_channel);
  `lstm-forward`:   forward, no bias and no initial states (the first step's state is all zeros), per row scales.
Writes, for each KIND (the layout of make-quantized-mlp.py, whose test helpers read them):
  OUT/mlp.KIND.onnx, OUT/mlp.KIND.input.npy, OUT/mlp.KIND.OUTPUT.npy, OUT/mlp.KIND.OUTPUT.literal.npy,
  OUT/mlp.KIND.steps.json.
onnxruntime runs on one thread: with more, it quantizes the state of each batch row on its own (the rows its
threads share out), where one thread quantizes the state of the whole batch per step, as Sieve does. (With
sequence_lens shorter than the sequence, onnxruntime also quantizes the states of the rows still running in a way
of its own, about 2e-3 from Sieve's whole-batch states on these shapes; not recorded here.) No output is
quantized, so steps.json holds no quantization step but the tolerance of the float gate functions (onnxruntime's
logistic and tanh are approximations): 1e-6 on values of magnitude below 1 (measured: at most 2.1e-7).
"""

import importlib.util
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("quantized_cnn", os.path.join(ROOT, "scripts", "make-quantized-cnn.py"))
quantized_cnn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quantized_cnn)

STEPS, BATCH, INPUT, HIDDEN = 7, 3, 20, 24
TOLERANCE = 1e-6


def lstm_model(path, direction, bias):
    rng = np.random.default_rng(16)
    directions = 2 if direction == "bidirectional" else 1

    def tensor(name, *shape, scale=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    initializers = [tensor("W", directions, 4 * HIDDEN, INPUT), tensor("R", directions, 4 * HIDDEN, HIDDEN)]
    inputs = ["input", "W", "R", "", "", "", ""]
    if bias:
        initializers += [tensor("B", directions, 8 * HIDDEN, scale=0.1), tensor("h0", directions, BATCH, HIDDEN),
                         tensor("c0", directions, BATCH, HIDDEN)]
        inputs[3], inputs[5], inputs[6] = "B", "h0", "c0"
    node = helper.make_node("LSTM", inputs, ["Y", "Y_h", "Y_c"], hidden_size=HIDDEN, direction=direction)
    graph = helper.make_graph([node], "lstm", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [STEPS, BATCH, INPUT])],
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in ["Y", "Y_h", "Y_c"]],
                              initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    inputs = np.random.default_rng(17).standard_normal((STEPS, BATCH, INPUT)).astype(np.float32)
    for kind, direction, bias, per_channel in [
        ("lstm-direction", "bidirectional", True, False),
        ("lstm-row", "bidirectional", True, True),
        ("lstm-forward", "forward", False, True),
    ]:
        source = os.path.join(out, f"{kind}.float.onnx")
        lstm_model(source, direction, bias)
        path = os.path.join(out, f"mlp.{kind}.onnx")
        quantize_dynamic(source, path, per_channel=per_channel, weight_type=QuantType.QInt8)
        ops = [node.op_type for node in onnx.load(path).graph.node]
        assert ops == ["DynamicQuantizeLSTM"], f"{kind}: quantize_dynamic wrote {ops}"
        quantized_cnn.record(kind, path, inputs, steps_of=lambda model, values: {name: TOLERANCE for name in values},
                             threads=1)


if __name__ == "__main__":
    main()
