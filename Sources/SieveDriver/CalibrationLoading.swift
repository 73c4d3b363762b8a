// Calibration and evaluation data from a path: NumPy files and folders (CalibrationSet.load), or the
// ONNX test-data layout, `test_data_set_*/input_N.pb`, in which each TensorProto names its input.

import Foundation
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveONNX

/// Loads `.npy`/`.npz` files or folders of them, or ONNX `test_data_set_*` folders (one such folder,
/// or a folder holding several): their `input_N.pb` tensors are stacked along the batch axis per input,
/// sequences of different lengths padded with zeros to the longest when an input's name contains "mask".
public func loadCalibrationData(path: String) throws(DiagnosticError) -> CalibrationSet {
    let url = URL(fileURLWithPath: path)
    let fileManager = FileManager.default
    var isDirectory: ObjCBool = false
    guard fileManager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
        return try CalibrationSet.load(path: path)
    }
    let dataSets: [URL]
    if url.lastPathComponent.hasPrefix("test_data_set_") {
        dataSets = [url]
    } else {
        dataSets = ((try? fileManager.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasPrefix("test_data_set_") }.sorted().map { url.appendingPathComponent($0) }
    }
    guard !dataSets.isEmpty else { return try CalibrationSet.load(path: path) }

    var samples: [String: [Tensor]] = [:]
    var order: [String] = []
    for dataSet in dataSets {
        var index = 0
        while fileManager.fileExists(atPath: dataSet.appendingPathComponent("input_\(index).pb").path) {
            let file = dataSet.appendingPathComponent("input_\(index).pb").path
            let (name, tensor) = try ONNXTensorFile.read(path: file)
            guard !name.isEmpty else {
                throw DiagnosticError(.error(.file(path: file, line: 0, column: 0), "the tensor has no name, so it cannot be matched to a model input; set TensorProto.name to the input's name"))
            }
            if samples[name] == nil { order.append(name) }
            samples[name, default: []].append(tensor)
            index += 1
        }
        guard index > 0 else {
            throw DiagnosticError(.error(.file(path: dataSet.path, line: 0, column: 0), "the test-data folder holds no input_0.pb"))
        }
    }
    // Sequences of different lengths (one sentence per folder) are padded to the longest with zeros
    // when a mask input marks the padding, as CalibrationSet pads NumPy samples.
    let masked = order.contains { $0.lowercased().contains("mask") }
    var stacked: [String: Tensor] = [:]
    for name in order {
        var tensors = samples[name] ?? []
        if masked {
            tensors = try tensors.map { tensor throws(DiagnosticError) in try paddedSequence(tensor, to: tensors) }
        }
        guard let first = tensors.first, first.type.rank >= 1,
              tensors.allSatisfy({ $0.elementType == first.elementType && $0.type.rank == first.type.rank && Array($0.shape.dropFirst()) == Array(first.shape.dropFirst()) }) else {
            throw DiagnosticError(.error(.file(path: path, line: 0, column: 0), "the samples of input '\(name)' differ in element type or in their dimensions after the batch axis, so they cannot be stacked"))
        }
        let total = tensors.reduce(0) { $0 + $1.shape[0] }
        let type = TensorType([total] + first.shape.dropFirst(), first.elementType)
        do {
            stacked[name] = try Interpreter.evaluate(.concat(axis: 0), operands: tensors, resultType: type, constants: ConstantTable())
        } catch let error as DiagnosticError {
            throw error
        } catch {
            throw DiagnosticError(.error(.file(path: path, line: 0, column: 0), "cannot stack the samples of input '\(name)': \(error)"))
        }
    }
    return CalibrationSet(samples: stacked.mapValues { $0.constant(name: "sample") }, origin: path)
}

/// A `[S, L, ...]` tensor padded with zeros along axis 1 to the longest L among `all`, when they differ
/// only there; otherwise the tensor as it is (stacking then says what differs).
private func paddedSequence(_ tensor: Tensor, to all: [Tensor]) throws(DiagnosticError) -> Tensor {
    guard tensor.type.rank >= 2, all.allSatisfy({ $0.type.rank == tensor.type.rank && $0.elementType == tensor.elementType
                                                   && Array($0.shape.dropFirst(2)) == Array(tensor.shape.dropFirst(2)) }),
          let longest = all.map({ $0.shape[1] }).max(), longest > tensor.shape[1] else { return tensor }
    var pads = [Int](repeating: 0, count: 2 * tensor.type.rank)
    pads[tensor.type.rank + 1] = longest - tensor.shape[1]
    var shape = tensor.shape
    shape[1] = longest
    do {
        return try Interpreter.evaluate(.pad(pads: pads, mode: .constant, value: 0), operands: [tensor],
                                        resultType: TensorType(shape, tensor.elementType), constants: ConstantTable())
    } catch let error as DiagnosticError {
        throw error
    } catch {
        throw DiagnosticError(.error(.unknown, "cannot pad a calibration sequence: \(error)"))
    }
}
