#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine that has the Swift toolchain: installs what is
# missing (Debian packages, the Python environment, the ONNX conformance data), builds, tests.
# Idempotent; a second run only builds and tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/setup-python.sh

echo "test: building (debug, with tests)"
swift build --build-tests

echo "test: running the suite"
set +e
swift test --skip-build 2>&1 | tee .build/test-output.txt
status=${PIPESTATUS[0]}
set -e
# The runner's summary line, last, so CI logs end with the verdict.
grep -E "Test run with [0-9]+ tests" .build/test-output.txt | tail -n 1 || echo "test: no summary line found"
exit "$status"
