#!/usr/bin/env bash
# Builds the benchmark harness (bench/build/harness) with the system C compiler for this machine,
# linked against the system OpenBLAS. Usage: bench/build.sh   (CC overrides the compiler).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p build
CC=${CC:-cc}
BLAS_INCLUDE=/usr/include/x86_64-linux-gnu/openblas-pthread
[ -f "$BLAS_INCLUDE/cblas.h" ] || BLAS_INCLUDE=/usr/include/openblas
"$CC" -O3 -march=native -Wall -Wextra -Werror -I"$BLAS_INCLUDE" harness.c -o build/harness \
    -lopenblas -lpthread -ldl -lm

echo "built bench/build/harness with $("$CC" --version | head -1)"
