#!/usr/bin/env python3
"""Reference inputs and ONNX Runtime outputs for every model of Tests/Models/published-models.json.

For each model this makes a realistic, seeded input for every graph input, as the manifest's
`reference_inputs` describes it (a synthetic image with shapes and text-like strokes for vision
models, in the layout and normalization the package uses; token ids in range for text models; a
voiced waveform for voice activity detection; file bytes for magika), with the shapes of
`suggested_input_shapes` and the constants of `bind`, runs ONNX Runtime (CPU, one thread) on it and
writes

    .cache/models/references/<model id>/input_<name>.npy    one per graph input (bound ones too)
    .cache/models/references/<model id>/output_<name>.npy   one per graph output
    .cache/models/references/<model id>/reference.json      the file of each tensor, its ONNX name,
                                                            shape and dtype, and what made them

(<name> is the ONNX name with characters other than letters, digits, '-', '_' and '.' made '_').

Idempotent: a model whose reference.json records the same model sha256 and the same recipe is
skipped. Run scripts/fetch-models.sh and scripts/make-model-manifest.py first.
Usage: make-model-references.py [--force] [MODEL_ID ...]
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import zlib

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join(ROOT, "Tests", "Models", "published-models.json")
RECIPE_VERSION = 1  # bump when the generators below change what they make


def file_name(prefix, name):
    return f"{prefix}_{re.sub(r'[^A-Za-z0-9._-]', '_', name)}.npy"


# MARK: Generators

def synthetic_image(rng, height, width):
    """An RGB uint8-valued float image: a gradient background, filled shapes and rows of glyph-like strokes."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(120, 230, size=3)
    tilt = rng.uniform(-40, 40, size=3)
    image = base + tilt * (x[..., None] / max(width, 1)) + 0.5 * tilt * (y[..., None] / max(height, 1))
    for _ in range(rng.integers(2, 5)):  # rectangles
        y0, x0 = rng.integers(0, height), rng.integers(0, width)
        h, w = rng.integers(height // 8 + 1, height // 2 + 2), rng.integers(width // 8 + 1, width // 2 + 2)
        image[y0:y0 + h, x0:x0 + w] = rng.uniform(0, 255, size=3)
    for _ in range(rng.integers(1, 4)):  # discs
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(2, max(3, min(height, width) / 3))
        image[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.uniform(0, 255, size=3)
    # Text: rows of dark glyphs, each a few strokes in a cell.
    cell = max(4, min(height // 3, 24))
    rows = max(1, min(3, height // (cell + 2)))
    ink = rng.uniform(0, 60, size=3)
    for row in range(rows):
        top = int(rng.integers(0, max(1, height - cell))) if rows == 1 else row * height // rows + 1
        left = int(rng.integers(0, max(1, width // 8)))
        while left + cell <= width:
            for _ in range(rng.integers(2, 5)):
                if rng.random() < 0.5:  # vertical stroke
                    sx = left + int(rng.integers(0, cell - 1))
                    image[top:top + cell, sx:sx + max(1, cell // 8)] = ink
                else:  # horizontal stroke
                    sy = top + int(rng.integers(0, cell - 1))
                    image[sy:sy + max(1, cell // 8), left:left + cell - 1] = ink
            left += cell + int(rng.integers(1, max(2, cell // 3)))
            if rng.random() < 0.1:
                left += cell  # a space
    image += rng.normal(0, 3, size=image.shape)  # sensor noise
    return np.clip(np.round(image), 0, 255).astype(np.float32)


def make_image(spec, shape, rng):
    layout, channels = spec["layout"], spec["channels"]
    if layout == "NCHW":
        batch, c, height, width = shape
    elif layout == "NHWC":
        batch, height, width, c = shape
    else:
        raise ValueError(f"layout {layout}")
    assert c == channels, (shape, spec)
    images = []
    for _ in range(batch):
        rgb = synthetic_image(rng, height, width)
        if channels == 1:
            pixels = (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
            pixels = np.round(pixels)
        elif spec.get("channel_order", "RGB") == "BGR":
            pixels = rgb[..., ::-1]
        else:
            pixels = rgb
        mean = np.array(spec["mean"], dtype=np.float32)
        std = np.array(spec["std"], dtype=np.float32)
        images.append((pixels * np.float32(spec["pixel_scale"]) - mean) / std)
    array = np.stack(images)
    if layout == "NCHW":
        array = array.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(array, dtype=np.float32)


def voiced_waveform(rng, samples, sample_rate):
    """Silence, then a voiced stretch (a glottal-like harmonic tone with a syllable envelope), with noise."""
    t = np.arange(samples) / sample_rate
    pitch = 120 + 30 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    voice = sum((0.6 / k) * np.sin(k * phase) for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    envelope[: samples // 8] = 0.0
    wave = 0.4 * envelope * voice + rng.normal(0, 0.01, samples)
    return np.clip(wave, -1, 1).astype(np.float32)


def make_file_bytes(spec, shape, rng):
    """The beginning and end of a synthetic Python source file, as magika feeds them."""
    lines = ["#!/usr/bin/env python3", '"""A small module."""', "import os", "import sys", ""]
    for index in range(int(rng.integers(60, 90))):
        lines += [f"def function_{index}(value, scale={int(rng.integers(1, 9))}):",
                  f"    result = value * scale + {int(rng.integers(0, 100))}",
                  "    return os.path.join(str(result), sys.argv[0])", ""]
    lines += ['if __name__ == "__main__":', "    print(function_0(1))", ""]
    content = "\n".join(lines).encode().strip()
    begin, end, pad = spec["begin"], spec["end"], spec["padding_token"]
    assert shape[-1] == begin + end, shape
    head = list(content[:begin]) + [pad] * max(0, begin - len(content))
    tail = [pad] * max(0, end - len(content)) + list(content[-end:])
    return np.array([head + tail] * shape[0])


def make_input(spec, shape, dtype, rng):
    kind = spec["kind"]
    if kind == "image":
        return make_image(spec, shape, rng).astype(dtype)
    if kind == "tokens":
        return rng.integers(spec["low"], spec["high"], size=shape).astype(dtype)
    if kind == "tokens_rows":
        array = np.empty(shape, dtype=np.int64)
        axis = spec["axis"]
        for row, (low, high) in enumerate(spec["ranges"]):
            index = [slice(None)] * len(shape)
            index[axis] = row
            array[tuple(index)] = rng.integers(low, high, size=array[tuple(index)].shape)
        return array.astype(dtype)
    if kind == "bert_tokens":
        batch, length = shape
        ids = rng.integers(1000, spec["vocab"], size=(batch, length))
        ids[:, 0], ids[:, -1] = spec["cls"], spec["sep"]
        return ids.astype(dtype)
    if kind == "waveform":
        batch, samples = shape
        return np.stack([voiced_waveform(rng, samples, spec["sample_rate"]) for _ in range(batch)]).astype(dtype)
    if kind == "waveform_frames":
        frames, width = shape
        context = spec["context"]
        chunk = width - context
        wave = voiced_waveform(rng, context + frames * chunk, spec["sample_rate"])
        wave[:context] = 0.0
        return np.stack([wave[i * chunk: i * chunk + width] for i in range(frames)]).astype(dtype)
    if kind == "file_bytes":
        return make_file_bytes(spec, shape, rng).astype(dtype)
    if kind == "zeros":
        return np.zeros(shape, dtype=dtype)
    if kind == "ones":
        return np.ones(shape, dtype=dtype)
    raise ValueError(f"unknown reference input kind '{kind}'")


# MARK: Driver

def concrete_shape(model, entry):
    shape = model["suggested_input_shapes"].get(entry["name"])
    if shape is None:
        shape = entry["shape"]
    if shape is None or not all(isinstance(d, int) and d >= 0 for d in shape):
        sys.exit(f"make-model-references: {model['id']}: no concrete shape for input '{entry['name']}'")
    return list(shape)


def make_references(model, out_dir, force):
    recipe = {"recipe_version": RECIPE_VERSION, "model_sha256": model["sha256"],
              "suggested_input_shapes": model["suggested_input_shapes"], "bind": model["bind"],
              "reference_inputs": model["reference_inputs"], "onnxruntime": ort.__version__, "numpy": np.__version__}
    stamp = os.path.join(out_dir, "reference.json")
    if not force and os.path.exists(stamp):
        with open(stamp) as handle:
            if json.load(handle).get("recipe") == recipe:
                print(f"make-model-references: {model['id']} present")
                return
    path = os.path.join(ROOT, model["local_path"])
    with open(path, "rb") as handle:
        if hashlib.sha256(handle.read()).hexdigest() != model["sha256"]:
            sys.exit(f"make-model-references: {path} does not match the manifest's sha256; run scripts/fetch-models.sh")
    seed = zlib.crc32(model["id"].encode())
    rng = np.random.default_rng(seed)
    feeds = {}
    for entry in model["inputs"]:
        name, dtype = entry["name"], np.dtype(entry["dtype"])
        if name in model["bind"]:
            feeds[name] = np.array(model["bind"][name]["value"], dtype=np.dtype(model["bind"][name]["dtype"]))
            continue
        spec = model["reference_inputs"].get(name)
        if spec is None:
            sys.exit(f"make-model-references: {model['id']}: no reference_inputs entry for input '{name}'")
        feeds[name] = make_input(spec, concrete_shape(model, entry), dtype, rng)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    results = session.run(names, feeds)

    staging = out_dir + ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    tensors = []
    for prefix, items in (("input", feeds.items()), ("output", zip(names, results))):
        for name, array in items:
            array = np.asarray(array)
            target = file_name(prefix, name)
            if any(t["file"] == target for t in tensors):
                sys.exit(f"make-model-references: {model['id']}: two tensors map to {target}")
            np.save(os.path.join(staging, target), array, allow_pickle=False)
            tensor = {"file": target, "name": name, "role": prefix, "dtype": array.dtype.name, "shape": list(array.shape)}
            if prefix == "input" and name in model["bind"]:
                tensor["bound"] = True
            if array.dtype.kind == "f":
                tensor["max_abs"] = float(np.max(np.abs(array))) if array.size else 0.0
                tensor["finite"] = bool(np.all(np.isfinite(array)))
            tensors.append(tensor)
    with open(os.path.join(staging, "reference.json"), "w") as handle:
        json.dump({"model": model["id"], "local_path": model["local_path"], "seed": seed,
                   "sieve_arguments": model["sieve_arguments"], "tensors": tensors, "recipe": recipe}, handle, indent=2)
        handle.write("\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(staging, out_dir)
    summary = ", ".join(f"{t['name']} {t['shape']}" for t in tensors if t["role"] == "output")
    print(f"make-model-references: {model['id']}: {summary}")
    for tensor in tensors:
        if tensor.get("finite") is False:
            print(f"make-model-references: warning: {model['id']}: {tensor['name']} has non-finite values")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="remake references that are up to date")
    parser.add_argument("models", nargs="*", help="model ids (default: all)")
    args = parser.parse_args()
    with open(MANIFEST) as handle:
        document = json.load(handle)
    models = document["models"]
    unknown = set(args.models) - {m["id"] for m in models}
    if unknown:
        sys.exit(f"make-model-references: unknown model ids {sorted(unknown)}")
    if any("sha256" not in m for m in models):
        sys.exit("make-model-references: the manifest lacks generated fields; run scripts/make-model-manifest.py")
    root = os.path.join(ROOT, document.get("cache", ".cache/models"), "references")
    for model in models:
        if not args.models or model["id"] in args.models:
            make_references(model, os.path.join(root, model["id"]), args.force)


if __name__ == "__main__":
    main()
