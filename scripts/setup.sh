#!/usr/bin/env bash
# Installs what Sieve needs on a fresh Debian machine that has the Swift toolchain.
# Idempotent: every step checks first and does nothing when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# pkg-config and cmake: the tests build programs against artifacts with their .pc and CMake files;
# graphviz: `--format svg` runs its dot, and the tests check that the DOT views parse;
# gcc brings libtsan, for the ThreadSanitizer run of two artifacts linked into one program;
# chromium renders report.html headless in the tests and for scripts/report-screenshot.sh.
debian_packages=(gcc libopenblas-dev liblapacke-dev zlib1g-dev llvm-19-dev python3-venv unzip cmake pkg-config graphviz strace chromium)
missing=()
for package in "${debian_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "setup: Debian packages present"
