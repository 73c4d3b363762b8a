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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        .target(name: "SieveIR"),
        .target(name: "SieveTestSupport", path: "Tests/SieveTestSupport"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "SieveInterpreter", dependencies: ["SieveIR", "COpenBLAS", "CZlib"]),
        .target(name: "SievePasses", dependencies: ["SieveIR", "SieveInterpreter", "COpenBLAS"]),
        .target(
            name: "SieveONNX",
            dependencies: [
                "SieveIR", "SieveInterpreter",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .target(name: "SieveKernel", dependencies: ["SieveIR"]),
        .target(name: "CSieveRuntime", linkerSettings: [.linkedLibrary("pthread"), .linkedLibrary("m")]),
        .target(name: "SieveCodegenC", dependencies: ["SieveIR", "SieveKernel"]),
        .target(
            name: "SieveDriver",
            dependencies: ["SieveIR", "SievePasses", "SieveInterpreter", "SieveONNX", "SieveKernel", "SieveCodegenC"]),
        .executableTarget(
            name: "sieve",
            dependencies: [
                "SieveDriver",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "SieveIRTests", dependencies: ["SieveTestSupport", "SieveIR", "SieveInterpreter", "SievePasses", "SieveKernel", "SieveDriver"]),
        .testTarget(
            name: "SieveInterpreterTests", dependencies: ["SieveTestSupport", "SieveIR", "SieveInterpreter"],
            exclude: ["Fixtures"]),
        .testTarget(name: "SieveFileTests", dependencies: ["SieveIR", "SieveInterpreter", "SievePasses", "SieveKernel", "SieveDriver"]),
        .testTarget(
            name: "SieveDriverTests",
            dependencies: [
                "SieveTestSupport",
                "SieveDriver", "sieve", "SieveIR", "SieveInterpreter", "SieveONNX",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .testTarget(
            name: "SieveONNXTests",
            dependencies: [
                "SieveTestSupport",
                "SieveIR", "SieveInterpreter", "SieveONNX", "SieveDriver", "SieveCodegenC", "SieveKernel",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["conformance-expected-failures.txt"]),
        .testTarget(
            name: "SieveSparsityTests", dependencies: ["SieveTestSupport", "SieveIR", "SieveInterpreter", "SievePasses", "SieveDriver", "COpenBLAS"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "SieveNativeTests",
            dependencies: ["SieveTestSupport", "SieveIR", "SieveInterpreter", "SievePasses", "SieveKernel", "SieveCodegenC", "SieveDriver", "CSieveRuntime"],
            exclude: ["Drivers"]),
    ],
    swiftLanguageModes: [.v6]
)
