"""Measures how close a pruned sentence encoder's embeddings stay to the dense
model's, for magnitude, Wanda and SparseGPT pruning at 2:4 and for
`--sparsity auto --target-density 0.6` (docs/sparsity.md).

    bash scripts/fetch-text-data.sh
    .venv/bin/python scripts/sparsity-embedding-eval.py --model paraphrase-MiniLM-L3-v2.onnx \
        --vocab .cache/text/bert-base-uncased-vocab.txt --corpus .cache/text/lee_background.cor \
        [--sieve .build/release/sieve] [--length 32] [--work DIR] [--check]

Sentences: with --corpus, the sentences of a text file (split after . ! or ?
followed by a capital or a quote) that tokenize to 8..--length tokens, so none
is cut; without it, sentences of its own (templates filled deterministically).
Either way they are deduplicated and shuffled with a fixed seed: the first 64
calibrate, the next 500 (none of them among the 64) are evaluated.
Tokenizer: --vocab, a BERT WordPiece vocabulary (vocab.txt, one token a line,
line k = id k), built as BERT's uncased tokenizer (BertNormalizer lower-casing
and stripping accents, BertPreTokenizer, WordPiece, [CLS] ... [SEP]); or
--tokenizer, a tokenizer.json.
Each variant is compiled by `sieve compile` into a shared library (--sparsity
2:4 with --prune magnitude, wanda, sparsegpt, every prunable layer at the
default --min-weights; and --sparsity auto --target-density 0.6 --prune
sparsegpt, ranking layers by sensitivity and by outliers with --allocate owl), which this script loads with ctypes and runs one sentence at a time.
The embedding is the model output named by --output (mean pooling over the
mask, as the model computes it; 461 in paraphrase-MiniLM-L3-v2). Prints, per
variant, the mean and the lowest cosine similarity to the dense model's
embeddings, as a Markdown table. With --check, exits 1 unless the means order
sparsegpt > wanda > magnitude and the auto variant's mean is at least 0.97.
"""
import argparse
import ctypes
import itertools
import os
import random
import re
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


def template_sentences(seed=2026):
    """The templates' sentences, in a fixed shuffled order."""
    all_sentences = [f"{s} {v} {o} {p}." for s, v, o, p in itertools.product(SUBJECTS, VERBS, OBJECTS, PLACES)]
    random.Random(seed).shuffle(all_sentences)
    return all_sentences


