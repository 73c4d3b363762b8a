"""Writes the small example models in Examples/models/ with sample inputs and
onnxruntime's outputs for them.

    .venv/bin/python scripts/make-example-models.py [--out Examples/models]

Models (see Examples/models/README.md):
  mlp.onnx      scikit-learn MLPClassifier on the bundled digits data, via skl2onnx
  encoder.onnx  one transformer-encoder block, built with onnx.helper (opset 17)
  cnn.onnx      a small convolutional classifier, built with onnx.helper (opset 17)

For every model it also writes <name>.input.npy (the sample input) and
<name>.<output>.npy for each graph output, as computed by onnxruntime on CPU.
Seeds are fixed, so the .onnx and .input.npy files come out byte-identical on
every run with the pinned packages; onnxruntime's outputs can differ in the last
bits between CPUs.
"""

import argparse
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # the IR version that goes with opset 17
PRODUCER = "sieve make-example-models.py"
MAX_MODEL_BYTES = 200 * 1024


def initializer(name, array):
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def finish(graph, name, opsets):
    model = helper.make_model(graph, opset_imports=opsets, producer_name=PRODUCER)
    model.ir_version = IR_VERSION
    model.graph.name = name
    return model


# --- mlp: scikit-learn MLPClassifier through skl2onnx -------------------------


def prune_to_outputs(model, keep_outputs):
    """Drops graph outputs not in keep_outputs, the nodes only they needed, the
    initializers no node reads any more and opset imports no node uses."""
    graph = model.graph
    kept = [o for o in graph.output if o.name in keep_outputs]
    del graph.output[:]
    graph.output.extend(kept)
    needed = set(keep_outputs)
    live = []
    for node in reversed(graph.node):
        if any(out in needed for out in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
    live.reverse()
    del graph.node[:]
    graph.node.extend(live)
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    domains = {n.domain for n in graph.node}
    opsets = [o for o in model.opset_import if o.domain in domains or o.domain in ("", "ai.onnx")]
    del model.opset_import[:]
    model.opset_import.extend(opsets)


# The digits splits that make_mlp fills in and main writes beside the model.
MLP_SPLITS = {}


def make_mlp():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    features, labels = load_digits(return_X_y=True)
    features = features.astype(np.float32)  # raw pixel intensities 0..16
    # A fixed split: 1297 digits to train on (the first 256 of them are also the calibration set
    # for pruning), 500 held out to measure accuracy after sparsification.
    order = np.random.default_rng(0).permutation(len(features))
    train, held_out = order[:-500], order[-500:]
    clf = MLPClassifier(hidden_layer_sizes=(128, 64), activation="relu", max_iter=500, random_state=0)
    clf.fit(features[train], labels[train])
    print(f"mlp: trained {clf.n_iter_} epochs, training accuracy {clf.score(features[train], labels[train]):.4f}, "
          f"held-out accuracy {clf.score(features[held_out], labels[held_out]):.4f}")
    MLP_SPLITS["calibration"] = features[train[:256]]
    MLP_SPLITS["eval"] = {"input": features[held_out], "labels": labels[held_out].astype(np.int64)}

    model = convert_sklearn(
        clf,
        name="mlp",
        initial_types=[("input", FloatTensorType([None, 64]))],
        target_opset=OPSET,
        options={id(clf): {"zipmap": False}},
    )
    # skl2onnx also emits a 'label' output (ArgMax + ai.onnx.ml ArrayFeatureExtractor);
    # keep only the float probabilities.
    prune_to_outputs(model, ["probabilities"])
    model.graph.name = "mlp"  # skl2onnx names the graph with a random uuid
    model.producer_name = PRODUCER
    model.producer_version = ""
    # skl2onnx leaves the batch dimension unnamed; name it N.
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    sample = features[:4]  # the first four digits: 0, 1, 2, 3
    return model, {"input": sample}


# --- encoder: one transformer-encoder block -----------------------------------


def make_encoder():
    rng = np.random.default_rng(17)
    seq, dim, heads, ffn = 16, 64, 4, 128
    head_dim = dim // heads

    def weight(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    inits = []
    nodes = []

    def const(name, array):
        inits.append(initializer(name, array))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x, name, fan_in, fan_out):
        w = const(f"{name}.weight", weight(fan_in, fan_out))
        b = const(f"{name}.bias", weight(fan_out))
        return node("Add", [node("MatMul", [x, w], f"{name}.matmul"), b], f"{name}.out")

    def layer_norm(x, name, output=None):
        gamma = const(f"{name}.gamma", (1.0 + rng.standard_normal(dim) * 0.1).astype(np.float32))
        beta = const(f"{name}.beta", weight(dim))
        return node("LayerNormalization", [x, gamma, beta], output or f"{name}.out", axis=-1, epsilon=1e-5)

    split_shape = const("heads_shape", np.array([1, seq, heads, head_dim], dtype=np.int64))
    merge_shape = const("model_shape", np.array([1, seq, dim], dtype=np.int64))

    def split_heads(x, name, perm):
        reshaped = node("Reshape", [x, split_shape], f"{name}.split")
        return node("Transpose", [reshaped], f"{name}.heads", perm=perm)

    x = "x"
    q = split_heads(linear(x, "attn.q", dim, dim), "attn.q", [0, 2, 1, 3])  # [1,4,16,16]
    k_t = split_heads(linear(x, "attn.k", dim, dim), "attn.k", [0, 2, 3, 1])  # [1,4,16,16] (K^T)
    v = split_heads(linear(x, "attn.v", dim, dim), "attn.v", [0, 2, 1, 3])  # [1,4,16,16]
    scores = node("MatMul", [q, k_t], "attn.scores")
    scale = const("attn.scale", np.array(math.sqrt(head_dim), dtype=np.float32))
    scaled = node("Div", [scores, scale], "attn.scaled")
    probs = node("Softmax", [scaled], "attn.probs", axis=-1)
    context = node("MatMul", [probs, v], "attn.context")
    merged = node("Transpose", [context], "attn.context.t", perm=[0, 2, 1, 3])
    merged = node("Reshape", [merged, merge_shape], "attn.merged")
    attn = linear(merged, "attn.o", dim, dim)
    h = layer_norm(node("Add", [x, attn], "residual1"), "ln1")

    # GELU in the Erf form PyTorch exports: (x * (1 + erf(x / sqrt(2)))) * 0.5
    up = linear(h, "ffn.up", dim, ffn)
    sqrt2 = const("gelu.sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    one = const("gelu.one", np.array(1.0, dtype=np.float32))
    half = const("gelu.half", np.array(0.5, dtype=np.float32))
    erf = node("Erf", [node("Div", [up, sqrt2], "gelu.div")], "gelu.erf")
    gelu = node("Mul", [node("Mul", [up, node("Add", [erf, one], "gelu.add")], "gelu.mul"), half], "gelu.out")
    down = linear(gelu, "ffn.down", ffn, dim)
    layer_norm(node("Add", [h, down], "residual2"), "ln2", output="y")

    graph = helper.make_graph(
        nodes,
        "encoder",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, seq, dim])],
        inits,
    )
    model = finish(graph, "encoder", [helper.make_opsetid("", OPSET)])
    sample = np.random.default_rng(1).standard_normal((1, seq, dim)).astype(np.float32)
    return model, {"x": sample}


