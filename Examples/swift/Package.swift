// swift-tools-version: 6.0
// A Swift program that links a model compiled by Sieve (libmlp.a and mlp.h) and calls its C API.
// Build with the folder `sieve compile -o` wrote on the header and library search paths:
//   swift build --package-path Examples/swift -Xcc -I$DIR -Xlinker -L$DIR
import PackageDescription

let package = Package(
    name: "Digits",
    targets: [
        // The compiled model, seen from Swift as the module CMLP.
        .systemLibrary(name: "CMLP", path: "Sources/CMLP"),
        .executableTarget(name: "Digits", dependencies: ["CMLP"]),
    ],
    swiftLanguageModes: [.v6]
)
