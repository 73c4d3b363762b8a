// swift-tools-version: 6.0
// Sieve: an ahead-of-time compiler that turns N:M weight sparsity into CPU speed.
// Targets are layered one way, from the edges (CLI, frontends, backends) towards the IR.
import PackageDescription

let package = Package(
    name: "Sieve",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sieve", targets: ["sieve"]),
        .library(name: "SieveIR", targets: ["SieveIR"]),
        .library(name: "SieveDriver", targets: ["SieveDriver"]),
        // Loads an ONNX model, compiles it into the process with the LLVM JIT and runs it on arrays (Examples/swift-jit).
        .library(name: "SieveJIT", targets: ["SieveJIT"]),
        // Compiles a target's MODEL.onnx at build time into a Swift class and libNAME.so (Plugins/SieveModel).
        .plugin(name: "SieveModel", targets: ["SieveModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        .target(name: "SieveIR"),
        .target(name: "SieveTarget", dependencies: ["SieveIR"]),
        .target(name: "SieveTestSupport", dependencies: ["SieveIR"], path: "Tests/SieveTestSupport"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // LLVM-C 19 (llvm-19-dev): include/ holds links to /usr/lib/llvm-19/include's llvm-c and llvm folders (so the
        // headers' own "llvm-c/..." includes resolve through the include folder SwiftPM passes), and libLLVM-19.so is in
        // the default library folder: no unsafe flags, so a package that depends on Sieve by path builds it too.
        .target(name: "CLLVM", linkerSettings: [.linkedLibrary("LLVM-19")]),
        .target(name: "SieveInterpreter", dependencies: ["SieveIR", "COpenBLAS"]),
        .target(name: "SieveFormats", dependencies: ["SieveIR", "CZlib"]),
        .target(name: "SievePasses", dependencies: ["SieveIR", "SieveTarget", "SieveInterpreter", "SieveFormats", "COpenBLAS"]),
        .target(
            name: "SieveONNX",
            dependencies: [
                "SieveIR", "SieveInterpreter", "SieveFormats",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        // Builders of small ONNX models in memory, shared by the importer and driver tests.
        .target(name: "SieveONNXTestSupport", dependencies: ["SieveONNX"], path: "Tests/SieveONNXTestSupport"),
        .target(name: "SieveKernel", dependencies: ["SieveIR", "SieveTarget"]),
        .target(name: "CSieveRuntime", linkerSettings: [.linkedLibrary("pthread"), .linkedLibrary("m")]),
        .target(name: "SieveCodegenC", dependencies: ["SieveIR", "SieveKernel"]),
        .target(name: "SieveCodegenLLVM", dependencies: ["SieveIR", "SieveKernel", "CLLVM"]),
        .target(
            name: "SieveDriver",
            dependencies: ["SieveIR", "SieveTarget", "SievePasses", "SieveInterpreter", "SieveFormats", "SieveONNX", "SieveKernel", "SieveCodegenC", "SieveCodegenLLVM"]),
        .target(name: "SieveJIT", dependencies: ["SieveDriver", "SieveFormats", "SieveIR", "SieveInterpreter", "SieveKernel"]),
        // Fuzzing tools (mutators, the campaign harness, random graphs), shared by the tests and `sieve-fuzz`.
        .target(
            name: "SieveFuzz",
            dependencies: [
                "SieveTestSupport", "SieveIR", "SieveTarget", "SieveInterpreter", "SieveFormats", "SieveONNX", "SieveKernel",
                "SieveCodegenC", "SieveDriver",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Tests/SieveFuzz"),
        .executableTarget(
            name: "sieve-fuzz",
            dependencies: ["SieveFuzz", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tests/SieveFuzzTool"),
        .executableTarget(
            name: "sieve",
            dependencies: [
                // The CLI talks to the driver only (DriverInterface.swift re-exports the few types it carries).
                "SieveDriver",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .plugin(name: "SieveModel", capability: .buildTool(), dependencies: ["sieve"]),
        .testTarget(name: "SieveIRTests", dependencies: ["SieveTestSupport", "SieveIR", "SieveTarget", "SieveInterpreter", "SievePasses", "SieveKernel", "SieveDriver"]),
        .testTarget(name: "SieveTargetTests", dependencies: ["SieveTestSupport", "SieveIR", "SieveTarget"]),
        .testTarget(
            name: "SieveInterpreterTests", dependencies: ["SieveTestSupport", "SieveIR", "SieveInterpreter", "SieveFormats"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "SieveFormatsTests", dependencies: ["SieveTestSupport", "SieveIR", "SieveFormats"],
            exclude: ["Fixtures"]),
        .testTarget(name: "SieveFileTests", dependencies: ["SieveTestSupport", "SieveIR", "SieveInterpreter", "SieveFormats", "SievePasses", "SieveKernel", "SieveDriver", "SieveTarget", "SieveCodegenC"]),
        .testTarget(
            name: "SieveDriverTests",
            dependencies: [
                "SieveTestSupport", "SieveONNXTestSupport", "SieveFuzz",
                "SieveDriver", "SieveJIT", "sieve", "sieve-fuzz", "SieveIR", "SieveInterpreter", "SieveFormats", "SieveONNX", "SieveTarget", "SievePasses",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Drivers"]),
        .testTarget(
            name: "SieveONNXTests",
            dependencies: [
                "SieveTestSupport", "SieveONNXTestSupport",
                "SieveIR", "SieveTarget", "SieveInterpreter", "SieveFormats", "SieveONNX", "SieveDriver", "SieveCodegenC", "SieveKernel", "SievePasses",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["conformance-expected-failures.txt"]),
        .testTarget(
            name: "SieveSparsityTests", dependencies: ["SieveTestSupport", "SieveIR", "SieveInterpreter", "SieveFormats", "SievePasses", "SieveDriver", "COpenBLAS"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "SieveNativeTests",
            dependencies: ["SieveTestSupport", "SieveFuzz", "SieveIR", "SieveTarget", "SieveInterpreter", "SievePasses", "SieveKernel", "SieveCodegenC", "SieveDriver", "CSieveRuntime"],
            exclude: ["Drivers"]),
    ],
    swiftLanguageModes: [.v6]
)
