// The ONNX backend node test suite: every case whose ops the frontend claims is imported, interpreted and
// compared with the expected outputs; a failing case fails the test unless the expected-failures file lists it.

import Foundation
import SieveIR
import SieveInterpreter
import SieveONNX
import SieveONNXTestSupport
import SwiftProtobuf
import Testing

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Where scripts/setup-python.sh puts the node test cases (one folder per case).
let nodeTestFolder = repositoryRoot.appendingPathComponent(".cache/onnx-node-tests")

/// Where scripts/make-frontend-node-tests.py (run by scripts/setup-python.sh) puts the cases the backend
/// suite lacks: ops at opsets 7 to 12, recurrent variants, If with a constant condition. Same layout.
let frontendNodeTestFolder = repositoryRoot.appendingPathComponent(".cache/onnx-frontend-node-tests")

/// Every case folder of both suites, by case name.
func conformanceCaseFolders() throws -> [(name: String, folder: URL)] {
    var cases: [(String, URL)] = []
    for root in [nodeTestFolder, frontendNodeTestFolder] where FileManager.default.fileExists(atPath: root.path) {
        for name in try FileManager.default.contentsOfDirectory(atPath: root.path) where name.hasPrefix("test_") {
            cases.append((name, root.appendingPathComponent(name)))
        }
    }
    return cases.sorted { $0.0 < $1.0 }
}

/// Cases allowed to fail, with a reason each: `case_name: reason` per line, `#` for comments.
let expectedFailuresFile = repositoryRoot.appendingPathComponent("Tests/SieveONNXTests/conformance-expected-failures.txt")

/// Float outputs must satisfy |actual - expected| <= atol + rtol * |expected|; integer and bool outputs match exactly.
let conformanceRelativeTolerance = 1e-4
let conformanceAbsoluteTolerance = 1e-4

/// How one case ended.
enum CaseOutcome {
    case passed
    case failed(String)
    /// Deliberately unsupported: an op Sieve does not claim, or a type or attribute of a claimed op.
    case skipped(String)
}

/// One data set of a case, imported: the graph, its inputs (those not bound as constants) and the
/// expected outputs.
struct ConformanceDataSet {
    var name: String
    var graph: Graph
    var inputs: [Tensor]
    var expected: [Tensor]
}

