// swift-tools-version: 6.0
// A Swift program that compiles an ONNX model in its own process with SieveJIT (the LLVM JIT; no C compiler, no files
// written) and runs it on arrays. Build and run: swift run --package-path Examples/swift-jit DigitsJIT
import PackageDescription

let package = Package(
    name: "DigitsJIT",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Sieve by path: this repository. SieveJIT links LLVM 19 (llvm-19-dev, as Sieve itself).
        .package(name: "Sieve", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "DigitsJIT", dependencies: [.product(name: "SieveJIT", package: "Sieve")]),
    ],
    swiftLanguageModes: [.v6]
)
