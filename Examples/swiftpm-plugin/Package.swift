// swift-tools-version: 6.0
// A Swift package that compiles its model with Sieve's build plugin: the target DigitsModel holds mlp.onnx
// and sieve.json; at build time the SieveModel plugin runs `sieve compile` and adds the class Mlp
// (Mlp.swift) and libmlp.so (a resource) to it. Build and run: swift run --package-path Examples/swiftpm-plugin
import PackageDescription

let package = Package(
    name: "DigitsWithPlugin",
    dependencies: [
        // Sieve by path: this repository. Its SieveModel plugin builds the sieve tool it runs.
        .package(name: "Sieve", path: "../.."),
    ],
    targets: [
        .target(name: "DigitsModel", plugins: [.plugin(name: "SieveModel", package: "Sieve")]),
        .executableTarget(name: "Digits", dependencies: ["DigitsModel"]),
    ],
    swiftLanguageModes: [.v6]
)