/// Imports one case folder (`model.onnx` plus `test_data_set_*/{input,output}_N.pb`), one graph per
/// data set, or says why the case is skipped or failed.
func importConformanceCase(_ folder: URL) -> Result<[ConformanceDataSet], ConformanceCaseError> {
    func outcome(_ value: CaseOutcome) -> Result<[ConformanceDataSet], ConformanceCaseError> { .failure(ConformanceCaseError(outcome: value)) }
    var importedSets: [ConformanceDataSet] = []
    let model: ONNXModel
    do {
        model = try ONNXModel.load(path: folder.appendingPathComponent("model.onnx").path)
    } catch {
        let message = error.diagnostics.first?.message ?? ""
        if message.contains("Sieve reads opset") { return outcome(.skipped("opset older than \(ONNXImporter.minimumOpset)")) }
        if message.contains("imports no default-domain") { return outcome(.skipped("unsupported op (not in the default domain)")) }
        return outcome(.failed("cannot load the model: \(error)"))
    }
    let unclaimed = model.opTypes.subtracting(ONNXImporter.supportedOps).sorted()
    if !unclaimed.isEmpty { return outcome(.skipped("unsupported op " + unclaimed.joined(separator: ", "))) }

    let fileManager = FileManager.default
    let dataSets = ((try? fileManager.contentsOfDirectory(atPath: folder.path)) ?? [])
        .filter { $0.hasPrefix("test_data_set_") }.sorted()
    guard !dataSets.isEmpty else { return outcome(.failed("the case has no test_data_set_* folder")) }
    for dataSet in dataSets {
        let dataFolder = folder.appendingPathComponent(dataSet)
        func readAll(_ prefix: String) throws(DiagnosticError) -> [Tensor] {
            var tensors: [Tensor] = []
            var index = 0
            while fileManager.fileExists(atPath: dataFolder.appendingPathComponent("\(prefix)_\(index).pb").path) {
                tensors.append(try ONNXTensorFile.read(path: dataFolder.appendingPathComponent("\(prefix)_\(index).pb").path).tensor)
                index += 1
            }
            return tensors
        }
        let inputs: [Tensor], expected: [Tensor]
        do {
            inputs = try readAll("input")
            expected = try readAll("output")
        } catch {
            if error.description.contains("does not support") { return outcome(.skipped(error.diagnostics.first?.message ?? "")) }
            // Sequence and optional inputs are not TensorProto files; the importer refuses such inputs.
            do {
                _ = try model.importGraph()
            } catch let refusal where refusal.description.contains("is not a tensor") {
                return outcome(.skipped(refusal.diagnostics.first { $0.message.contains("is not a tensor") }?.message ?? ""))
            } catch {}
            return outcome(.failed("cannot read test data: \(error)"))
        }
        guard inputs.count <= model.inputNames.count else {
            return outcome(.failed("\(inputs.count) input files for \(model.inputNames.count) model inputs"))
        }
        let names = Array(model.inputNames.prefix(inputs.count))
        var shapes: [String: [Int]] = [:]
        for (name, tensor) in zip(names, inputs) { shapes[name] = tensor.shape }

        // Import with every input as a graph input; when an op needs one of them as a constant (a shape,
        // axes, pads), bind the integer inputs at import instead, as a compiler specializing the model would.
        var imported: ONNXImportResult?
        var bound: Set<String> = []
        do {
            imported = try model.importGraph(inputShapes: shapes)
        } catch let first {
            // First bind the integer and bool inputs (shapes, axes, indices, flags), then, if an op still
            // needs a constant (Clip's bounds, quantization scales), every input but the first, then every input
            // (Range, folded at import, reads only its start, limit and delta).
            var lastError = first
            for floatsBound in [0, 1, 2] where imported == nil {
                guard lastError.description.contains("must be a constant") else { break }
                var constants: [String: Constant] = [:]
                var remaining = shapes
                for (position, (name, tensor)) in zip(names, inputs).enumerated()
                    where !tensor.elementType.isFloat || (floatsBound == 1 && position > 0) || floatsBound == 2 {
                    constants[name] = tensor.constant(name: name)
                    remaining[name] = nil
                }
                do {
                    imported = try model.importGraph(inputShapes: remaining, constantInputs: constants)
                    bound = Set(constants.keys)
                } catch {
                    lastError = error
                }
            }
            if imported == nil {
                let error = lastError
                if error.diagnostics.allSatisfy({ $0.message.contains("not supported") || $0.message.contains("does not support") }) {
                    return outcome(.skipped(error.diagnostics.first?.message ?? ""))
                }
                return outcome(.failed("import: \(error)"))
            }
        }
        guard let imported else { return outcome(.failed("import produced no graph")) }
        let graphInputs = zip(names, inputs).filter { !bound.contains($0.0) }.map(\.1)
        importedSets.append(ConformanceDataSet(name: dataSet, graph: imported.graph, inputs: graphInputs, expected: expected))
    }
    return .success(importedSets)
}

/// Why a case did not import: its outcome (skipped or failed).
struct ConformanceCaseError: Error {
    var outcome: CaseOutcome
}

/// Compares a data set's outputs with the expected ones at the suite's tolerances; nil when they agree.
func conformanceMismatch(_ actual: [Tensor], _ expected: [Tensor], dataSet: String) -> String? {
    guard actual.count == expected.count else { return "\(dataSet): \(actual.count) outputs, expected \(expected.count)" }
    for (index, (got, want)) in zip(actual, expected).enumerated() {
        guard got.shape == want.shape, got.elementType == want.elementType else {
            return "\(dataSet) output \(index): got \(got.type), expected \(want.type)"
        }
        if want.elementType.isFloat {
            if !got.allClose(want, rtol: conformanceRelativeTolerance, atol: conformanceAbsoluteTolerance) {
                let difference = got.maxAbsDifference(want) ?? .infinity
                return "\(dataSet) output \(index): max abs difference \(difference) exceeds the tolerance"
            }
        } else if got.integers != want.integers {
            return "\(dataSet) output \(index): integers differ"
        }
    }
    return nil
}

/// Runs one case in the interpreter.
func runConformanceCase(_ folder: URL) -> CaseOutcome {
    let dataSets: [ConformanceDataSet]
    switch importConformanceCase(folder) {
    case let .success(imported): dataSets = imported
    case let .failure(error): return error.outcome
    }
    for dataSet in dataSets {
        let actual: [Tensor]
        do {
            actual = try Interpreter(graph: dataSet.graph).run(dataSet.inputs)
        } catch {
            return .failed("interpreter: \(error)")
        }
        if let mismatch = conformanceMismatch(actual, dataSet.expected, dataSet: dataSet.name) { return .failed(mismatch) }
    }
    return .passed
}

