#!/usr/bin/env python3
"""The census of the published models (Tests/Models/published-models.json) against Sieve's ONNX frontend.

For every model: the opsets it imports, the op types it uses with counts (the main graph and the
bodies of If/Loop/Scan apart), its If nodes with what their condition derives from (constants,
shapes, an input bound with --bind, or run-time data) and which branch the reference input takes,
its recurrent ops with their attributes, its dimensions declared symbolic or -1, and the variants
(attributes, modes, attribute-or-input forms) of every op it uses. The ops Sieve reads today are
read from Sources/SieveONNX/ONNXImporter.swift (`supportedOps`, the keys of the converters table in
Sources/SieveONNX/Operators.swift).

Writes docs/model-census.md (and, with --json FILE, the raw census). Run scripts/fetch-models.sh,
scripts/make-model-manifest.py and scripts/make-model-references.py first (the references tell
which branch of each If the realistic input takes). Deterministic: a second run rewrites the same file.
"""

import argparse
import collections
import json
import os
import re
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "Tests", "Models", "published-models.json")
IMPORTER = os.path.join(ROOT, "Sources", "SieveONNX", "ONNXImporter.swift")
OPERATORS = os.path.join(ROOT, "Sources", "SieveONNX", "Operators.swift")
OUTPUT = os.path.join(ROOT, "docs", "model-census.md")

SUBGRAPH_OPS = {"If", "Loop", "Scan"}
RECURRENT_OPS = {"LSTM", "GRU", "RNN"}
# What changed between an op's older definition and the one at opset 13, for the ops the opset < 13 models use.
TYPES_ONLY = "new element types only (bfloat16 and the like); same semantics for these models"
OLD_VERSION_NOTES = {
    "Softmax": "before 13 the input is coerced to 2-D at `axis`: the same as 13 when `axis` is the last (the Softmax variants below say so for each use)",
    "Squeeze": "before 13 `axes` is an attribute, not an input",
    "Unsqueeze": "before 13 `axes` is an attribute, not an input",
    "Split": "before 13 `split` is an attribute, not an input",
    "ReduceSum": "before 13 `axes` is an attribute, not an input",
    "Resize": "Resize-11: `roi` and `scales` are required inputs (empty when unused), `sizes` optional; 13 adds nothing these models use (asymmetric/nearest/floor with constant scales)",
    "Clip": "min and max are already inputs (since 11); 12 and 13 add element types",
    "MaxPool": "12 adds int8/uint8 inputs; same semantics for float",
    "ReduceMean": TYPES_ONLY + " (axes is an attribute until 18, as Sieve already reads)",
    "Gather": TYPES_ONLY + " (negative indices since 11)",
    "Slice": TYPES_ONLY + " (starts/ends/axes/steps are inputs since 10)",
    "Constant": TYPES_ONLY + " (value_float(s)/value_int(s) since 12)",
    "Shape": TYPES_ONLY + " (start/end arrive in 15)",
    "Pad": "pads is an input since 11; before 11 an attribute",
}
for _op in ("Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Sqrt", "Exp", "Cast", "Concat", "Flatten", "Gemm",
            "Identity", "MatMul", "Pow", "Reshape", "Transpose", "Equal", "Where", "Neg", "Erf"):
    OLD_VERSION_NOTES.setdefault(_op, TYPES_ONLY)

# Operand classes, from most to least foldable.
CONST, SHAPE, BOUND, RUNTIME = 0, 1, 2, 3
CLASS_NAMES = {CONST: "constant", SHAPE: "shape-derived", BOUND: "bound input", RUNTIME: "run-time data"}
# Inputs that Sieve (and any AOT compiler) needs as constants once shapes are fixed: (op, input index, what).
SHAPE_LIKE_INPUTS = {
    "Reshape": {1: "shape"}, "Expand": {1: "shape"}, "ConstantOfShape": {0: "shape"}, "Tile": {1: "repeats"},
    "Slice": {1: "starts", 2: "ends", 3: "axes", 4: "steps"}, "Squeeze": {1: "axes"}, "Unsqueeze": {1: "axes"},
    "Clip": {1: "min", 2: "max"}, "Pad": {1: "pads", 2: "constant_value", 3: "axes"},
    "Resize": {1: "roi", 2: "scales", 3: "sizes"}, "Upsample": {1: "scales"}, "Split": {1: "split"},
    "TopK": {1: "k"}, "Range": {0: "start", 1: "limit", 2: "delta"}, "CumSum": {1: "axis"},
    "OneHot": {1: "depth"}, "ReduceSum": {1: "axes"}, "ReduceMean": {1: "axes"}, "ReduceMax": {1: "axes"},
    "ReduceMin": {1: "axes"}, "ReduceProd": {1: "axes"}, "ReduceL2": {1: "axes"}, "ReduceL1": {1: "axes"},
    "ReduceSumSquare": {1: "axes"}, "ReduceLogSumExp": {1: "axes"}, "Trilu": {1: "k"},
    "Dropout": {1: "ratio", 2: "training_mode"}, "LSTM": {4: "sequence_lens"}, "GRU": {4: "sequence_lens"},
    "RNN": {4: "sequence_lens"},
}


