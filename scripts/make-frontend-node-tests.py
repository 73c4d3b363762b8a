#!/usr/bin/env python3
"""Extra ONNX node test cases for what the ONNX backend suite does not cover: ops at opsets 7 to 12
(where inputs were attributes or semantics differed), LSTM/GRU/RNN variants (reverse, bidirectional,
initial states, sequence_lens, every output, linear_before_reset, clip, explicit and parameterised
activations, input_forget), the old forms of the newer ops (reductions, ArgMax, TopK, Pad, Split, Upsample…),
and If with a constant condition whose branch reads outer-scope names.

Each case is written in the layout of onnx/backend/test/data/node (model.onnx, test_data_set_0/
input_N.pb and output_N.pb) under .cache/onnx-frontend-node-tests/<case>/, with the expected outputs
computed by ONNX Runtime (CPU; the onnx reference evaluator where ONNX Runtime refuses
a form; recurrent layout 1 is covered by the backend suite's *_batchwise cases) on seeded random inputs. The conformance test runs these folders with
the backend suite's. Idempotent: the output folder carries a stamp with this script's hash.
Usage: make-frontend-node-tests.py [--force]
"""

import hashlib
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, ".cache", "onnx-frontend-node-tests")
rng = np.random.default_rng(20240612)


def f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def make(name, opset, nodes, inputs, outputs, initializers=(), ir_version=None, evaluator="onnxruntime"):
    """inputs: list of (name, array); outputs: list of names. Writes the case with ORT's outputs."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in inputs],
        [helper.make_tensor_value_info(n, TensorProto.BOOL if n == "mask" else TensorProto.FLOAT, None) for n in outputs],
        [numpy_helper.from_array(a, n) for n, a in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=ir_version or (7 if opset <= 12 else 8))
    try:
        if evaluator != "onnxruntime":
            raise ValueError("the onnx reference evaluator is asked for")
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        results = session.run(outputs, {n: a for n, a in inputs})
    except Exception:  # a form ONNX Runtime refuses: the onnx reference evaluator
        results = ReferenceEvaluator(model).run(outputs, {n: a for n, a in inputs})
    # onnx's checker requires a shape on every graph output (Sieve's importer too): declare what was computed.
    for index, (n, a) in enumerate(zip(outputs, results)):
        a = np.asarray(a)
        graph.output[index].CopyFrom(helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape))
    model.graph.CopyFrom(graph)
    folder = os.path.join(OUT, f"test_{name}")
    data = os.path.join(folder, "test_data_set_0")
    os.makedirs(data)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    for index, (n, a) in enumerate(inputs):
        with open(os.path.join(data, f"input_{index}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, n).SerializeToString())
    for index, (n, a) in enumerate(zip(outputs, results)):
        with open(os.path.join(data, f"output_{index}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(a), n).SerializeToString())


def legacy_cases():
    x = f32(2, 3, 4)
    for opset in (7, 8, 11, 12):
        for axis in (None, 0, 1, 2, -1, -2):
            attrs = {} if axis is None else {"axis": axis}
            label = "default" if axis is None else str(axis).replace("-", "m")
            make(f"softmax_opset{opset}_axis_{label}", opset,
                 [helper.make_node("Softmax", ["x"], ["y"], **attrs)], [("x", x)], ["y"])
    for opset in (7, 11):
        make(f"squeeze_opset{opset}_axes", opset, [helper.make_node("Squeeze", ["x"], ["y"], axes=[0, 2])],
             [("x", f32(1, 3, 1, 5))], ["y"])
        make(f"squeeze_opset{opset}_all", opset, [helper.make_node("Squeeze", ["x"], ["y"])],
             [("x", f32(1, 3, 1, 5))], ["y"])
        make(f"unsqueeze_opset{opset}", opset, [helper.make_node("Unsqueeze", ["x"], ["y"], axes=[0, 3])],
             [("x", f32(3, 4))], ["y"])
    for opset in (7, 8, 10):
        make(f"clip_opset{opset}", opset, [helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.7)],
             [("x", f32(3, 4))], ["y"])
        make(f"clip_opset{opset}_min_only", opset, [helper.make_node("Clip", ["x"], ["y"], min=0.1)],
             [("x", f32(3, 4))], ["y"])
        make(f"clip_opset{opset}_defaults", opset, [helper.make_node("Clip", ["x"], ["y"])],
             [("x", f32(3, 4))], ["y"])
    for opset in (7, 9):
        attrs = {"spatial": 1} if opset < 9 else {}
        make(f"batchnorm_opset{opset}", opset,
             [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3, momentum=0.8, **attrs)],
             [("x", f32(2, 3, 4, 5))], ["y"],
             [("s", f32(3)), ("b", f32(3)), ("m", f32(3)), ("v", np.abs(f32(3)) + 0.5)])
    for opset in (7, 10):
        make(f"dropout_opset{opset}_ratio", opset, [helper.make_node("Dropout", ["x"], ["y"], ratio=0.3)],
             [("x", f32(3, 4))], ["y"])
    # ONNX Runtime returns an all-false inference mask here; the spec (and its reference) says all true.
    make("dropout_opset10_mask", 10, [helper.make_node("Dropout", ["x"], ["y", "mask"], ratio=0.3)],
         [("x", f32(3, 4))], ["y", "mask"], evaluator="reference")
    for opset in (7, 9):
        make(f"slice_opset{opset}", opset,
             [helper.make_node("Slice", ["x"], ["y"], starts=[1, 0], ends=[3, -1], axes=[0, 2])],
             [("x", f32(4, 3, 5))], ["y"])
        make(f"slice_opset{opset}_default_axes", opset,
             [helper.make_node("Slice", ["x"], ["y"], starts=[0, 1], ends=[2, 100])],
             [("x", f32(4, 3))], ["y"])
    make("reduce_mean_opset11_axes", 11, [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)],
         [("x", f32(2, 3, 4))], ["y"])


def legacy_form_cases():
    """The old forms of the newer ops (attributes that later became inputs, older defaults), with
    ONNX Runtime's outputs: reductions, ArgMax/ArgMin, LogSoftmax, TopK, Pad, Split, Upsample, Resize 10,
    Clip 11, Tile, DepthToSpace, Cast, Flatten, Gemm 7."""
    x = f32(2, 3, 4)
    positive = np.abs(x) + 0.1
    reductions = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                  "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]
    for op in reductions:
        data = positive if op == "ReduceLogSum" else x
        # axes is an attribute before 13 (ReduceSum) or 18 (the others).
        opsets = (7, 11, 12) if op == "ReduceSum" else (7, 11, 13)
        for opset in opsets:
            lower = op.lower()
            make(f"{lower}_opset{opset}_axes_keepdims", opset, [helper.make_node(op, ["x"], ["y"], axes=[1])],
                 [("x", data)], ["y"])
            make(f"{lower}_opset{opset}_two_axes", opset, [helper.make_node(op, ["x"], ["y"], axes=[0, 2], keepdims=0)],
                 [("x", data)], ["y"])
            make(f"{lower}_opset{opset}_all_axes", opset, [helper.make_node(op, ["x"], ["y"], keepdims=0)],
                 [("x", data)], ["y"])
            if opset >= 11:  # negative axes from 11
                make(f"{lower}_opset{opset}_negative_axis", opset, [helper.make_node(op, ["x"], ["y"], axes=[-1])],
                     [("x", data)], ["y"])
    ties = np.array([[1, 3, 3, 0], [2, 2, 1, 2], [0, 0, 0, 0]], dtype=np.float32)
    for op in ("ArgMax", "ArgMin"):
        lower = op.lower()
        for opset in (7, 11):
            make(f"{lower}_opset{opset}_axis1_keepdims0", opset, [helper.make_node(op, ["x"], ["y"], axis=1, keepdims=0)],
                 [("x", x)], ["y"])
            make(f"{lower}_opset{opset}_default", opset, [helper.make_node(op, ["x"], ["y"])], [("x", ties)], ["y"])
        make(f"{lower}_opset11_negative_axis", 11, [helper.make_node(op, ["x"], ["y"], axis=-1)], [("x", ties)], ["y"])
        make(f"{lower}_opset12_select_last_index", 12,
             [helper.make_node(op, ["x"], ["y"], axis=1, select_last_index=1)], [("x", ties)], ["y"])
    for opset in (7, 11):
        for axis in (None, 0, 1, 2, -1):
            attrs = {} if axis is None else {"axis": axis}
            if opset < 11 and axis is not None and axis < 0:
                continue
            label = "default" if axis is None else str(axis).replace("-", "m")
            make(f"logsoftmax_opset{opset}_axis_{label}", opset,
                 [helper.make_node("LogSoftmax", ["x"], ["y"], **attrs)], [("x", x)], ["y"])
    scores = f32(3, 6)
    make("topk_opset7_attribute_k", 7, [helper.make_node("TopK", ["x"], ["values", "indices"], k=3)],
         [("x", scores)], ["values", "indices"])
    make("topk_opset7_axis0", 7, [helper.make_node("TopK", ["x"], ["values", "indices"], k=2, axis=0)],
         [("x", scores)], ["values", "indices"])
    make("topk_opset10_input_k", 10, [helper.make_node("TopK", ["x", "k"], ["values", "indices"])],
         [("x", scores)], ["values", "indices"], [("k", np.array([2], dtype=np.int64))])
    make("topk_opset11_smallest", 11, [helper.make_node("TopK", ["x", "k"], ["values", "indices"], largest=0, axis=-1)],
         [("x", scores)], ["values", "indices"], [("k", np.array([4], dtype=np.int64))])
    image = f32(1, 2, 3, 4)
    for opset in (7, 9):  # pads and value are attributes before 11
        make(f"pad_opset{opset}_constant_value", opset,
             [helper.make_node("Pad", ["x"], ["y"], pads=[0, 0, 1, 2, 0, 1, 0, 1], value=1.5)], [("x", image)], ["y"])
        make(f"pad_opset{opset}_default_value", opset,
             [helper.make_node("Pad", ["x"], ["y"], pads=[0, 1, 0, 0, 0, 0, 2, 0])], [("x", image)], ["y"])
        make(f"pad_opset{opset}_reflect", opset,
             [helper.make_node("Pad", ["x"], ["y"], pads=[0, 0, 2, 1, 0, 0, 1, 3], mode="reflect")], [("x", image)], ["y"])
        make(f"pad_opset{opset}_edge", opset,
             [helper.make_node("Pad", ["x"], ["y"], pads=[0, 0, 2, 1, 0, 0, 1, 3], mode="edge")], [("x", image)], ["y"])
    for opset in (11, 13):
        make(f"pad_opset{opset}_inputs", opset, [helper.make_node("Pad", ["x", "pads", "value"], ["y"])],
             [("x", image)], ["y"], [("pads", np.array([0, 0, 1, -1, 0, 0, 2, 1], dtype=np.int64)),
                                     ("value", np.array(-2.0, dtype=np.float32))])
    wide = f32(2, 6, 3)
    for opset in (7, 11, 12):  # split is an attribute before 13
        make(f"split_opset{opset}_sizes", opset,
             [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, split=[1, 3, 2])], [("x", wide)], ["a", "b", "c"])
        make(f"split_opset{opset}_equal", opset,
             [helper.make_node("Split", ["x"], ["a", "b"], axis=1)], [("x", wide)], ["a", "b"])
        make(f"split_opset{opset}_default_axis", opset,
             [helper.make_node("Split", ["x"], ["a", "b"], split=[1, 1])], [("x", wide)], ["a", "b"])
    make("split_opset11_negative_axis", 11,
         [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=-1)], [("x", wide)], ["a", "b", "c"])
    make("split_opset13_input_sizes", 13, [helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1)],
         [("x", wide)], ["a", "b"], [("sizes", np.array([4, 2], dtype=np.int64))])
    small = f32(1, 2, 3, 4)
    make("upsample_opset7_nearest", 7, [helper.make_node("Upsample", ["x"], ["y"], scales=[1.0, 1.0, 2.0, 3.0])],
         [("x", small)], ["y"])
    make("upsample_opset7_linear", 7,
         [helper.make_node("Upsample", ["x"], ["y"], scales=[1.0, 1.0, 2.0, 2.0], mode="linear")], [("x", small)], ["y"])
    make("upsample_opset9_nearest", 9, [helper.make_node("Upsample", ["x", "scales"], ["y"])],
         [("x", small)], ["y"], [("scales", np.array([1, 1, 3, 2], dtype=np.float32))])
    make("upsample_opset9_linear", 9, [helper.make_node("Upsample", ["x", "scales"], ["y"], mode="linear")],
         [("x", small)], ["y"], [("scales", np.array([1, 1, 2, 2], dtype=np.float32))])
    make("resize_opset10_nearest", 10, [helper.make_node("Resize", ["x", "scales"], ["y"])],
         [("x", small)], ["y"], [("scales", np.array([1, 1, 2, 1.5], dtype=np.float32))])
    make("resize_opset10_linear", 10, [helper.make_node("Resize", ["x", "scales"], ["y"], mode="linear")],
         [("x", small)], ["y"], [("scales", np.array([1, 1, 2, 2], dtype=np.float32))])
    make("resize_opset11_sizes_half_pixel", 11,
         [helper.make_node("Resize", ["x", "roi", "scales", "sizes"], ["y"], mode="linear")],
         [("x", small)], ["y"], [("roi", np.zeros(0, dtype=np.float32)), ("scales", np.zeros(0, dtype=np.float32)),
                                 ("sizes", np.array([1, 2, 5, 7], dtype=np.int64))])
    make("resize_opset11_nearest_align_corners", 11,
         [helper.make_node("Resize", ["x", "roi", "scales"], ["y"], coordinate_transformation_mode="align_corners",
                           nearest_mode="round_prefer_ceil")],
         [("x", small)], ["y"], [("roi", np.zeros(0, dtype=np.float32)), ("scales", np.array([1, 1, 2, 2], dtype=np.float32))])
    for opset in (11, 12):  # min and max are inputs from 11
        make(f"clip_opset{opset}_inputs", opset, [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
             [("x", f32(3, 4))], ["y"], [("lo", np.array(-0.3, dtype=np.float32)), ("hi", np.array(0.6, dtype=np.float32))])
        make(f"clip_opset{opset}_max_only", opset, [helper.make_node("Clip", ["x", "", "hi"], ["y"])],
             [("x", f32(3, 4))], ["y"], [("hi", np.array(0.2, dtype=np.float32))])
    make("tile_opset7", 7, [helper.make_node("Tile", ["x", "repeats"], ["y"])],
         [("x", f32(2, 3))], ["y"], [("repeats", np.array([2, 3], dtype=np.int64))])
    make("depth_to_space_opset7", 7, [helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=2)],
         [("x", f32(1, 8, 2, 3))], ["y"])
    make("space_to_depth_opset7", 7, [helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2)],
         [("x", f32(1, 2, 4, 6))], ["y"])
    make("flatten_opset7_axis0", 7, [helper.make_node("Flatten", ["x"], ["y"], axis=0)], [("x", x)], ["y"])
    make("gemm_opset7_broadcast_c", 7,
         [helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=0.5, beta=2.0, transB=1)],
         [("a", f32(3, 4))], ["y"], [("b", f32(5, 4)), ("c", f32(5))])
    make("instance_norm_opset7", 7, [helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-4)],
         [("x", f32(2, 3, 4, 5))], ["y"], [("s", f32(3)), ("b", f32(3))])
    make("conv_transpose_opset7", 7,
         [helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 0, 0, 1])],
         [("x", f32(1, 2, 3, 3))], ["y"], [("w", f32(2, 3, 3, 2))])


def recurrent_cases():
    def weights(op, directions, hidden, inputs):
        gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
        return (f32(directions, gates * hidden, inputs, scale=0.5), f32(directions, gates * hidden, hidden, scale=0.5),
                f32(directions, 2 * gates * hidden, scale=0.3))

    steps, batch, inputs, hidden = 5, 3, 4, 6
    for op in ("RNN", "GRU", "LSTM"):
        lower = op.lower()
        for direction in ("forward", "reverse", "bidirectional"):
            d = 2 if direction == "bidirectional" else 1
            w, r, b = weights(op, d, hidden, inputs)
            outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
            names = ["x", "W", "R", "B", "", "h0"] + (["c0"] if op == "LSTM" else [])
            feeds = [("x", f32(steps, batch, inputs)), ("h0", f32(d, batch, hidden, scale=0.5))]
            if op == "LSTM":
                feeds.append(("c0", f32(d, batch, hidden, scale=0.5)))
            for opset in (7, 14):
                make(f"{lower}_{direction}_states_opset{opset}", opset,
                     [helper.make_node(op, names, outs, hidden_size=hidden, direction=direction)],
                     feeds, outs, [("W", w), ("R", r), ("B", b)])
            lengths = np.array([5, 2, 4], dtype=np.int32)
            make(f"{lower}_{direction}_sequence_lens", 14,
                 [helper.make_node(op, ["x", "W", "R", "B", "lens"], outs, hidden_size=hidden, direction=direction)],
                 [("x", f32(steps, batch, inputs))], outs, [("W", w), ("R", r), ("B", b), ("lens", lengths)])
        w, r, b = weights(op, 1, hidden, inputs)
        outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
        make(f"{lower}_clip", 14, [helper.make_node(op, ["x", "W", "R", "B"], outs, hidden_size=hidden, clip=0.4)],
             [("x", f32(steps, batch, inputs))], outs, [("W", w), ("R", r), ("B", b)])
        explicit = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}[op]
        make(f"{lower}_explicit_default_activations", 14,
             [helper.make_node(op, ["x", "W", "R"], ["", "Y_h"], hidden_size=hidden, activations=explicit)],
             [("x", f32(steps, batch, inputs))], ["Y_h"], [("W", w), ("R", r)])
    w, r, b = weights("GRU", 2, hidden, inputs)
    make("gru_linear_before_reset_bidirectional", 14,
         [helper.make_node("GRU", ["x", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden, linear_before_reset=1,
                           direction="bidirectional")],
         [("x", f32(steps, batch, inputs))], ["Y", "Y_h"], [("W", w), ("R", r), ("B", b)])
    w, r, b = weights("RNN", 1, hidden, inputs)
    make("rnn_relu", 14, [helper.make_node("RNN", ["x", "W", "R", "B"], ["Y"], hidden_size=hidden, activations=["Relu"])],
         [("x", f32(steps, batch, inputs))], ["Y"], [("W", w), ("R", r), ("B", b)])
    # Parameterised activations: activation_alpha/beta are consumed in the order of the activations.
    w, r, b = weights("LSTM", 1, hidden, inputs)
    make("lstm_parameterised_activations", 14,
         [helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Y_h", "Y_c"], hidden_size=hidden,
                           activations=["HardSigmoid", "LeakyRelu", "Softsign"], activation_alpha=[0.3, 0.05],
                           activation_beta=[0.45])],
         [("x", f32(steps, batch, inputs))], ["Y", "Y_h", "Y_c"], [("W", w), ("R", r), ("B", b)])
    make("lstm_input_forget", 14,
         [helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Y_h", "Y_c"], hidden_size=hidden, input_forget=1)],
         [("x", f32(steps, batch, inputs))], ["Y", "Y_h", "Y_c"], [("W", w), ("R", r), ("B", b)])
    w, r, b = weights("GRU", 2, hidden, inputs)
    make("gru_parameterised_activations_bidirectional", 14,
         [helper.make_node("GRU", ["x", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden, direction="bidirectional",
                           activations=["Affine", "ScaledTanh", "HardSigmoid", "Elu"],
                           activation_alpha=[0.25, 1.3, 0.15, 0.8], activation_beta=[0.5, 0.7, 0.55])],
         [("x", f32(steps, batch, inputs))], ["Y", "Y_h"], [("W", w), ("R", r), ("B", b)])
    w, r, b = weights("RNN", 2, hidden, inputs)
    make("rnn_parameterised_activations_bidirectional", 14,
         [helper.make_node("RNN", ["x", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden, direction="bidirectional",
                           activations=["ThresholdedRelu", "Softplus"], activation_alpha=[0.2])],
         [("x", f32(steps, batch, inputs))], ["Y", "Y_h"], [("W", w), ("R", r), ("B", b)])
    w, r, b = weights("RNN", 1, hidden, inputs)
    make("rnn_leaky_relu_default_alpha", 14,
         [helper.make_node("RNN", ["x", "W", "R", "B"], ["Y"], hidden_size=hidden, activations=["LeakyRelu"])],
         [("x", f32(steps, batch, inputs))], ["Y"], [("W", w), ("R", r), ("B", b)])
    # Peepholes: the backend suite's test_lstm_with_peepholes covers them (ONNX Runtime's peephole
    # results differ from the spec's reference, so no case is made with it here).


def if_cases():
    # A constant condition from a shape comparison; the branches read the outer-scope x and w.
    for opset, taken in ((11, "then"), (13, "else")):
        x = f32(2, 3)
        then_graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["t"])], "then_branch", [],
                                       [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
        else_graph = helper.make_graph([helper.make_node("Relu", ["x"], ["e0"]), helper.make_node("Mul", ["e0", "x"], ["e"])],
                                       "else_branch", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
        width = 3 if taken == "then" else 4
        nodes = [helper.make_node("Shape", ["x"], ["shape"]),
                 helper.make_node("Gather", ["shape", "one"], ["width"], axis=0),
                 helper.make_node("Equal", ["width", "three"], ["cond"]),
                 helper.make_node("If", ["cond"], ["y"], then_branch=then_graph, else_branch=else_graph)]
        x = f32(2, width)
        make(f"if_constant_condition_{taken}_opset{opset}", opset, nodes, [("x", x)], ["y"],
             [("one", np.array(1, dtype=np.int64)), ("three", np.array(3, dtype=np.int64)), ("w", f32(width, 3))])


def main():
    force = "--force" in sys.argv[1:]
    with open(os.path.abspath(__file__), "rb") as f:
        digest = hashlib.sha256(f.read() + ort.__version__.encode()).hexdigest()[:16]
    stamp = os.path.join(OUT, f".stamp-{digest}")
    if os.path.exists(stamp) and not force:
        print(f"make-frontend-node-tests: {OUT} present")
        return
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    legacy_cases()
    legacy_form_cases()
    recurrent_cases()
    if_cases()
    open(stamp, "w").close()
    print(f"make-frontend-node-tests: wrote {len(os.listdir(OUT)) - 1} cases to {OUT}")


if __name__ == "__main__":
    main()