/// Reads the expected-failures file: case name to reason.
func readExpectedFailures() -> [String: String] {
    guard let text = try? String(contentsOf: expectedFailuresFile, encoding: .utf8) else { return [:] }
    var result: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let colon = trimmed.firstIndex(of: ":") else { continue }
        result[String(trimmed[..<colon])] = String(trimmed[trimmed.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
    }
    return result
}

@Test(.enabled(if: FileManager.default.fileExists(atPath: nodeTestFolder.path),
               "the ONNX node test data is missing: run scripts/setup-python.sh to put it in .cache/onnx-node-tests"))
func onnxNodeConformance() throws {
    let cases = try conformanceCaseFolders()
    let expectedFailures = readExpectedFailures()
    var passed = 0, failed = 0, skippedOp = 0, skippedOpset = 0
    var passedPerOp: [String: Int] = [:]
    /// Cases per op that wait only for opsets older than `ONNXImporter.minimumOpset` (the node suite has some ops,
    /// such as Xor and Celu, at opset 7 to 12 only).
    var opsetSkippedPerOp: [String: Int] = [:]
    var skippedOther: [(String, String)] = []
    var unexpected: [(String, String)] = []
    var unexpectedPasses: [String] = []
    var passedPerOpset: [Int: Int] = [:]
    for (name, folder) in cases {
        switch runConformanceCase(folder) {
        case .passed:
            passed += 1
            if let model = try? ONNXModel.load(path: folder.appendingPathComponent("model.onnx").path) {
                passedPerOpset[model.opsetVersion, default: 0] += 1
                for op in model.opTypes { passedPerOp[op, default: 0] += 1 }
            }
            if expectedFailures[name] != nil { unexpectedPasses.append(name) }
        case let .failed(reason):
            failed += 1
            if expectedFailures[name] == nil { unexpected.append((name, reason)) }
        case let .skipped(reason):
            if reason.hasPrefix("unsupported op") {
                skippedOp += 1
            } else if reason.hasPrefix("opset older") {
                skippedOpset += 1
                // The importer refuses such a model before listing its ops; read the node list from the protobuf.
                let path = nodeTestFolder.appendingPathComponent(name).appendingPathComponent("model.onnx")
                if let data = try? Data(contentsOf: path), let model = try? Onnx_ModelProto(serializedBytes: data) {
                    for op in Set(model.graph.node.map(\.opType)) { opsetSkippedPerOp[op, default: 0] += 1 }
                }
            } else {
                skippedOther.append((name, reason))
            }
        }
    }
    let skipped = skippedOp + skippedOpset + skippedOther.count
    print("conformance: \(passed) passed, \(failed) failed, \(skipped) skipped (unsupported op/type) of \(cases.count) cases; tolerance rtol \(conformanceRelativeTolerance), atol \(conformanceAbsoluteTolerance) for floats, exact for integers")
    print("conformance: skipped \(skippedOp) cases for an op Sieve does not claim, \(skippedOpset) for an opset older than \(ONNXImporter.minimumOpset), \(skippedOther.count) for a type or attribute of a claimed op:")
    for (name, reason) in skippedOther { print("  skip \(name): \(reason)") }
    print("conformance: passed cases per opset: " + passedPerOpset.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
    if FileManager.default.fileExists(atPath: frontendNodeTestFolder.path) {
        for opset in 7...12 where passedPerOpset[opset] == nil {
            Issue.record("no conformance case at opset \(opset) passes; the frontend claims opsets from \(ONNXImporter.minimumOpset)")
        }
    } else {
        print("conformance: \(frontendNodeTestFolder.path) is missing (scripts/setup-python.sh makes it): opsets 7-12 and the recurrent variants are not covered in this run")
    }
    let perOp = ONNXImporter.supportedOps.sorted().map { "\($0) \(passedPerOp[$0] ?? 0)" }
    print("conformance: passed cases using each claimed op: " + perOp.joined(separator: ", "))
    // A claim without a single passing case would be a claim the suite does not back. An op whose only cases
    // are at an opset the importer does not read yet is listed instead: those cases run once it does.
    for op in ONNXImporter.supportedOps.sorted() where passedPerOp[op] == nil {
        if let waiting = opsetSkippedPerOp[op] {
            print("conformance: \(op) has no case at opset \(ONNXImporter.minimumOpset) or newer; its \(waiting) older cases run once older opsets are read")
        } else {
            Issue.record("no conformance case using \(op) passes; every claimed op needs one")
        }
    }
    for (name, reason) in expectedFailures.sorted(by: { $0.key < $1.key }) { print("  expected failure \(name): \(reason)") }
    for (name, reason) in unexpected {
        Issue.record("conformance case \(name) failed: \(reason)")
    }
    for name in unexpectedPasses {
        Issue.record("conformance case \(name) passes but is listed in conformance-expected-failures.txt; remove it from the list")
    }
}