# MARK: Sieve's supported set

def sieve_supported_ops():
    """The ONNX op types Sieve reads (the keys of `GraphBuilder.converters` in Operators.swift, which
    `ONNXImporter.supportedOps` returns), the same set as the table's entries, and the oldest opset read."""
    with open(OPERATORS) as handle:
        operators = handle.read()
    match = re.search(r"static let converters:[^=]*=\s*\[(.*?)\n\s*\]\n", operators, re.S)
    if not match:
        sys.exit(f"model-census: cannot find the converters table in {OPERATORS}")
    supported = set(re.findall(r'^\s*"([A-Za-z0-9_]+)":', match.group(1), re.M))
    with open(IMPORTER) as handle:
        text = handle.read()
    if not re.search(r"supportedOps[^\n]*GraphBuilder\.converters\.keys", text):
        sys.exit(f"model-census: supportedOps in {IMPORTER} is no longer the converters table's keys")
    minimum = re.search(r"minimumOpset\s*=\s*(\d+)", text)
    # The table is both the supported set and the dispatch, so the two cannot disagree.
    return supported, set(supported), int(minimum.group(1)) if minimum else None


# MARK: Graph walking

class Scope:
    """One graph (the main graph or a subgraph) with the classes of the names visible in it."""

    def __init__(self, graph, path, parent=None, bound=()):
        self.graph, self.path, self.parent = graph, path, parent
        self.classes = {}
        self.producers = {}
        if parent is None:
            initializers = {t.name for t in graph.initializer}
            for value in graph.input:
                if value.name in initializers:
                    continue
                self.classes[value.name] = BOUND if value.name in bound else RUNTIME
        else:
            for value in graph.input:  # Loop/Scan body inputs vary per iteration
                self.classes[value.name] = RUNTIME
        for tensor in graph.initializer:
            self.classes[tensor.name] = CONST
        self.classes[""] = CONST

    def lookup(self, name):
        scope = self
        while scope is not None:
            if name in scope.classes:
                return scope.classes[name]
            scope = scope.parent
        return RUNTIME

    def producer(self, name):
        scope = self
        while scope is not None:
            if name in scope.producers:
                return scope.producers[name]
            scope = scope.parent
        return None


def subgraphs(node):
    for attribute in node.attribute:
        if attribute.type == onnx.AttributeProto.GRAPH:
            yield attribute.name, attribute.g
        elif attribute.type == onnx.AttributeProto.GRAPHS:
            for index, graph in enumerate(attribute.graphs):
                yield f"{attribute.name}[{index}]", graph


def walk(scope, visit):
    """Visits every node depth-first in order, with its scope, computing operand classes on the way."""
    for node in scope.graph.node:
        inputs = [scope.lookup(name) for name in node.input]
        if node.op_type in ("Shape", "Size"):
            result = SHAPE if inputs[0] != CONST else CONST
        elif node.op_type == "Constant":
            result = CONST
        elif node.op_type in SUBGRAPH_OPS:
            result = max(inputs, default=CONST)
        else:
            result = max(inputs, default=CONST)
            if node.op_type in ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"):
                result = RUNTIME
        visit(scope, node, inputs)
        children = []
        for name, graph in subgraphs(node):
            child = Scope(graph, scope.path + [f"{node.op_type} {node.name or node.output[0]} / {name}"], scope)
            walk(child, visit)
            children.append(child)
        if node.op_type == "If" and children:
            # An If's outputs are as foldable as its condition and the branch outputs.
            branch_classes = [max((child.lookup(o.name) for o in child.graph.output), default=CONST) for child in children]
            result = max([inputs[0]] + branch_classes)
        elif node.op_type in ("Loop", "Scan"):
            result = RUNTIME
        for output in node.output:
            scope.classes[output] = result
            scope.producers[output] = node


