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
    ],
    targets: [
        .target(name: "SieveIR"),
        .target(name: "SieveInterpreter", dependencies: ["SieveIR"]),
        .target(name: "SievePasses", dependencies: ["SieveIR", "SieveInterpreter"]),
        .target(name: "SieveDriver", dependencies: ["SieveIR", "SievePasses", "SieveInterpreter"]),
        .executableTarget(
            name: "sieve",
            dependencies: [
                "SieveDriver",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "SieveIRTests", dependencies: ["SieveIR", "SievePasses", "SieveDriver"]),
        .testTarget(name: "SieveFileTests", dependencies: ["SieveIR", "SievePasses", "SieveDriver"]),
        .testTarget(name: "SieveDriverTests", dependencies: ["SieveDriver", "sieve"]),
    ],
    swiftLanguageModes: [.v6]
)
