#!/usr/bin/env bash
# Builds the three example programs of Examples/ against a compiled digits MLP (an artifact folder
# written by `sieve compile … --name mlp -o DIR`) and runs each once:
#   scripts/build-examples.sh DIR
# C: cc against libmlp.a with the flags of the artifact's mlp-static.pc; CMake: find_package(mlp) through the
# artifact's mlpConfig.cmake; Swift: a package whose system-library module wraps mlp.h. Builds go to
# DIR/examples/. Needs cc, pkg-config, cmake and swift.
set -euo pipefail
cd "$(dirname "$0")/.."
artifact=$(cd "${1:?usage: scripts/build-examples.sh ARTIFACT_DIR}" && pwd)
build=$artifact/examples
mkdir -p "$build"
digits=Examples/models/mlp.eval.input.npy
labels=Examples/models/mlp.eval.labels.npy

echo "examples: C"
"${CC:-cc}" -O2 -Wall -Wextra -Werror $(PKG_CONFIG_PATH="$artifact" pkg-config --cflags mlp-static) Examples/c/digits.c \
    $(PKG_CONFIG_PATH="$artifact" pkg-config --static --libs mlp-static) -o "$build/digits"
"$build/digits" "$digits" "$labels" | tail -n 1

echo "examples: CMake"
cmake -S Examples/cmake -B "$build/cmake" -DCMAKE_PREFIX_PATH="$artifact" > "$build/cmake.log"
cmake --build "$build/cmake" >> "$build/cmake.log"
"$build/cmake/digits" "$digits" "$labels" | tail -n 1

echo "examples: Swift"
swift build --package-path Examples/swift --scratch-path "$build/swift" \
    -Xcc -I"$artifact" -Xlinker -L"$artifact" -Xlinker -rpath -Xlinker "$artifact" > "$build/swift.log" 2>&1 \
    || { cat "$build/swift.log"; exit 1; }
"$build/swift/debug/Digits"