def flatten(model, feeds):
    """The model with every If replaced by the branch the reference input takes, and which branch that is
    for each If, by its first output name.

    Runs ONNX Runtime with the conditions of the main graph's If nodes as extra outputs, inlines the
    branch each takes (ONNX forbids shadowing, so names stay unique), and repeats until no If is
    left: nested Ifs are decided as their enclosing branch is inlined, as an importer folding them would.
    """
    import onnxruntime as ort
    taken = {}
    current = onnx.ModelProto()
    current.CopyFrom(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    for _ in range(64):
        ifs = [n for n in current.graph.node if n.op_type == "If"]
        if not ifs:
            break
        probe = onnx.ModelProto()
        probe.CopyFrom(current)
        known = {o.name for o in probe.graph.output}
        conditions = []
        for node in ifs:
            if node.input[0] not in known:
                probe.graph.output.append(helper.make_tensor_value_info(node.input[0], onnx.TensorProto.BOOL, None))
                known.add(node.input[0])
            conditions.append(node.input[0])
        session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
        values = dict(zip(conditions, session.run(conditions, {k: v for k, v in feeds.items()
                                                              if k in {i.name for i in session.get_inputs()}})))
        nodes = []
        for node in current.graph.node:
            if node.op_type != "If":
                nodes.append(node)
                continue
            choice = bool(np.asarray(values[node.input[0]]).item())
            taken[node.output[0]] = choice
            branch = next(a.g for a in node.attribute if a.name == ("then_branch" if choice else "else_branch"))
            nodes.extend(branch.node)
            current.graph.initializer.extend(branch.initializer)
            for output, result in zip(branch.output, node.output):
                if result:
                    nodes.append(helper.make_node("Identity", [output.name], [result]))
        del current.graph.node[:]
        current.graph.node.extend(nodes)
    return current, taken


def runtime_values(flat, feeds):
    """Shape of every tensor the reference run computes, and the value of the small ones (<= 16 elements)."""
    import onnxruntime as ort
    probe = onnx.ModelProto()
    probe.CopyFrom(flat)
    known = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for output in node.output:
            if output and output not in known:
                probe.graph.output.append(helper.make_empty_tensor_value_info(output))
                known.add(output)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = {}
    for name, array in zip(names, session.run(names, feeds)):
        array = np.asarray(array)
        values[name] = (list(array.shape), array if array.size <= 16 else None)
    for name, array in feeds.items():
        values[name] = (list(array.shape), array if array.size <= 16 else None)
    return values


# MARK: Variants

def attribute_value(attribute):
    value = helper.get_attribute_value(attribute)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, onnx.TensorProto):
        array = numpy_helper.to_array(value)
        return f"tensor{list(array.shape)}" if array.size > 4 else array.tolist()
    if isinstance(value, (list, tuple)):
        value = [v.decode(errors="replace") if isinstance(v, bytes) else v for v in value]
        return value if len(value) <= 8 else f"list of {len(value)}"
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, onnx.GraphProto):
        return "graph"
    return value


def attributes(node):
    return {a.name: attribute_value(a) for a in node.attribute}


def fmt(values):
    return ", ".join(f"{k}={v}" for k, v in values.items())


class Shapes:
    """Shapes and small values of the tensors of the reference run (ONNX Runtime), and of every initializer."""

    def __init__(self, model, values):
        self.shapes = {name: shape for name, (shape, _) in values.items()}
        self.values = {name: value for name, (_, value) in values.items() if value is not None}

        def collect(graph):
            for tensor in graph.initializer:
                self.shapes.setdefault(tensor.name, list(tensor.dims))
                if np.prod(tensor.dims) <= 16:
                    self.values.setdefault(tensor.name, numpy_helper.to_array(tensor))
            for node in graph.node:
                for _, sub in subgraphs(node):
                    collect(sub)
        collect(model.graph)

    def rank(self, name):
        shape = self.shapes.get(name)
        return None if shape is None else len(shape)

    def shape(self, name):
        return self.shapes.get(name)


