"""Measures how close a 2:4-pruned sentence encoder's embeddings stay to the
dense model's, for magnitude, Wanda and SparseGPT pruning (docs/sparsity.md).

    .venv/bin/python scripts/sparsity-embedding-eval.py --model paraphrase-MiniLM-L3-v2.onnx \
        --tokenizer tokenizer.json [--sieve .build/release/sieve] [--length 32] [--work DIR]

Writes its own English sentences (templates filled deterministically, so the
run is repeatable): the first 64 calibrate, the next 500 (none of them among
the 64) are evaluated. Each variant is compiled by `sieve compile` with every
prunable layer 2:4 (--sparsity 2:4 and the default --min-weights) into a shared
library, which this script loads with ctypes and runs one sentence at a time.
The embedding is the model output named by --output (mean pooling over the
mask, as the model computes it; 461 in paraphrase-MiniLM-L3-v2). Prints, per method, the mean and the lowest
cosine similarity to the dense model's embeddings, as a Markdown table.
"""

import argparse
import ctypes
import itertools
import os
import random
import subprocess
import sys
import tempfile

import numpy as np

SUBJECTS = ["The old fisherman", "A young teacher", "My neighbour", "The tired doctor", "Our small dog",
            "The city council", "A quiet student", "The farmer's daughter", "The new manager", "An old friend",
            "The taxi driver", "A curious child", "The baker", "The night nurse", "The river pilot"]
VERBS = ["painted", "repaired", "carried", "found", "described", "forgot", "cleaned", "sold", "borrowed",
         "photographed", "measured", "counted", "opened", "hid", "wrapped"]
OBJECTS = ["a wooden boat", "the broken window", "three heavy boxes", "an unusual letter", "the garden fence",
           "a blue bicycle", "the kitchen table", "a map of the coast", "the winter coats", "a basket of apples",
           "the church bell", "an empty bottle", "the village clock", "a stack of books", "the red door"]
PLACES = ["before the storm arrived", "near the harbour", "on a cold Monday morning", "after the long meeting",
          "behind the old station", "while everyone was asleep", "in the middle of the market",
          "during the summer holidays", "at the edge of the forest", "under the bright lamps"]


def sentences(count, seed=2026):
    """`count` distinct sentences made from the templates, in a fixed shuffled order."""
    all_sentences = [f"{s} {v} {o} {p}." for s, v, o, p in itertools.product(SUBJECTS, VERBS, OBJECTS, PLACES)]
    random.Random(seed).shuffle(all_sentences)
    return all_sentences[:count]


def tokenize(tokenizer_path, texts, length):
    """input_ids and attention_mask, [S, length] int64, padded with 0."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=length)
    ids = np.zeros((len(texts), length), dtype=np.int64)
    mask = np.zeros((len(texts), length), dtype=np.int64)
    for row, encoding in enumerate(tokenizer.encode_batch(texts)):
        ids[row, :len(encoding.ids)] = encoding.ids
        mask[row, :len(encoding.attention_mask)] = encoding.attention_mask
    return ids, mask


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("bytes", ctypes.c_size_t)]


def run_library(path, name, ids, mask, output):
    """The named output of a compiled model for every row of ids/mask, one sentence per run."""
    library = ctypes.CDLL(path)
    inputs_info = (TensorInfo * 2).in_dll(library, f"{name}_inputs")
    count = ctypes.c_int.in_dll(library, f"{name}_num_outputs").value
    outputs_info = (TensorInfo * count).in_dll(library, f"{name}_outputs")
    names = [info.name.decode() for info in outputs_info]
    if output not in names:
        raise SystemExit(f"sparsity-embedding-eval: no output '{output}'; outputs: {', '.join(names)}")
    create = library[f"{name}_create"]
    create.restype = ctypes.c_void_p
    create.argtypes = [ctypes.c_int]
    run = library[f"{name}_run"]
    run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    destroy = library[f"{name}_destroy"]
    destroy.argtypes = [ctypes.c_void_p]
    context = create(1)
    order = [info.name.decode() for info in inputs_info]
    buffers = [np.zeros(info.bytes // 4, dtype=np.float32) for info in outputs_info]
    output_pointers = (ctypes.c_void_p * count)(*[b.ctypes.data for b in buffers])
    chosen = names.index(output)
    results = []
    for row in range(ids.shape[0]):
        feeds = {"input_ids": np.ascontiguousarray(ids[row:row + 1]), "attention_mask": np.ascontiguousarray(mask[row:row + 1])}
        arrays = [feeds[n] for n in order]
        input_pointers = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
        code = run(context, input_pointers, output_pointers)
        if code != 0:
            raise SystemExit(f"sparsity-embedding-eval: {name}_run failed with code {code}")
        results.append(buffers[chosen].copy())
    destroy(context)
    return np.stack(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--tokenizer", required=True, help="the model's tokenizer.json")
    parser.add_argument("--sieve", default=".build/release/sieve")
    parser.add_argument("--length", type=int, default=32, help="sequence length the model is compiled for")
    parser.add_argument("--output", default="461",
                        help="the output holding the sentence embedding (paraphrase-MiniLM-L3-v2 calls it 461; "
                             "its outputs named output and 463 return the inputs)")
    parser.add_argument("--work", help="folder for the compiled variants (default: a temporary one)")
    args = parser.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="sieve-embedding-eval-")
    os.makedirs(work, exist_ok=True)
    texts = sentences(564)
    ids, mask = tokenize(args.tokenizer, texts, args.length)
    calibration = os.path.join(work, "calibration.npz")
    np.savez(calibration, input_ids=ids[:64], attention_mask=mask[:64])
    shapes = ["--input-shape", f"input_ids=1x{args.length}", "--input-shape", f"attention_mask=1x{args.length}"]
    embeddings = {}
    for method in ["dense", "magnitude", "wanda", "sparsegpt"]:
        folder = os.path.join(work, method)
        sparsity = [] if method == "dense" else ["--sparsity", "2:4", "--prune", method, "--calibration", calibration]
        command = [args.sieve, "compile", args.model, *shapes, *sparsity, "-o", folder, "--name", "model"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        embeddings[method] = run_library(os.path.join(folder, "libmodel.so"), "model", ids[64:], mask[64:], args.output)

    def cosines(a, b):
        return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)

    print(f"{ids.shape[0] - 64} evaluation sentences, 64 calibration sentences, sequence length {args.length}")
    print("| method | mean cosine similarity to dense | lowest |")
    print("| --- | --- | --- |")
    for method in ["magnitude", "wanda", "sparsegpt"]:
        similarity = cosines(embeddings[method], embeddings["dense"])
        print(f"| {method} | {similarity.mean():.4f} | {similarity.min():.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
