#!/usr/bin/env python3
"""Cosine similarity of a compiled model's embeddings to ONNX Runtime's f32 ones on the same inputs.

Usage: .venv/bin/python scripts/int8-embedding-cosine.py --model M.onnx --artifact OUT/libNAME.so [--inputs 32]

Runs the ONNX model in ONNX Runtime (f32, the reference) and the Sieve artifact (for example one compiled with
--quantize int8, with or without --sparsity) on the model's sample input (M.input.npy beside it, when present)
and on random token ids of the same shape (seed 2026, ids below the smallest vocabulary the model could have,
1000), and prints each input's cosine similarity of the two outputs, their minimum and mean. Exit 1 when
the minimum is below --min (default 0.99).
"""
import argparse
import os
import sys

import numpy
import onnxruntime

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import sieve_artifact  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--inputs", type=int, default=32)
    parser.add_argument("--min", type=float, default=0.99)
    args = parser.parse_args()
    session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in spec.shape]
    artifact = sieve_artifact.Artifact(args.artifact)
    rng = numpy.random.default_rng(2026)
    inputs = []
    sample = os.path.splitext(args.model)[0] + ".input.npy"
    if os.path.exists(sample):
        inputs.append(numpy.load(sample).astype(numpy.int64).reshape(shape))
    while len(inputs) < args.inputs:
        inputs.append(rng.integers(0, 1000, size=shape, dtype=numpy.int64))
    cosines = []
    for x in inputs:
        (reference,) = session.run(None, {spec.name: x})[:1]
        (compiled,) = artifact.run(x)[:1]
        a, b = reference.astype(numpy.float64).ravel(), compiled.astype(numpy.float64).ravel()
        cosines.append(float(a @ b / (numpy.linalg.norm(a) * numpy.linalg.norm(b))))
    for index, cosine in enumerate(cosines):
        print(f"input {index}: cosine {cosine:.6f}")
    print(f"min {min(cosines):.6f} mean {sum(cosines) / len(cosines):.6f} over {len(cosines)} inputs")
    return 0 if min(cosines) >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
