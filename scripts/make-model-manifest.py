#!/usr/bin/env python3
"""Fills the generated fields of Tests/Models/published-models.json from the fetched models.

Each model's hand-written fields (id, package, version, archive_path, acceptance, task,
suggested_input_shapes, bind, reference_inputs, notes) are kept as they are; this script adds
local_path, sha256, bytes, ir_version, opset_import, producer, inputs and outputs (each with its
element type, its declared shape, and which dimensions are symbolic or declared as -1), and the
`--input-shape` and `--bind` arguments the suggestions make for `sieve`.

Run scripts/fetch-models.sh first. Writes the manifest only when something changed (so a second run
does nothing); `--check` writes nothing and exits 1 if the manifest is not up to date.
"""

import argparse
import hashlib
import json
import os
import sys

import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "Tests", "Models", "published-models.json")
HAND_FIELDS = ["id", "package", "version", "archive_path", "acceptance", "task", "suggested_input_shapes",
               "bind", "reference_inputs", "notes"]


def local_path(cache, model):
    return os.path.join(cache, f"{model['package']}-{model['version']}", model["archive_path"])


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def describe(value):
    """A value_info as name, element type, shape (ints, strings for named dims, '?' for unnamed)."""
    tensor = value.type.tensor_type
    shape, symbolic = None, []
    if tensor.HasField("shape"):
        shape = []
        for axis, dim in enumerate(tensor.shape.dim):
            if dim.HasField("dim_param"):
                shape.append(dim.dim_param)
                symbolic.append(axis)
            elif dim.HasField("dim_value"):
                shape.append(dim.dim_value)
                if dim.dim_value < 0:
                    symbolic.append(axis)
            else:
                shape.append("?")
                symbolic.append(axis)
    entry = {"name": value.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name,
             "shape": shape, "symbolic_axes": symbolic}
    if shape is not None and any(isinstance(d, int) and d < 0 for d in shape):
        entry["note"] = "a dimension is declared as -1 (PaddlePaddle's convention for 'any')"
    return entry


def sieve_arguments(model, inputs):
    """The command-line arguments the suggestions amount to (issue #12's --input-shape and --bind)."""
    arguments = []
    bound = model.get("bind", {})
    for entry in inputs:
        name = entry["name"]
        if name in bound:
            continue
        shape = model["suggested_input_shapes"].get(name)
        if shape is not None:
            arguments += ["--input-shape", f"{name}={'x'.join(str(d) for d in shape)}"]
    for name, binding in bound.items():
        arguments += ["--bind", f"{name}={binding['value']}"]
    return arguments


def fill(model, cache):
    path = local_path(cache, model)
    if not os.path.exists(path):
        sys.exit(f"make-model-manifest: {path} is missing; run scripts/fetch-models.sh first")
    proto = onnx.load(path, load_external_data=False)
    initializers = {tensor.name for tensor in proto.graph.initializer}
    inputs = [describe(v) for v in proto.graph.input if v.name not in initializers]
    outputs = [describe(v) for v in proto.graph.output]
    for name in list(model.get("suggested_input_shapes", {})) + list(model.get("bind", {})):
        if name not in {entry["name"] for entry in inputs}:
            sys.exit(f"make-model-manifest: {model['id']}: the suggestion names '{name}', which is not an input")
    for entry in inputs:
        shape = model["suggested_input_shapes"].get(entry["name"])
        if shape is None and entry["symbolic_axes"] and entry["name"] not in model.get("bind", {}):
            sys.exit(f"make-model-manifest: {model['id']}: input '{entry['name']}' has symbolic dimensions but no suggested shape")
        if shape is not None and entry["shape"] is not None:
            if len(shape) != len(entry["shape"]) or any(
                    isinstance(d, int) and d >= 0 and d != s for d, s in zip(entry["shape"], shape)):
                sys.exit(f"make-model-manifest: {model['id']}: suggested shape {shape} of '{entry['name']}' contradicts {entry['shape']}")
    filled = {key: model[key] for key in HAND_FIELDS if key in model}
    filled.update({
        "local_path": os.path.relpath(path, ROOT),
        "sha256": sha256(path),
        "bytes": os.path.getsize(path),
        "ir_version": proto.ir_version,
        "opset_import": {(entry.domain or "ai.onnx"): entry.version for entry in proto.opset_import},
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "inputs": inputs,
        "outputs": outputs,
        "sieve_arguments": sieve_arguments(model, inputs),
    })
    return filled


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the manifest is not up to date")
    args = parser.parse_args()
    with open(MANIFEST) as handle:
        document = json.load(handle)
    cache = os.path.join(ROOT, document.get("cache", ".cache/models"))
    ids = [model["id"] for model in document["models"]]
    if len(set(ids)) != len(ids):
        sys.exit("make-model-manifest: model ids repeat")
    updated = dict(document, models=[fill(model, cache) for model in document["models"]])
    text = json.dumps(updated, indent=2) + "\n"
    with open(MANIFEST) as handle:
        current = handle.read()
    if text == current:
        print(f"make-model-manifest: {os.path.relpath(MANIFEST, ROOT)} is up to date ({len(ids)} models)")
        return
    if args.check:
        sys.exit(f"make-model-manifest: {os.path.relpath(MANIFEST, ROOT)} is not up to date; run scripts/make-model-manifest.py")
    with open(MANIFEST, "w") as handle:
        handle.write(text)
    print(f"make-model-manifest: wrote {os.path.relpath(MANIFEST, ROOT)} ({len(ids)} models)")


if __name__ == "__main__":
    main()