def variant(node, scope, opset, shapes, constants):
    """A short description of the form in which `node` uses its op, for the implementers' to-do list."""
    op, a = node.op_type, attributes(node)
    present = [i for i, name in enumerate(node.input) if name]
    cls = lambda i: CLASS_NAMES[scope.lookup(node.input[i])] if i < len(node.input) and node.input[i] else None  # noqa: E731
    rank = shapes.rank(node.input[0]) if node.input else None
    parts = collections.OrderedDict()

    def value_of(i):
        if i < len(node.input) and node.input[i]:
            value = constants.get(node.input[i])
            if value is not None:
                if value.size > 8:
                    return f"tensor{list(value.shape)}"
                if value.dtype.kind == "f":
                    items = [float(f"{v:.6g}") for v in value.reshape(-1)]
                    return items if value.ndim else items[0]
                return value.tolist()
        return None

    if op == "Resize":
        parts["mode"] = a.get("mode", "nearest")
        parts["coordinate_transformation_mode"] = a.get("coordinate_transformation_mode", "half_pixel")
        if parts["mode"] == "nearest":
            parts["nearest_mode"] = a.get("nearest_mode", "round_prefer_floor")
        if parts["mode"] == "cubic":
            parts["cubic_coeff_a"] = a.get("cubic_coeff_a", -0.75)
        for key in ("exclude_outside", "antialias", "keep_aspect_ratio_policy", "axes", "extrapolation_value"):
            if key in a:
                parts[key] = a[key]
        names = {1: "roi", 2: "scales", 3: "sizes"} if opset >= 11 else {1: "scales"}
        given = [f"{names[i]} ({cls(i)}{': ' + str(value_of(i)) if value_of(i) is not None else ''})"
                 for i in present if i in names and not (names[i] == "roi" and value_of(i) in ([], None) and cls(i) == "constant")]
        parts["given"] = "; ".join(given)
        parts["rank"] = rank
    elif op == "Upsample":
        parts["mode"] = a.get("mode", "nearest")
        parts["scales"] = f"attribute {a['scales']}" if "scales" in a else f"input ({cls(1)}: {value_of(1)})"
    elif op == "Pad":
        parts["mode"] = a.get("mode", "constant")
        if "pads" in a:
            parts["pads"] = f"attribute {a['pads']}"
            parts["value"] = a.get("value", 0.0)
        else:
            pads = value_of(1)
            if isinstance(pads, list) and len(pads) % 2 == 0:
                half = len(pads) // 2
                where = [f"axis {axis} +({pads[axis]}, {pads[axis + half]})" for axis in range(half)
                         if pads[axis] or pads[axis + half]]
                parts["pads"] = f"input ({cls(1)}), padding {', '.join(where) or 'nothing'}"
            else:
                parts["pads"] = f"input ({cls(1)}{': ' + str(pads) if pads is not None else ''})"
            if 2 in present:
                parts["constant_value"] = f"input ({cls(2)}: {value_of(2)})"
            if 3 in present:
                parts["axes"] = f"input ({cls(3)}: {value_of(3)})"
        parts["rank"] = rank
    elif op == "Split":
        parts["axis"] = a.get("axis", 0)
        if "split" in a:
            parts["form"] = f"split attribute {a['split']}"
        elif 1 in present:
            parts["form"] = f"split input ({cls(1)}: {value_of(1)})"
        elif "num_outputs" in a:
            parts["form"] = f"num_outputs={a['num_outputs']}"
        else:
            parts["form"] = "equal parts (no split)"
        parts["outputs"] = len(node.output)
    elif op.startswith("Reduce") or op in ("ArgMax", "ArgMin"):
        if "axes" in a:
            parts["axes"] = f"attribute {a['axes']}"
        elif 1 in present:
            parts["axes"] = f"input ({cls(1)}: {value_of(1)})"
        elif "axis" in a or op in ("ArgMax", "ArgMin"):
            parts["axis"] = a.get("axis", 0)
        else:
            parts["axes"] = "none (all axes)"
        parts["keepdims"] = a.get("keepdims", 1)
        for key in ("noop_with_empty_axes", "select_last_index"):
            if key in a:
                parts[key] = a[key]
        parts["rank"] = rank
    elif op == "Clip":
        if "min" in a or "max" in a:
            parts["form"] = f"attributes min={a.get('min', '-inf')} max={a.get('max', 'inf')}"
        else:
            parts["form"] = "inputs " + ", ".join(f"{['', 'min', 'max'][i]} ({cls(i)}: {value_of(i)})" for i in present if i > 0)
    elif op in ("Squeeze", "Unsqueeze"):
        if "axes" in a:
            parts["axes"] = f"attribute {a['axes']}"
        elif 1 in present:
            parts["axes"] = f"input ({cls(1)})"
        else:
            parts["axes"] = "none"
    elif op == "Slice":
        if "starts" in a:
            parts["form"] = "attributes (opset < 10)"
        else:
            parts["form"] = "inputs " + ", ".join(f"{['data', 'starts', 'ends', 'axes', 'steps'][i]} {cls(i)}" for i in present if i > 0)
            steps = value_of(4)
            if isinstance(steps, list) and any(s != 1 for s in steps):
                parts["steps"] = steps
    elif op in ("Softmax", "LogSoftmax", "Hardmax"):
        axis = a.get("axis", 1 if opset < 13 else -1)
        parts["axis"] = axis
        parts["rank"] = rank
        if opset < 13 and rank is not None:
            last = axis in (-1, rank - 1)
            parts["opset<13"] = "coerced to 2-D; same as opset 13 (axis is the last)" if last else "coerced to 2-D over axes >= axis: differs from opset 13"
    elif op in ("Conv", "ConvTranspose", "ConvInteger"):
        weight = shapes.shape(node.input[1])
        spatial = len(weight) - 2 if weight else None
        parts["spatial"] = f"{spatial}-D" if spatial is not None else "?"
        group = a.get("group", 1)
        if group != 1:
            channels = weight[0] if op == "Conv" and weight else None
            parts["group"] = "depthwise" if group == channels else group
        for key in ("auto_pad",):
            if key in a and a[key] != "NOTSET":
                parts[key] = a[key]
        if any(d != 1 for d in a.get("dilations", [1]) if isinstance(d, int)):
            parts["dilations"] = a["dilations"]
        if op == "ConvTranspose":
            for key in ("strides", "pads", "output_padding", "output_shape"):
                if key in a:
                    parts[key] = a[key]
            parts["kernel"] = weight[2:] if weight else "?"
        else:
            strides = a.get("strides", [1])
            if isinstance(strides, list) and any(s != 1 for s in strides):
                parts["strided"] = strides
        parts["bias"] = 2 in present
    elif op in ("MaxPool", "AveragePool", "LpPool"):
        kernel = a.get("kernel_shape", [])
        parts["spatial"] = f"{len(kernel)}-D" if isinstance(kernel, list) else "?"
        parts["kernel"] = kernel
        parts["strides"] = a.get("strides", "1s")
        pads = a.get("pads", [])
        if isinstance(pads, list) and any(pads):
            parts["pads"] = pads
        for key in ("auto_pad", "ceil_mode", "count_include_pad", "dilations", "storage_order"):
            if key in a and a[key] not in ("NOTSET", 0):
                parts[key] = a[key]
        if op == "MaxPool" and len(node.output) > 1 and node.output[1]:
            parts["indices_output"] = True
    elif op == "BatchNormalization":
        parts["opset"] = opset
        for key in ("spatial", "is_test", "consumed_inputs", "training_mode"):
            if key in a:
                parts[key] = a[key]
        parts["outputs"] = len([o for o in node.output if o])
        parts["rank"] = rank
    elif op in RECURRENT_OPS:
        parts["direction"] = a.get("direction", "forward")
        parts["layout"] = a.get("layout", 0)
        parts["hidden_size"] = a.get("hidden_size")
        parts["activations"] = a.get("activations", "default")
        for key in ("clip", "input_forget", "linear_before_reset", "activation_alpha", "activation_beta"):
            if key in a:
                parts[key] = a[key]
        names = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
        parts["inputs"] = " ".join(f"{names[i]}({cls(i)})" for i in present)
        parts["outputs"] = " ".join(["Y", "Y_h", "Y_c"][i] for i, o in enumerate(node.output) if o)
    elif op == "Cast":
        parts["to"] = helper.tensor_dtype_to_np_dtype(a["to"]).name if "to" in a else "?"
        parts["from"] = cls(0)
    elif op == "Gather":
        parts["axis"] = a.get("axis", 0)
        parts["indices"] = cls(1)
    elif op == "Dropout":
        for key in ("ratio", "is_test", "seed"):
            if key in a:
                parts[key] = a[key]
        parts["mask_output"] = len(node.output) > 1 and bool(node.output[1])
    elif op == "Gemm":
        parts.update({k: a[k] for k in ("alpha", "beta", "transA", "transB") if k in a})
        parts["C"] = 2 in present
    elif op == "PRelu":
        parts["slope shape"] = shapes.shape(node.input[1])
        parts["x rank"] = rank
    elif op == "Pow":
        exponent = value_of(1)
        parts["exponent"] = exponent if exponent is not None else cls(1)
    elif op == "Shape":
        parts.update({k: a[k] for k in ("start", "end") if k in a})
    elif op in ("Reshape", "Expand", "ConstantOfShape", "Tile", "Range", "TopK", "OneHot", "CumSum", "Trilu"):
        parts.update(a if op != "ConstantOfShape" else {k: v for k, v in a.items() if k != "value"})
        if op == "ConstantOfShape" and "value" in a:
            parts["value"] = a["value"]
        for i, what in SHAPE_LIKE_INPUTS.get(op, {}).items():
            if i in present:
                parts[what] = cls(i)
    elif op == "Einsum":
        parts["equation"] = a.get("equation")
    elif op == "If":
        pass
    else:
        parts.update({k: v for k, v in a.items() if v != "graph"})
        if op in ("Max", "Min", "Sum", "Mean"):
            parts["inputs"] = len(present)
        # What the operands derive from tells whether import-time folding removes the node.
        parts["operands"] = "/".join(CLASS_NAMES[scope.lookup(node.input[i])] for i in present)
    return fmt({k: v for k, v in parts.items() if v is not None and v != ""})


