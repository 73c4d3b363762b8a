#!/usr/bin/env python3
# Structural mutants of an ONNX model for the importer's validation test (Tests/SieveONNXTests/ValidationTests.swift):
# seeded edits of attributes, node inputs and outputs, names, node order, dims and element types, each judged by
# onnx.checker.check_model(full_check=True). Writes mutant-NNN.onnx files and manifest.json into the output folder.
#
# Usage: .venv/bin/python scripts/make-validation-mutants.py MODEL.onnx OUTPUT_FOLDER [--count 300] [--seed 18]

import argparse
import copy
import json
import os
import random
import sys
import warnings

import onnx
from onnx import TensorProto, checker, helper

# Element type codes to try: supported ones, unsupported ones and UNDEFINED.
ELEMENT_TYPES = [TensorProto.UNDEFINED, TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32, TensorProto.DOUBLE,
                 TensorProto.FLOAT16, TensorProto.BOOL, TensorProto.UINT8, TensorProto.STRING]
# Op types a node may be changed to: same arity, other arity, not yet defined at opset 16, deprecated, unknown.
OP_TYPES = ["Relu", "Sigmoid", "Tanh", "Identity", "Add", "Mul", "MatMul", "Gemm", "Softmax", "Cast", "Concat",
            "Gelu", "Mish", "LayerNormalization", "Upsample", "Flatten", "Transpose", "NoSuchOp"]
INTERESTING = [-3, -2, -1, 0, 1, 2, 3, 7, 1 << 20]


def value_names(graph):
    """Every name defined in the graph: inputs, initializers and node outputs."""
    names = [i.name for i in graph.input] + [t.name for t in graph.initializer]
    for node in graph.node:
        names.extend(o for o in node.output if o)
    return names


def attribute_edit(graph, rng):
    node = rng.choice(graph.node)
    kind = rng.randrange(9)
    if kind == 0 and node.attribute:  # the type says one thing, the field set another
        attribute = rng.choice(node.attribute)
        attribute.type = rng.choice([t for t in range(1, 15) if t != attribute.type])
        return f"attribute '{attribute.name}' of {node.op_type} gets type {attribute.type}"
    if kind == 1:  # an INT attribute that holds floats (the Softmax axis of issue #18)
        attribute = helper.make_attribute("axis", 1)
        attribute.ClearField("i")
        attribute.floats.extend([1.0])
        node.attribute.append(attribute)
        return f"{node.op_type} gets an INT attribute 'axis' holding floats"
    if kind == 2 and node.attribute:  # two value fields
        attribute = rng.choice(node.attribute)
        attribute.f = 2.5
        attribute.ints.extend([1])
        return f"attribute '{attribute.name}' of {node.op_type} gets a second value field"
    if kind == 3 and node.attribute:  # no type
        attribute = rng.choice(node.attribute)
        attribute.ClearField("type")
        return f"attribute '{attribute.name}' of {node.op_type} loses its type"
    if kind == 4 and node.attribute:  # a required attribute removed
        removed = node.attribute.pop(rng.randrange(len(node.attribute)))
        return f"attribute '{removed.name}' of {node.op_type} removed"
    if kind == 5:  # an attribute the schema does not have
        node.attribute.append(helper.make_attribute(rng.choice(["bogus", "alpha", "axis", "to", "perm"]),
                                                    rng.choice(INTERESTING)))
        return f"{node.op_type} gets an extra INT attribute '{node.attribute[-1].name}'"
    if kind == 6 and node.attribute:  # the same attribute twice
        node.attribute.append(copy.deepcopy(rng.choice(node.attribute)))
        return f"{node.op_type} gets attribute '{node.attribute[-1].name}' twice"
    if kind == 7 and node.attribute:  # another value
        attribute = rng.choice(node.attribute)
        if attribute.type == onnx.AttributeProto.INT:
            attribute.i = rng.choice(INTERESTING + ELEMENT_TYPES + [99])
            return f"attribute '{attribute.name}' of {node.op_type} set to {attribute.i}"
    # an empty attribute name
    attribute = helper.make_attribute("axis", -1)
    attribute.name = ""
    node.attribute.append(attribute)
    return f"{node.op_type} gets an attribute with an empty name"