# --- cnn: a small convolutional classifier ------------------------------------


def make_cnn():
    rng = np.random.default_rng(28)

    def he(*shape):
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)

    def small(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    inits = [
        initializer("conv1.weight", he(8, 1, 3, 3)),
        initializer("conv1.bias", small(8)),
        initializer("bn1.scale", (1.0 + small(8)).astype(np.float32)),
        initializer("bn1.bias", small(8)),
        initializer("bn1.mean", small(8)),
        initializer("bn1.var", (1.0 + np.abs(small(8))).astype(np.float32)),
        initializer("conv2.weight", he(16, 8, 3, 3)),
        initializer("conv2.bias", small(16)),
        initializer("fc.weight", he(10, 16 * 7 * 7)),  # Gemm with transB=1: [out, in]
        initializer("fc.bias", small(10)),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["conv1", "bn1.scale", "bn1.bias", "bn1.mean", "bn1.var"],
                         ["bn1"], name="bn1", epsilon=1e-5),
        helper.make_node("Relu", ["bn1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "conv2.weight", "conv2.bias"], ["conv2"], name="conv2",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], group=1),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("AveragePool", ["relu2"], ["pool2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool2"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = finish(graph, "cnn", [helper.make_opsetid("", OPSET)])
    sample = np.random.default_rng(2).random((1, 1, 28, 28), dtype=np.float32)
    return model, {"input": sample}


# --- writing --------------------------------------------------------------------


def write(out_dir, name, model, inputs):
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(out_dir, f"{name}.onnx")
    data = model.SerializeToString(deterministic=True)
    if len(data) > MAX_MODEL_BYTES:
        sys.exit(f"{path}: {len(data)} bytes, over the {MAX_MODEL_BYTES} byte limit")
    with open(path, "wb") as f:
        f.write(data)
    (input_name, sample), = inputs.items()
    np.save(os.path.join(out_dir, f"{name}.input.npy"), sample)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    output_names = [o.name for o in session.get_outputs()]
    for output_name, value in zip(output_names, session.run(output_names, inputs)):
        np.save(os.path.join(out_dir, f"{name}.{output_name}.npy"), value)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"{name}: {path} ({len(data)} bytes), input {input_name}{list(sample.shape)}, "
          f"outputs {output_names}, ops {' '.join(ops)}")


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(repo, "Examples", "models"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, make in (("mlp", make_mlp), ("encoder", make_encoder), ("cnn", make_cnn)):
        model, inputs = make()
        write(args.out, name, model, inputs)
    np.save(os.path.join(args.out, "mlp.calibration.npy"), MLP_SPLITS["calibration"])
    np.save(os.path.join(args.out, "mlp.eval.input.npy"), MLP_SPLITS["eval"]["input"])
    np.save(os.path.join(args.out, "mlp.eval.labels.npy"), MLP_SPLITS["eval"]["labels"])
    print(f"mlp: calibration {list(MLP_SPLITS['calibration'].shape)}, eval {list(MLP_SPLITS['eval']['input'].shape)}")


if __name__ == "__main__":
    main()