# MARK: Census

def census_of(entry, supported, minimum_opset, references):
    path = os.path.join(ROOT, entry["local_path"])
    model = onnx.load(path)
    opsets = {(o.domain or "ai.onnx"): o.version for o in model.opset_import}
    opset = opsets.get("ai.onnx", 0)

    # The reference run: which branch each If takes, and the shape and small values of every tensor.
    reference = os.path.join(references, entry["id"], "reference.json")
    if not os.path.exists(reference):
        sys.exit(f"model-census: {reference} is missing; run scripts/make-model-references.py")
    with open(reference) as handle:
        meta = json.load(handle)
    feeds = {t["name"]: np.load(os.path.join(references, entry["id"], t["file"]))
             for t in meta["tensors"] if t["role"] == "input"}
    flat, taken = flatten(model, feeds)
    shapes = Shapes(model, runtime_values(flat, feeds))

    main = Scope(model.graph, [], bound=set(entry.get("bind", {})))
    records = []

    def visit(scope, node, input_classes):
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        records.append({"scope": scope, "node": node, "op": (domain + ":" if domain else "") + node.op_type,
                        "domain": domain, "depth": len(scope.path), "input_classes": input_classes,
                        "variant": variant(node, scope, opset, shapes, shapes.values) if not domain else fmt(attributes(node))})

    walk(main, visit)

    # The nodes reached: skip the bodies of branches not taken when the condition is known.
    def reached(record):
        for step in record["scope"].path:
            kind, rest = step.split(" ", 1)
            if kind != "If":
                continue
            name, branch = rest.rsplit(" / ", 1)
            key = next((r["node"].output[0] for r in records if r["op"] == "If" and (r["node"].name or r["node"].output[0]) == name), None)
            if key in taken and branch != ("then_branch" if taken[key] else "else_branch"):
                return False
        return True

    for record in records:
        record["reached"] = reached(record)

    ifs = []
    for record in records:
        if record["op"] != "If":
            continue
        node, scope = record["node"], record["scope"]
        branches = {name: collections.Counter(n.op_type for n in g.node) for name, g in subgraphs(node)}
        chain, seen, stack = [], set(), [node.input[0]]
        while stack and len(chain) < 6:
            name = stack.pop()
            producer = scope.producer(name)
            if producer is None or id(producer) in seen:
                continue
            seen.add(id(producer))
            chain.append(producer.op_type)
            stack.extend(i for i in producer.input if i)
        ifs.append({"name": node.name or node.output[0], "scope": " > ".join(scope.path) or "main graph",
                    "condition": CLASS_NAMES[record["input_classes"][0]], "condition_ops": chain,
                    "taken": None if node.output[0] not in taken else ("then" if taken[node.output[0]] else "else"),
                    "reached": record["reached"],
                    "branches": {k: sum(v.values()) for k, v in branches.items()},
                    "outputs": len(node.output)})

    counts_main = collections.Counter(r["op"] for r in records if r["depth"] == 0)
    counts_sub = collections.Counter(r["op"] for r in records if r["depth"] > 0)
    counts_reached = collections.Counter(r["op"] for r in records if r["reached"])
    missing_reached = sorted(op for op in counts_reached if op not in supported)
    missing_all = sorted(op for op in set(counts_main) | set(counts_sub) if op not in supported)

    # Supported ops used in forms Sieve refuses today.
    problems = []
    for record in records:
        if not record["reached"] or record["domain"]:
            continue
        op, node = record["op"], record["node"]
        if op not in supported:
            continue
        for index, what in SHAPE_LIKE_INPUTS.get(op, {}).items():
            if index < len(node.input) and node.input[index] and record["input_classes"][index] == RUNTIME:
                problems.append(f"{op} `{node.name or node.output[0]}`: its {what} input derives from run-time data")
        if op in ("Conv", "MaxPool", "AveragePool") and record["variant"].startswith("spatial=3-D"):
            problems.append(f"{op} `{node.name}`: 3-D")
        if "indices_output=True" in record["variant"]:
            problems.append(f"MaxPool `{node.name}`: Indices output")
    # Ops whose definition at the model's opset is older than the one at the oldest opset Sieve reads.
    old_versions = {}
    if opset < minimum_opset:
        for op in sorted({r["op"] for r in records if r["reached"] and not r["domain"]}):
            try:
                mine = onnx.defs.get_schema(op, opset).since_version
                sieves = onnx.defs.get_schema(op, minimum_opset).since_version
            except onnx.defs.SchemaError:
                continue
            if mine != sieves:
                old_versions[op] = (mine, sieves)
    recurrent = [{"op": r["op"], "name": r["node"].name, "where": " > ".join(r["scope"].path) or "main graph",
                  "reached": r["reached"], "variant": r["variant"]} for r in records if r["op"] in RECURRENT_OPS]
    variants = collections.defaultdict(collections.Counter)
    for record in records:
        if record["reached"]:
            variants[record["op"]][record["variant"]] += 1

    symbolic = []
    for kind in ("inputs", "outputs"):
        for value in entry[kind]:
            if value["symbolic_axes"]:
                dims = [value["shape"][axis] for axis in value["symbolic_axes"]]
                symbolic.append(f"{kind[:-1]} `{value['name']}` {value['shape']}: axes {value['symbolic_axes']} ({', '.join(map(str, dims))})")
    minus_one = [f"`{v['name']}`" for v in entry["inputs"] + entry["outputs"]
                 if v["shape"] and any(isinstance(d, int) and d < 0 for d in v["shape"])]

    return {"id": entry["id"], "acceptance": entry["acceptance"], "package": f"{entry['package']}=={entry['version']}",
            "path": entry["archive_path"], "opsets": opsets, "ir_version": model.ir_version,
            "producer": entry["producer"], "opset_gap": opset < minimum_opset,
            "nodes_main": sum(counts_main.values()), "nodes_sub": sum(counts_sub.values()),
            "counts_main": dict(sorted(counts_main.items())), "counts_sub": dict(sorted(counts_sub.items())),
            "counts_reached": dict(sorted(counts_reached.items())),
            "missing_reached": missing_reached, "missing_unreached_only": sorted(set(missing_all) - set(missing_reached)),
            "ifs": ifs, "recurrent": recurrent, "symbolic": symbolic, "minus_one": minus_one,
            "problems": sorted(set(problems)), "bind": entry.get("bind", {}), "old_versions": old_versions,
            "variants": {op: dict(sorted(v.items())) for op, v in sorted(variants.items())},
            "sieve_arguments": entry["sieve_arguments"]}