def arity_edit(graph, rng):
    node = rng.choice(graph.node)
    names = value_names(graph)
    kind = rng.randrange(6)
    if kind == 0:
        node.input.append(rng.choice(names + [""]))
        return f"{node.op_type} gets an extra input '{node.input[-1]}'"
    if kind == 1 and node.input:
        del node.input[rng.randrange(len(node.input))]
        return f"{node.op_type} loses an input"
    if kind == 2:
        node.output.append(rng.choice(["extra", ""]))
        return f"{node.op_type} gets an extra output '{node.output[-1]}'"
    if kind == 3 and node.output:
        del node.output[rng.randrange(len(node.output))]
        return f"{node.op_type} loses an output"
    if kind == 4 and node.input:
        node.input[rng.randrange(len(node.input))] = ""
        return f"an input of {node.op_type} becomes an empty name"
    node.output[0] = ""
    return f"the output of {node.op_type} becomes an empty name"


def name_edit(graph, rng):
    kind = rng.randrange(8)
    names = value_names(graph)
    if kind == 0:
        graph.input.append(copy.deepcopy(rng.choice(graph.input)))
        return f"graph input '{graph.input[-1].name}' declared twice"
    if kind == 1 and graph.initializer:
        graph.initializer.append(copy.deepcopy(rng.choice(graph.initializer)))
        return f"initializer '{graph.initializer[-1].name}' defined twice"
    if kind == 2:  # a node output takes a name that is already defined
        node = rng.choice(graph.node)
        node.output[0] = rng.choice(names)
        return f"the output of {node.op_type} renamed to '{node.output[0]}'"
    if kind == 3:  # an initializer also listed as a graph input, declared right or wrong
        tensor = rng.choice(graph.initializer)
        dims = list(tensor.dims)
        if rng.random() < 0.5 and dims:
            dims[rng.randrange(len(dims))] += 1
        element = tensor.data_type if rng.random() < 0.5 else rng.choice(ELEMENT_TYPES)
        graph.input.append(helper.make_tensor_value_info(tensor.name, element, dims))
        return f"initializer '{tensor.name}' listed as a graph input {element} {dims}"
    if kind == 4:  # a value renamed where it is defined only
        node = rng.choice(graph.node)
        node.output[0] = node.output[0] + "_renamed"
        return f"the output of {node.op_type} renamed where defined only"
    if kind == 5:  # a value renamed everywhere (valid)
        node = rng.choice(graph.node)
        old, new = node.output[0], node.output[0] + "_everywhere"
        for other in graph.node:
            other.input[:] = [new if name == old else name for name in other.input]
            other.output[:] = [new if name == old else name for name in other.output]
        for output in graph.output:
            if output.name == old:
                output.name = new
        return f"'{old}' renamed everywhere"
    if kind == 6:  # an initializer or input renamed
        if rng.random() < 0.5 and graph.initializer:
            tensor = rng.choice(graph.initializer)
            tensor.name = rng.choice([tensor.name + "_x", rng.choice(names)])
            return f"an initializer renamed to '{tensor.name}'"
        graph.input[0].name = rng.choice(["other", rng.choice(names)])
        return f"graph input renamed to '{graph.input[0].name}'"
    graph.output[0].name = rng.choice(names + ["nowhere"])
    return f"graph output renamed to '{graph.output[0].name}'"


def order_edit(graph, rng):
    nodes = list(graph.node)
    kind = rng.randrange(3)
    if kind == 0:
        a, b = rng.randrange(len(nodes)), rng.randrange(len(nodes))
        nodes[a], nodes[b] = nodes[b], nodes[a]
        description = f"nodes {a} and {b} swapped"
    elif kind == 1:
        node = nodes.pop(rng.randrange(len(nodes)))
        nodes.insert(rng.randrange(len(nodes) + 1), node)
        description = f"{node.op_type} moved"
    else:
        nodes.reverse()
        description = "nodes reversed"
    del graph.node[:]
    graph.node.extend(nodes)
    return description


