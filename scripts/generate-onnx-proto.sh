#!/usr/bin/env bash
# Regenerates Sources/SieveONNX/generated/onnx.pb.swift from onnx/onnx.proto
# (proto2) as shipped in the pinned onnx package in .venv/ (see
# scripts/requirements.txt), with Debian's protoc and protoc-gen-swift built
# from swift-protobuf at the tag the package depends on. The plugin is built
# once in .build-protoc/ (gitignored) and reused. Run it after changing the
# onnx or swift-protobuf version; commit the generated file.
set -euo pipefail
cd "$(dirname "$0")/.."

swift_protobuf_tag=1.39.0
swift_protobuf_url=https://github.com/apple/swift-protobuf.git
scratch=.build-protoc
output=Sources/SieveONNX/generated/onnx.pb.swift

# Step 1: the Python environment that holds onnx.proto.
scripts/setup-python.sh
proto_dir=$(.venv/bin/python -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("onnx").origin))')
if [[ ! -f $proto_dir/onnx.proto ]]; then
    echo "generate-onnx-proto: $proto_dir/onnx.proto is missing" >&2
    exit 1
fi
echo "generate-onnx-proto: schema $proto_dir/onnx.proto (onnx $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("onnx"))'))"

# Step 2: protoc.
if ! command -v protoc >/dev/null; then
    echo "generate-onnx-proto: installing Debian package protobuf-compiler"
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq protobuf-compiler >/dev/null
fi
echo "generate-onnx-proto: $(protoc --version)"

# Step 3: protoc-gen-swift at the pinned tag.
checkout=$scratch/swift-protobuf
if [[ ! -d $checkout/.git ]] || [[ $(git -C "$checkout" describe --tags --exact-match 2>/dev/null) != "$swift_protobuf_tag" ]]; then
    echo "generate-onnx-proto: cloning swift-protobuf $swift_protobuf_tag into $checkout"
    rm -rf "$checkout"
    mkdir -p "$scratch"
    git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$swift_protobuf_tag" "$swift_protobuf_url" "$checkout"
fi
plugin=$(cd "$checkout" && swift build -c release --show-bin-path)/protoc-gen-swift
if [[ -x $plugin ]] && [[ $("$plugin" --version) == "protoc-gen-swift $swift_protobuf_tag" ]]; then
    echo "generate-onnx-proto: $plugin present"
else
    echo "generate-onnx-proto: building protoc-gen-swift $swift_protobuf_tag (takes a few minutes)"
    (cd "$checkout" && swift build -c release --product protoc-gen-swift)
fi

# Step 4: generate into a scratch folder, then replace the checked-in file.
generated=$(mktemp -d)
trap 'rm -rf "$generated"' EXIT
protoc --plugin=protoc-gen-swift="$plugin" \
    --proto_path="$proto_dir" \
    --swift_out="$generated" \
    --swift_opt=Visibility=Public \
    "$proto_dir/onnx.proto"
mkdir -p "$(dirname "$output")"
cp "$generated/onnx.pb.swift" "$output"
echo "generate-onnx-proto: wrote $output ($(wc -c <"$output") bytes)"