# MARK: Report

def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report(census, supported, cases, minimum_opset):
    accepted = [c for c in census if c["acceptance"]]
    extras = [c for c in census if not c["acceptance"]]
    out = []
    w = out.append
    w("# Census of the published models of issue #12\n")
    w("Generated by `scripts/model-census.py` from the models that `scripts/fetch-models.sh` fetches "
      "(listed in `Tests/Models/published-models.json`) and from Sieve's frontend as it stands: "
      f"`ONNXImporter.supportedOps` ({len(supported)} ops, the converters table of `Operators.swift`), "
      f"with opset {minimum_opset} as the oldest default-domain opset read. Do not edit by hand; rerun the script.\n")
    if supported - cases:
        w(f"Note: in `supportedOps` but without a `case` in Operators.swift: {sorted(supported - cases)}.\n")
    if cases - supported:
        w(f"Note: with a `case` in Operators.swift but not in `supportedOps`: {sorted(cases - supported)}.\n")
    w("\"Reached\" means the node runs on the reference input: nodes inside an `If` branch that the realistic "
      "input (with the manifest's `--bind` values) does not take are left out of the counts of missing ops, "
      "and listed apart. The acceptance models are the 20 of #12; three more files that silero-vad ships "
      "(not reached by `load_silero_vad`) are censused as extras and do not count in the ranking.\n")
    w("The three silero-vad models of the acceptance list are the three that `silero_vad.load_silero_vad` loads: "
      "`silero_vad.onnx` (`onnx=True`, the default opset 16), `silero_vad_16k_op15.onnx` (`opset_version=15`) "
      "and `silero_vad_16k_sequence.onnx` (`sequence=True`). The package ships six `.onnx` files.\n")

    # Ranked table.
    blocking = collections.defaultdict(list)
    for c in accepted:
        for op in c["missing_reached"]:
            blocking[op].append(c)
    gap = [c for c in accepted if c["opset_gap"]]
    rows = []
    for op, models in sorted(blocking.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        nodes = sum(c["counts_reached"].get(op, 0) for c in models)
        sole = [c["id"] + (f" (+ opset {c['opsets']['ai.onnx']})" if c["opset_gap"] else "")
                for c in models if c["missing_reached"] == [op]]
        rows.append([op, len(models), nodes, ", ".join(c["id"] for c in models), ", ".join(sole) or "-"])
    w("## Missing ops ranked by how many acceptance models each blocks\n")
    w(f"{len(accepted)} acceptance models; {sum(1 for c in accepted if not c['missing_reached'])} use only ops Sieve reads; "
      + (f"{len(gap)} import a default-domain opset older than {minimum_opset} "
         f"({', '.join(c['id'] + ' (' + str(c['opsets']['ai.onnx']) + ')' for c in gap)}), which Sieve refuses before looking at ops.\n"
         if gap else f"none imports a default-domain opset older than {minimum_opset}.\n"))
    if rows:
        w(table(["op", "models blocked", "nodes (reached)", "models", "the only missing op of"], rows))
    else:
        w("No acceptance model uses an op Sieve does not read.")
    w("")
    if gap:
        w(f"Besides the ops: **opset < {minimum_opset}** blocks {len(gap)} models "
          f"({', '.join(c['id'] for c in gap)}); the old forms they use are in the variant tables below "
          "(Squeeze/Unsqueeze/Split/Reduce axes as attributes, Softmax's 2-D coercion, Clip, Pad, Dropout, BatchNormalization).\n")
    olds = collections.defaultdict(list)
    for c in accepted:
        for op, (mine, sieves) in c["old_versions"].items():
            olds[(op, mine, sieves)].append(c["id"])
    if olds:
        w(f"The ops of those models whose definition at their opset predates the one at opset {minimum_opset} "
          "(the version each model uses, and the one Sieve implements); the rest read as they are:\n")
        w(table(["op", "version used", f"version at opset {minimum_opset}", "what differs", "models"],
                [[op, mine, sieves, OLD_VERSION_NOTES.get(op, "see the ONNX operator changelog"), ", ".join(ids)]
                 for (op, mine, sieves), ids in sorted(olds.items(), key=lambda kv: (OLD_VERSION_NOTES.get(kv[0][0], "") == TYPES_ONLY, kv[0]))]))
        w("")
    mlimports = [c["id"] for c in accepted if any(d not in ("ai.onnx",) for d in c["opsets"])]
    if mlimports:
        w(f"{', '.join(mlimports)} import the `ai.onnx.ml` domain but use none of its ops; an importer must accept the import.\n")
    unblocked = [c["id"] for c in accepted if not c["missing_reached"] and not c["opset_gap"]]
    w(f"Models with no missing op and a supported opset: {', '.join(unblocked) or 'none'}.\n")
    nonempty = [(c["id"], c["problems"]) for c in accepted if c["problems"]]
    if nonempty:
        w("Supported ops in forms Sieve refuses today (computed shape-like inputs, 3-D, MaxPool indices):\n")
        for model_id, problems in nonempty:
            w(f"- {model_id}: " + "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else ""))
        w("")

    # Per-model summary.
    w("## Per model\n")
    rows = []
    for c in census:
        missing = ", ".join(c["missing_reached"]) or "none"
        extra = ", ".join(c["missing_unreached_only"])
        opset_text = ", ".join(f"{d} {v}" for d, v in c["opsets"].items())
        rows.append([c["id"] + ("" if c["acceptance"] else " (extra)"), opset_text + (" ⚠" if c["opset_gap"] else ""),
                     f"{c['nodes_main']} + {c['nodes_sub']}", missing, extra or "-"])
    w("Nodes are main graph + inside subgraphs; ⚠ marks an opset older than Sieve reads; the last column lists "
      "missing ops found only in `If` branches the reference input does not take.\n")
    w(table(["model", "opsets", "nodes", "missing ops (reached)", "missing only in branches not taken"], rows))
    w("")

    for c in census:
        w(f"### {c['id']}{'' if c['acceptance'] else ' (extra)'}\n")
        w(f"`{c['package']}`, `{c['path']}`; IR {c['ir_version']}, producer `{c['producer'] or '(none)'}`; "
          f"opsets: {', '.join(f'`{d}` {v}' for d, v in c['opsets'].items())}.\n")
        arguments = " ".join(c["sieve_arguments"]) or "(no arguments: every dimension is static)"
        w(f"- Run with: `{arguments}`")
        reached_counts = c["counts_reached"]
        w(f"- Missing ops (reached): {', '.join(f'{op} ×{reached_counts[op]}' for op in c['missing_reached']) or 'none'}")
        if c["missing_unreached_only"]:
            w(f"- Missing ops only in branches not taken: {', '.join(c['missing_unreached_only'])}")
        if c["problems"]:
            w(f"- Supported ops in refused forms: {'; '.join(c['problems'])}")
        if c["old_versions"]:
            olds_text = ", ".join(f"{op}-{mine} (Sieve: {op}-{sieves})" for op, (mine, sieves) in c["old_versions"].items())
            w(f"- Older op versions (opset {c['opsets']['ai.onnx']}): {olds_text}")
        w(f"- Symbolic or unknown dimensions: {'; '.join(c['symbolic']) or 'none'}")
        if c["minus_one"]:
            w(f"- Declared as -1: {', '.join(c['minus_one'])}")
        w(f"- Ops in the main graph: {', '.join(f'{k} {v}' for k, v in c['counts_main'].items())}")
        if c["counts_sub"]:
            w(f"- Ops inside subgraphs (all branches): {', '.join(f'{k} {v}' for k, v in c['counts_sub'].items())}")
        if c["ifs"]:
            w(f"- `If` nodes ({len(c['ifs'])}):")
            for i in c["ifs"]:
                state = ("takes " + i["taken"]) if i["taken"] else ("not reached" if not i["reached"] else "branch unknown")
                w(f"  - `{i['name']}` in {i['scope']}: condition {i['condition']} (from {' ← '.join(i['condition_ops'])}); "
                  f"branches {', '.join(f'{k} {v} nodes' for k, v in i['branches'].items())}; {state}")
        for r in c["recurrent"]:
            w(f"- {r['op']} `{r['name']}` ({r['where']}{'' if r['reached'] else ', not reached'}): {r['variant']}")
        w("")

    # Variants, for every op used by an acceptance model.
    w("## Variants used, per op\n")
    w("Each line is one form of the op (attributes, attribute-or-input forms, and for inputs that must be "
      "constants what they derive from: `constant`, `shape-derived` (folds once input shapes are fixed), "
      "`bound input` (folds with `--bind`), `run-time data`), with the number of reached nodes and the models. "
      "Ops Sieve does not read yet are marked **missing**.\n")
    per_op = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, set()]))
    for c in accepted:
        for op, forms in c["variants"].items():
            for form, count in forms.items():
                per_op[op][form][0] += count
                per_op[op][form][1].add(c["id"])
    skip_detail = {"Constant", "Identity", "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Sqrt", "Exp", "Neg",
                   "Erf", "Equal", "Where", "MatMul", "Concat", "Transpose", "Flatten"}
    for op in sorted(per_op, key=lambda o: (o in supported, o)):
        forms = per_op[op]
        total = sum(v[0] for v in forms.values())
        models = sorted(set().union(*(v[1] for v in forms.values())))
        w(f"### {op}{' — **missing**' if op not in supported else ''}\n")
        w(f"{total} nodes in {len(models)} models.\n")
        if op in skip_detail and op in supported:
            w("")
            continue
        for form, (count, users) in sorted(forms.items(), key=lambda kv: -kv[1][0]):
            w(f"- `{form or '(defaults)'}` — {count} × in {', '.join(sorted(users))}")
        w("")
    return "\n".join(out).rstrip() + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the raw census to this file")
    parser.add_argument("--output", default=OUTPUT, help="the Markdown file to write (default docs/model-census.md)")
    args = parser.parse_args()
    with open(MANIFEST) as handle:
        document = json.load(handle)
    supported, cases, minimum_opset = sieve_supported_ops()
    references = os.path.join(ROOT, document.get("cache", ".cache/models"), "references")
    census = [census_of(entry, supported, minimum_opset, references) for entry in document["models"]]
    text = report(census, supported, cases, minimum_opset)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    current = open(args.output).read() if os.path.exists(args.output) else None
    if current != text:
        with open(args.output, "w") as handle:
            handle.write(text)
        print(f"model-census: wrote {os.path.relpath(args.output, ROOT)}")
    else:
        print(f"model-census: {os.path.relpath(args.output, ROOT)} is up to date")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(census, handle, indent=2, default=str)


if __name__ == "__main__":
    main()
