#!/usr/bin/env bash
# Creates the project-local Python environment .venv/ from scripts/requirements.txt
# and puts the ONNX backend node conformance data in .cache/onnx-node-tests/
# (and the frontend's extra cases in .cache/onnx-frontend-node-tests/)
# (one folder per test case: <case>/model.onnx, <case>/test_data_set_N/*.pb).
# Idempotent: each step leaves a stamp and does nothing on the next run.
# Needs no standard input (works under CI=true). Set PYTHON to choose the
# interpreter that creates the environment (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
requirements=scripts/requirements.txt
venv=.venv
node_tests=.cache/onnx-node-tests
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# Step 1: the virtual environment.
if [[ -x $venv/bin/python ]]; then
    echo "setup-python: $venv present"
else
    echo "setup-python: creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi

# Step 2: the pinned packages, reinstalled only when requirements.txt changes.
requirements_hash=$(sha256sum "$requirements" | cut -c1-16)
requirements_stamp=$venv/.sieve-requirements-$requirements_hash
if [[ -f $requirements_stamp ]]; then
    echo "setup-python: packages from $requirements present"
else
    echo "setup-python: installing packages from $requirements"
    "$venv/bin/python" -m pip install --quiet --requirement "$requirements"
    rm -f "$venv"/.sieve-requirements-*
    touch "$requirements_stamp"
fi

# Step 3: the ONNX backend node test data, from the pinned onnx package.
onnx_version=$(sed -n 's/^onnx==\([^[:space:]]*\).*/\1/p' "$requirements")
if [[ -z $onnx_version ]]; then
    echo "setup-python: $requirements pins no onnx==VERSION" >&2
    exit 1
fi
node_stamp=.cache/.onnx-node-tests-$onnx_version
if [[ -f $node_stamp && -d $node_tests ]]; then
    echo "setup-python: $node_tests (onnx $onnx_version) present"
else
    staging=.cache/onnx-node-tests.staging
    rm -rf "$staging"
    mkdir -p "$staging"
    installed_node_data=$("$venv/bin/python" - "$onnx_version" <<'PY'
import importlib.metadata, importlib.util, os, sys
spec = importlib.util.find_spec("onnx")
if spec is not None and importlib.metadata.version("onnx") == sys.argv[1]:
    node = os.path.join(os.path.dirname(spec.origin), "backend", "test", "data", "node")
    if os.path.isdir(node):
        print(node)
PY
)
    if [[ -n $installed_node_data ]]; then
        echo "setup-python: copying node tests from installed onnx $onnx_version"
        cp -R "$installed_node_data"/. "$staging"/
    else
        echo "setup-python: installed onnx has no node tests; downloading the onnx $onnx_version wheel"
        wheel_dir=$(mktemp -d)
        trap 'rm -rf "$wheel_dir"' EXIT
        "$venv/bin/python" -m pip download --quiet --no-deps --dest "$wheel_dir" "onnx==$onnx_version"
        "$venv/bin/python" - "$wheel_dir" "$staging" <<'PY'
import glob, os, sys, zipfile
wheel_dir, staging = sys.argv[1], sys.argv[2]
prefix = "onnx/backend/test/data/node/"
wheels = glob.glob(os.path.join(wheel_dir, "onnx-*.whl"))
if not wheels:
    sys.exit("setup-python: pip downloaded no onnx wheel")
with zipfile.ZipFile(wheels[0]) as wheel:
    members = [m for m in wheel.namelist() if m.startswith(prefix) and not m.endswith("/")]
    if not members:
        sys.exit(f"setup-python: {os.path.basename(wheels[0])} has no {prefix}")
    for member in members:
        target = os.path.join(staging, member[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with wheel.open(member) as source, open(target, "wb") as sink:
            sink.write(source.read())
PY
    fi
    rm -rf "$node_tests"
    mv "$staging" "$node_tests"
    rm -f .cache/.onnx-node-tests-*
    touch "$node_stamp"
    echo "setup-python: $node_tests has $(find "$node_tests" -mindepth 1 -maxdepth 1 -type d | wc -l) test cases"
fi

# Step 4: the frontend's own node cases (opsets 7-12, recurrent variants, If), made with ONNX Runtime;
# the script keeps a stamp of its own hash and does nothing when they are current.
"$venv/bin/python" scripts/make-frontend-node-tests.py
