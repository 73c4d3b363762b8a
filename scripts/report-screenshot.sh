#!/usr/bin/env bash
# Renders the report.html of the example MLP compiled with --sparsity auto into a PNG for the docs
# (default docs/images/report.png), with headless Chromium; builds sieve (debug) first.
# Usage: scripts/report-screenshot.sh [OUTPUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."

output=${1:-docs/images/report.png}
if ! command -v chromium >/dev/null; then
    echo "report-screenshot: chromium is missing; scripts/setup.sh installs it" >&2
    exit 1
fi
swift build --product sieve
sieve=$(swift build --show-bin-path)/sieve
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
models=Examples/models
"$sieve" compile "$models/mlp.onnx" --input-shape input=1x64 --sparsity auto --target-density 0.6 --prune wanda \
    --calibration "$models/mlp.calibration.npy" --quiet -o "$work/mlp"
mkdir -p "$(dirname "$output")"
case $output in /*) target=$output ;; *) target=$PWD/$output ;; esac
# Chromium's messages about D-Bus and the GPU are noise here; its exit status says whether it rendered.
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,2300 \
    --screenshot="$target" "file://$work/mlp/report.html" 2>/dev/null
echo "report-screenshot: wrote $output"