def corpus_sentences(path, tokenizer, length, seed=2026):
    """The distinct sentences of a text file that tokenize to 8..length tokens, in a fixed shuffled order."""
    with open(path, encoding="utf-8") as file:
        pieces = [piece.strip() for line in file for piece in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", line.strip())]
    distinct = list(dict.fromkeys(piece for piece in pieces if piece))
    counts = [len(encoding.ids) for encoding in tokenizer.encode_batch(distinct)]
    kept = [sentence for sentence, count in zip(distinct, counts) if 8 <= count <= length]
    random.Random(seed).shuffle(kept)
    return kept


def make_tokenizer(vocab_path, tokenizer_path):
    """BERT's uncased WordPiece tokenizer over vocab_path, or the tokenizer.json at tokenizer_path."""
    from tokenizers import BertWordPieceTokenizer, Tokenizer

    if vocab_path:
        tokenizer = BertWordPieceTokenizer(vocab_path, clean_text=True, handle_chinese_chars=True,
                                           strip_accents=True, lowercase=True)
    else:
        tokenizer = Tokenizer.from_file(tokenizer_path)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def tokenize(tokenizer, texts, length):
    """input_ids and attention_mask, [S, length] int64, padded with 0."""
    ids = np.zeros((len(texts), length), dtype=np.int64)
    mask = np.zeros((len(texts), length), dtype=np.int64)
    for row, encoding in enumerate(tokenizer.encode_batch(texts)):
        if len(encoding.ids) > length:
            raise SystemExit(f"sparsity-embedding-eval: sentence {row} has {len(encoding.ids)} tokens, more than --length {length}")
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


VARIANTS = {
    "dense": [],
    "magnitude": ["--sparsity", "2:4", "--prune", "magnitude"],
    "wanda": ["--sparsity", "2:4", "--prune", "wanda"],
    "sparsegpt": ["--sparsity", "2:4", "--prune", "sparsegpt"],
    "auto, density 0.6, sparsegpt": ["--sparsity", "auto", "--target-density", "0.6", "--prune", "sparsegpt"],
    "auto, density 0.6, sparsegpt, owl": ["--sparsity", "auto", "--target-density", "0.6", "--prune", "sparsegpt",
                                          "--allocate", "owl"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    tokenizers = parser.add_mutually_exclusive_group(required=True)
    tokenizers.add_argument("--vocab", help="a BERT uncased WordPiece vocab.txt (scripts/fetch-text-data.sh)")
    tokenizers.add_argument("--tokenizer", help="the model's tokenizer.json")
    parser.add_argument("--corpus", help="a text file whose sentences to use (default: templated sentences)")
    parser.add_argument("--sieve", default=".build/release/sieve")
    parser.add_argument("--length", type=int, default=32, help="sequence length the model is compiled for")
    parser.add_argument("--output", default="461",
                        help="the output holding the sentence embedding (paraphrase-MiniLM-L3-v2 calls it 461; "
                             "its outputs named output and 463 return the inputs)")
    parser.add_argument("--work", help="folder for the compiled variants, kept (default: a temporary one, removed)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless sparsegpt > wanda > magnitude and auto >= 0.97 (mean cosine similarity)")
    args = parser.parse_args()
    if args.work:
        os.makedirs(args.work, exist_ok=True)
        return evaluate(args, args.work)
    with tempfile.TemporaryDirectory(prefix="sieve-embedding-eval-") as work:
        return evaluate(args, work)


def evaluate(args, work) -> int:
    """Compiles and runs every variant in work, prints the table, and checks it with --check."""
    tokenizer = make_tokenizer(args.vocab, args.tokenizer)
    texts = corpus_sentences(args.corpus, tokenizer, args.length) if args.corpus else template_sentences()
    if len(texts) < 564:
        raise SystemExit(f"sparsity-embedding-eval: only {len(texts)} usable sentences, 564 needed")
    texts = texts[:564]
    ids, mask = tokenize(tokenizer, texts, args.length)
    calibration = os.path.join(work, "calibration.npz")
    np.savez(calibration, input_ids=ids[:64], attention_mask=mask[:64])
    shapes = ["--input-shape", f"input_ids=1x{args.length}", "--input-shape", f"attention_mask=1x{args.length}"]
    embeddings = {}
    for variant, sparsity in VARIANTS.items():
        folder = os.path.join(work, re.sub(r"[^a-z0-9]+", "-", variant))
        calibrate = ["--calibration", calibration] if sparsity else []
        command = [args.sieve, "compile", args.model, *shapes, *sparsity, *calibrate, "-o", folder, "--name", "model"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        embeddings[variant] = run_library(os.path.join(folder, "libmodel.so"), "model", ids[64:], mask[64:], args.output)

    def cosines(a, b):
        return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)

    source = f"sentences of {os.path.basename(args.corpus)}" if args.corpus else "templated sentences"
    print(f"{ids.shape[0] - 64} evaluation and 64 calibration {source}, sequence length {args.length}, "
          f"{int(mask.sum(1).min())} to {int(mask.sum(1).max())} tokens")
    print("| variant | mean cosine similarity to dense | lowest |")
    print("| --- | --- | --- |")
    means = {}
    for variant in list(VARIANTS)[1:]:
        similarity = cosines(embeddings[variant], embeddings["dense"])
        means[variant] = float(similarity.mean())
        print(f"| {variant} | {similarity.mean():.4f} | {similarity.min():.4f} |")
    if args.check:
        auto = means["auto, density 0.6, sparsegpt"]
        if not (means["sparsegpt"] > means["wanda"] > means["magnitude"]) or auto < 0.97:
            print("sparsity-embedding-eval: check failed: expected sparsegpt > wanda > magnitude and auto >= 0.97",
                  file=sys.stderr)
            return 1
        print("sparsity-embedding-eval: check passed (sparsegpt > wanda > magnitude, auto >= 0.97)")
    return 0

if __name__ == "__main__":
    sys.exit(main())
