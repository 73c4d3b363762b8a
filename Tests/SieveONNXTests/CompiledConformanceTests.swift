// The ONNX node conformance cases compiled: every case the interpreter passes must also pass as
// native code, for the host's vector width and for generic x86-64. All cases of a run go into one
// artifact (graphs side by side) so the C compiler runs once per target.

import Foundation
import SieveCodegenC
import SieveDriver
import SieveIR
import SieveInterpreter
import SieveKernel
import SieveTarget
import Testing

@Test(.enabled(if: FileManager.default.fileExists(atPath: nodeTestFolder.path),
               "the ONNX node test data is missing: run scripts/setup-python.sh to put it in .cache/onnx-node-tests"),
      arguments: [TargetDescription.native, .x86_64])
func compiledConformance(target: TargetDescription) throws {
    let dataSets = try interpretedPassingDataSets { _ in true }
    #expect(dataSets.count >= 250, "only \(dataSets.count) conformance data sets pass in the interpreter")
    try compileAndCompare(dataSets, target: target)
}

/// Every conformance case the interpreter passes, compiled in process by the LLVM backend's JIT for the host.
@Test(.enabled(if: FileManager.default.fileExists(atPath: nodeTestFolder.path),
               "the ONNX node test data is missing: run scripts/setup-python.sh to put it in .cache/onnx-node-tests"))
func jitConformance() throws {
    let dataSets = try interpretedPassingDataSets { _ in true }
    #expect(dataSets.count >= 250, "only \(dataSets.count) conformance data sets pass in the interpreter")
    try compileAndCompare(dataSets, target: .native, jit: true)
}

/// The case-name prefixes of the quantization ops' node cases (QuantizeLinear, DequantizeLinear,
/// DynamicQuantizeLinear and its expanded form, the integer and QLinear products).
let quantizationCasePrefixes = ["test_quantizelinear", "test_dequantizelinear", "test_dynamicquantizelinear",
                                "test_matmulinteger", "test_convinteger", "test_qlinearmatmul", "test_qlinearconv"]

/// The quantization ops' cases alone, compiled: a focused run of `compiledConformance` for work on those ops.
@Test(.enabled(if: FileManager.default.fileExists(atPath: nodeTestFolder.path),
               "the ONNX node test data is missing: run scripts/setup-python.sh to put it in .cache/onnx-node-tests"),
      arguments: [TargetDescription.native, .x86_64])
func compiledQuantizationConformance(target: TargetDescription) throws {
    let dataSets = try interpretedPassingDataSets { name in quantizationCasePrefixes.contains { name.hasPrefix($0) } }
    // All 45 cases pass interpreted with onnx 1.22.0, int16, int4, int2, float8, float4 and blocked quantization included.
    #expect(Set(dataSets.map(\.caseName)).count >= 45, "only \(dataSets.count) quantization data sets pass in the interpreter")
    try compileAndCompare(dataSets, target: target)
}

/// The data sets of every selected case the interpreter passes (the interpreter test reports the others).
func interpretedPassingDataSets(_ selected: (String) -> Bool) throws -> [(caseName: String, dataSet: ConformanceDataSet)] {
    var dataSets: [(caseName: String, dataSet: ConformanceDataSet)] = []
    for (name, folder) in try conformanceCaseFolders() where selected(name) {
        guard case let .success(imported) = importConformanceCase(folder), case .passed = runConformanceCase(folder) else { continue }
        dataSets += imported.map { (name, $0) }
    }
    return dataSets
}

/// Compiles the data sets' graphs side by side into one artifact for `target`, runs it and compares every output.
func compileAndCompare(_ dataSets: [(caseName: String, dataSet: ConformanceDataSet)], target: TargetDescription,
                       jit: Bool = false) throws {

    let graphs = dataSets.map(\.dataSet.graph)
    let merged = Graph.sideBySide(graphs, name: "conformance")
    let artifact: NativeArtifact
    if jit {
        artifact = try NativeArtifact(jit: try lowerToKernels(merged, options: LoweringOptions(name: "conformance", vectorWidth: target.f32Lanes)),
                                      target: target)
    } else {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sieve-conformance-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try ArtifactWriter.write(ArtifactRequest(graph: merged, name: "conformance", outputDirectory: folder.path, target: target,
                                                     sourceDescription: "ONNX node tests", compiler: "cc", extraFlags: ["-Werror"]))
        artifact = try NativeArtifact(library: folder.appendingPathComponent("libconformance.so").path, name: "conformance")
    }
    let outputs = try artifact.run(dataSets.flatMap(\.dataSet.inputs), threads: 2)

    var offset = 0, failures: [String] = []
    for (caseName, dataSet) in dataSets {
        let count = dataSet.graph.outputs.count
        let actual = Array(outputs[offset..<(offset + count)])
        offset += count
        if let mismatch = conformanceMismatch(actual, dataSet.expected, dataSet: dataSet.name) {
            failures.append("\(caseName) (\(target.name)\(jit ? ", JIT" : "")): \(mismatch)")
        }
    }
    print("compiled conformance (\(target.name)\(jit ? ", JIT" : "")): \(dataSets.count - failures.count) of \(dataSets.count) data sets pass")
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
}
