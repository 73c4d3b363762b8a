"""Tokenizes sentences with a model's own tokenizer.json into a calibration .npz
keyed by the model's input names, for `sieve ... --calibration`.

    .venv/bin/python scripts/tokenize-calibration.py --tokenizer tokenizer.json \
        --sentences sentences.txt --out calib.npz [--inputs input_ids,attention_mask] \
        [--max-length 128]

sentences.txt holds one sentence per line (blank lines are skipped). Each
sentence is encoded with special tokens ([CLS] ... [SEP] for BERT), cut to
--max-length tokens; every member is
[S, L] int64 with L the longest sentence kept, shorter ones padded with 0 and
attention_mask 0 there. Sieve pads L further to the graph's sequence length
(the one given with --input-shape) because the graph has a mask input.

--inputs names the members to write, in the model's spelling: input_ids,
attention_mask, token_type_ids (any subset). Needs the `tokenizers` package
(scripts/requirements.txt).
"""

import argparse
import sys

import numpy as np


def encode(tokenizer_path, sentences, max_length):
    """Token ids, attention masks and token types of each sentence, cut to max_length."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    encodings = tokenizer.encode_batch(sentences)
    return [(e.ids, e.attention_mask, e.type_ids) for e in encodings]


def stack(encoded):
    """[S, L] int64 arrays, L the longest sequence, padded with 0 (mask 0 there)."""
    length = max(len(ids) for ids, _, _ in encoded)
    arrays = {name: np.zeros((len(encoded), length), dtype=np.int64)
              for name in ("input_ids", "attention_mask", "token_type_ids")}
    for row, (ids, mask, types) in enumerate(encoded):
        arrays["input_ids"][row, :len(ids)] = ids
        arrays["attention_mask"][row, :len(mask)] = mask
        arrays["token_type_ids"][row, :len(types)] = types
    return arrays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", required=True, help="the model's tokenizer.json")
    parser.add_argument("--sentences", required=True, help="a text file, one sentence per line")
    parser.add_argument("--out", required=True, help="the .npz to write")
    parser.add_argument("--inputs", default="input_ids,attention_mask",
                        help="members to write, named like the model's inputs (default: input_ids,attention_mask)")
    parser.add_argument("--max-length", type=int, default=128, help="cut longer sentences to this many tokens")
    args = parser.parse_args()

    with open(args.sentences, encoding="utf-8") as file:
        sentences = [line.strip() for line in file if line.strip()]
    if not sentences:
        print(f"tokenize-calibration: {args.sentences} holds no sentences", file=sys.stderr)
        return 1
    arrays = stack(encode(args.tokenizer, sentences, args.max_length))
    wanted = [name.strip() for name in args.inputs.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in arrays]
    if unknown:
        print(f"tokenize-calibration: unknown input {', '.join(unknown)}; choose from {', '.join(arrays)}", file=sys.stderr)
        return 1
    np.savez(args.out, **{name: arrays[name] for name in wanted})
    shape = arrays["input_ids"].shape
    print(f"tokenize-calibration: {shape[0]} sentences, longest {shape[1]} tokens -> {args.out} ({', '.join(wanted)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