def type_edit(graph, rng):
    kind = rng.randrange(7)
    if kind == 0:
        info = rng.choice(list(graph.input) + list(graph.output))
        dims = info.type.tensor_type.shape.dim
        dim = dims[rng.randrange(len(dims))]
        dim.dim_value = rng.choice([1, 2, 5, 10, 63, 64, 65])
        return f"a dimension of '{info.name}' set to {dim.dim_value}"
    if kind == 1:
        info = rng.choice(list(graph.input) + list(graph.output))
        if rng.random() < 0.5:
            info.type.tensor_type.shape.dim.add().dim_value = 1
            return f"'{info.name}' gets an extra dimension"
        del info.type.tensor_type.shape.dim[-1]
        return f"'{info.name}' loses a dimension"
    if kind == 2:
        info = rng.choice(list(graph.input) + list(graph.output))
        info.type.tensor_type.elem_type = rng.choice(ELEMENT_TYPES)
        return f"'{info.name}' declared with element type {info.type.tensor_type.elem_type}"
    if kind == 3:
        tensor = rng.choice(graph.initializer)
        if tensor.dims:
            tensor.dims[rng.randrange(len(tensor.dims))] = rng.choice([1, 7, 10, 64, 128])
        return f"initializer '{tensor.name}' dims set to {list(tensor.dims)}"
    if kind == 4:
        tensor = rng.choice(graph.initializer)
        tensor.data_type = rng.choice(ELEMENT_TYPES)
        return f"initializer '{tensor.name}' gets element type {tensor.data_type}"
    if kind == 5:  # a value_info entry, declared right or wrong
        node = rng.choice(graph.node)
        dims = [rng.choice([1, "N"]), rng.choice([10, 64, 128])]
        graph.value_info.append(helper.make_tensor_value_info(node.output[0], rng.choice([1, 1, 7]), dims))
        return f"value_info for '{node.output[0]}' {dims}"
    tensor = rng.choice(graph.initializer)  # values held twice
    if tensor.float_data:
        tensor.raw_data = onnx.numpy_helper.to_array(tensor).astype("<f4").tobytes()
    else:
        tensor.float_data.extend(onnx.numpy_helper.to_array(tensor).flatten().tolist())
    return f"initializer '{tensor.name}' holds raw_data and float_data"


def op_edit(graph, rng):
    node = rng.choice(graph.node)
    if rng.random() < 0.8:
        node.op_type = rng.choice(OP_TYPES)
        return f"node changed to {node.op_type}"
    node.domain = rng.choice(["com.microsoft", "ai.onnx.ml", "ai.onnx"])
    return f"node {node.op_type} moved to domain '{node.domain}'"


EDITS = [attribute_edit, attribute_edit, arity_edit, arity_edit, name_edit, name_edit, order_edit, type_edit,
         type_edit, op_edit]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("output")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=18)
    arguments = parser.parse_args()
    warnings.simplefilter("ignore")
    rng = random.Random(arguments.seed)
    original = onnx.load(arguments.model)
    os.makedirs(arguments.output, exist_ok=True)
    manifest = []
    for index in range(arguments.count):
        model = copy.deepcopy(original)
        edits = [rng.choice(EDITS)(model.graph, rng) for _ in range(1 if rng.random() < 0.7 else 2)]
        file = f"mutant-{index:03}.onnx"
        with open(os.path.join(arguments.output, file), "wb") as handle:
            handle.write(model.SerializeToString())
        try:
            checker.check_model(model, full_check=True)
            verdict, message = "valid", ""
        except Exception as error:  # the checker raises ValidationError, shape inference InferenceError
            verdict, message = "invalid", str(error).splitlines()[0]
        manifest.append({"file": file, "edits": edits, "checker": verdict, "message": message})
    with open(os.path.join(arguments.output, "manifest.json"), "w") as handle:
        json.dump({"model": arguments.model, "seed": arguments.seed, "mutants": manifest}, handle, indent=1)
    invalid = sum(entry["checker"] == "invalid" for entry in manifest)
    print(f"{len(manifest)} mutants, {invalid} refused by onnx.checker", file=sys.stderr)


if __name__ == "__main__":
    main()
