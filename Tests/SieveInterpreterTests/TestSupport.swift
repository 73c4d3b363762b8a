// Helpers shared by the interpreter tests: building tensors, evaluating one op, locating fixtures.
// Result types are computed with the op's own type rule, so each test states only operands and attributes.

import Foundation
import SieveFormats
import SieveIR
import Testing
@testable import SieveInterpreter

/// An f32 tensor.
func floats(_ shape: [Int], _ values: [Float]) throws -> Tensor {
    try Tensor(TensorType(shape, .f32), floats: values)
}

/// An integer or bool tensor of the given element type.
func ints(_ shape: [Int], _ values: [Int64], _ elementType: ElementType = .i64) throws -> Tensor {
    try Tensor(TensorType(shape, elementType), integers: values)
}

/// Evaluates one op; the result type is the one the type rule gives, or `declared` where the op needs it.
func evaluate(_ kind: OpKind, _ operands: [Tensor], declared: TensorType? = nil,
              constants: ConstantTable = ConstantTable()) throws -> Tensor {
    let resultType = try kind.resultType(operands: operands.map(\.type), declared: declared, constants: constants)
    return try Interpreter.evaluate(kind, operands: operands, resultType: resultType, constants: constants)
}

/// The path of a committed fixture file.
func fixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
}

/// The tensors of a fixture archive by name.
func fixture(_ name: String) throws -> [String: Tensor] {
    Dictionary(uniqueKeysWithValues: try NumPyFile.readArchive(path: fixturePath(name)).map { ($0.name, try Tensor($0)) })
}

/// A fresh temporary folder for files a test writes.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-interp-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The first diagnostic message of an error, or the error's description.
func message(of error: (any Error)?) -> String {
    if let error = error as? DiagnosticError { return error.diagnostics.first?.message ?? "" }
    return error.map { "\($0)" } ?? ""
}

/// Expects `actual` to match `expected` within tolerances, printing both when it does not.
func expectClose(_ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-5, atol: Double = 1e-6,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    #expect(actual.allClose(expected, rtol: rtol, atol: atol),
            "max difference \(actual.maxAbsDifference(expected) ?? .nan)\nactual:   \(actual)\nexpected: \(expected)",
            sourceLocation: sourceLocation)
}

/// Expects exactly these Float values.
func expectFloats(_ actual: Tensor, _ values: [Float], shape: [Int]? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    if let shape { #expect(actual.shape == shape, sourceLocation: sourceLocation) }
    #expect(actual.floats == values, "\(actual)", sourceLocation: sourceLocation)
}

/// Expects exactly these integer values.
func expectInts(_ actual: Tensor, _ values: [Int64], shape: [Int]? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    if let shape { #expect(actual.shape == shape, sourceLocation: sourceLocation) }
    #expect(actual.integers == values, "\(actual)", sourceLocation: sourceLocation)
}
