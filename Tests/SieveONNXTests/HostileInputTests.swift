// Hostile and broken models: external data that tries to leave the model's folder or claims more bytes
// than exist, broken graphs, and a seeded mutation fuzz over the committed models. Each must end in a
// DiagnosticError, never a crash, a hang or a huge allocation.

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveONNX
import SieveONNXTestSupport
import SieveTestSupport
import Testing

// MARK: External data

/// A model whose weight `W` [4, 3] is external data described by `tensor`.
func externalWeightModel(_ tensor: Onnx_TensorProto) -> Onnx_ModelProto {
    model(nodes: [node("MatMul", ["x", "W"], ["y"], name: "fc")], inputs: [valueInfo("x", ONNXType.float, [1, 4])],
          outputs: ["y"], initializers: [tensor])
}

let externalWeights: [Float] = (0..<12).map { Float($0) - 5.5 }

@Test func externalDataInsideTheFolderIsRead() throws {
    let folder = try temporaryFolder("external")
    defer { try? FileManager.default.removeItem(at: folder) }
    try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
    var file = Data([1, 2, 3, 4, 5, 6, 7, 8])  // 8 bytes of something else first
    file.append(floatBytes(externalWeights))
    try file.write(to: folder.appendingPathComponent("data/weights.bin"))
    let tensor = externalTensor("W", [4, 3], location: "data/weights.bin", offset: 8, length: 48)
    let graph = try importBytes(externalWeightModel(tensor), folder: folder.path).graph
    let weight = try #require(graph.constants.entries.first { $0.name == "W" })
    #expect(weight.doubles() == externalWeights.map(Double.init))
}

/// The message an import of `tensor` as external weight fails with (empty when it succeeds).
func externalFailure(_ tensor: Onnx_TensorProto, folder: URL) -> String {
    let errors = importErrors(externalWeightModel(tensor), folder: folder.path)
    return errors.map(\.message).joined(separator: "\n")
}

@Test func externalDataCannotLeaveTheFolder() throws {
    let root = try temporaryFolder("escape")
    defer { try? FileManager.default.removeItem(at: root) }
    let modelFolder = root.appendingPathComponent("model")
    try FileManager.default.createDirectory(at: modelFolder, withIntermediateDirectories: true)
    let outside = root.appendingPathComponent("secret.bin")
    try floatBytes(externalWeights).write(to: outside)

    #expect(externalFailure(externalTensor("W", [4, 3], location: outside.path), folder: modelFolder)
        .contains("absolute external data location"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "../secret.bin"), folder: modelFolder)
        .contains("'..' component"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "a/../../secret.bin"), folder: modelFolder)
        .contains("'..' component"))

    // A symbolic link to a file outside, and one to a folder outside.
    try FileManager.default.createSymbolicLink(atPath: modelFolder.appendingPathComponent("link.bin").path,
                                               withDestinationPath: outside.path)
    #expect(externalFailure(externalTensor("W", [4, 3], location: "link.bin"), folder: modelFolder)
        .contains("outside the model's folder"))
    try FileManager.default.createSymbolicLink(atPath: modelFolder.appendingPathComponent("up").path,
                                               withDestinationPath: root.path)
    #expect(externalFailure(externalTensor("W", [4, 3], location: "up/secret.bin"), folder: modelFolder)
        .contains("outside the model's folder"))

    // A hard link: the same file under a second name inside the folder.
    let hard = modelFolder.appendingPathComponent("hard.bin")
    #expect(link(outside.path, hard.path) == 0)
    #expect(externalFailure(externalTensor("W", [4, 3], location: "hard.bin"), folder: modelFolder)
        .contains("hard links"))

    // No folder at all (a model held in memory) means no external data.
    #expect(importErrors(externalWeightModel(externalTensor("W", [4, 3], location: "w.bin")), folder: nil)
        .first?.message.contains("only allowed for tensors in a model file") == true)
}

@Test func externalDataMustFitTheFile() throws {
    let folder = try temporaryFolder("sizes")
    defer { try? FileManager.default.removeItem(at: folder) }
    try floatBytes(externalWeights).write(to: folder.appendingPathComponent("w.bin"))
    try Data(repeating: 7, count: 10).write(to: folder.appendingPathComponent("tiny.bin"))

    #expect(externalFailure(externalTensor("W", [4, 3], location: "w.bin", offset: 1000), folder: folder)
        .contains("beyond the end"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "w.bin", offset: 8, length: 48), folder: folder)
        .contains("runs past the end"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "w.bin", length: 40), folder: folder)
        .contains("needs 48"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "missing.bin"), folder: folder)
        .contains("does not exist"))
    #expect(externalFailure(externalTensor("W", [4, 3], location: "w.bin", offset: -1), folder: folder)
        .contains("invalid external data offset"))

    // A 10-byte file claiming a 1 GiB and a 4 TiB tensor: refused from the sizes, before any allocation.
    let start = Date()
    #expect(externalFailure(externalTensor("W", [1 << 28], location: "tiny.bin"), folder: folder)
        .contains("tensor type needs 1073741824"))
    #expect(externalFailure(externalTensor("W", [1 << 20, 1 << 20], location: "tiny.bin"), folder: folder)
        .contains("refused as absurd"))
    #expect(Date().timeIntervalSince(start) < 1)
}

// MARK: Broken graphs

@Test func brokenGraphsEndInDiagnostics() {
    let input = valueInfo("x", ONNXType.float, [1, 4])
    func errors(_ nodes: [Onnx_NodeProto], inputs: [Onnx_ValueInfoProto]? = nil, outputs: [String] = ["y"],
                initializers: [Onnx_TensorProto] = []) -> String {
        importErrors(model(nodes: nodes, inputs: inputs ?? [input], outputs: outputs, initializers: initializers))
            .map(\.description).joined(separator: "\n")
    }
    // A cycle: a reads b, b reads a.
    #expect(errors([node("Relu", ["b"], ["a"]), node("Relu", ["a"], ["b"]), node("Relu", ["b"], ["y"])])
        .contains("not in topological order or has a cycle"))
    // A node reading its own output.
    #expect(errors([node("Add", ["x", "y"], ["y"])]).contains("not in topological order or has a cycle"))
    // Two nodes defining one name.
    #expect(errors([node("Relu", ["x"], ["y"]), node("Sigmoid", ["x"], ["y"])]).contains("already defined"))
    // A missing initializer.
    #expect(errors([node("MatMul", ["x", "W"], ["y"])]).contains("input 'W' is not a graph input, an initializer"))
    // An output nothing produces.
    #expect(errors([node("Relu", ["x"], ["z"])]).contains("graph output 'y' is not produced"))
    // Huge and negative declared dimensions.
    #expect(errors([node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [.size(1 << 50), 4])])
        .contains("negative or absurd"))
    #expect(errors([node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [-5, 4])])
        .contains("negative or absurd"))
    #expect(errors([node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.float, [.size(1 << 20), .size(1 << 20), .size(1 << 20)])])
        .contains("more than 2^40 elements"))
    // Initializers with negative dimensions or the wrong amount of data.
    #expect(errors([node("Add", ["x", "b"], ["y"])], initializers: [floatTensor("b", [-4], [1, 2, 3, 4])])
        .contains("invalid dimension -4"))
    #expect(errors([node("Add", ["x", "b"], ["y"])], initializers: [floatTensor("b", [4], [1, 2, 3], raw: true)])
        .contains("12 bytes of raw_data"))
    #expect(errors([node("Add", ["x", "b"], ["y"])], initializers: [floatTensor("b", [4], [1, 2, 3])])
        .contains("3 values in float_data"))
    // Operands the type rules refuse.
    #expect(errors([node("MatMul", ["x", "x"], ["y"])]).contains("refuses these operands"))
    // An unsupported element type.
    #expect(errors([node("Relu", ["x"], ["y"])], inputs: [valueInfo("x", ONNXType.double, [2])])
        .contains("element type double"))
    // Elementwise group (#12): a broadcast of two modest inputs to an absurd result, variadic ops without inputs,
    // and logic on numbers end in one diagnostic each.
    let wide = [valueInfo("a", ONNXType.float, [.size(1 << 21), 1]), valueInfo("b", ONNXType.float, [1, .size(1 << 20)])]
    for op in ["Max", "Min", "Sum", "Mean", "Greater"] {
        let diagnostics = importErrors(model(nodes: [node(op, ["a", "b"], ["y"])], inputs: wide, outputs: ["y"]))
        #expect(diagnostics.count == 1 && diagnostics[0].message.contains("2^40"), "\(op): \(diagnostics)")
    }
    #expect(errors([node("Max", [], ["y"])]).contains("Max at opset 17 takes at least 1 input, but the node lists 0"))
    #expect(errors([node("And", ["x", "x"], ["y"])]).contains("and needs a bool element type, found f32"))
}

@Test func wrongInputFilesAreRefusedBeforeWriting() throws {
    let folder = try temporaryFolder("wrong-input")
    defer { try? FileManager.default.removeItem(at: folder) }
    let cnn = repositoryRoot.appendingPathComponent("Examples/models/cnn.onnx").path
    let badInput = folder.appendingPathComponent("bad.npy").path
    try NumPyFile.write(try Tensor(TensorType([1, 1, 28, 27], .f32), floats: [Float](repeating: 0, count: 756)).constant(name: "tensor"), path: badInput)
    let outputs = folder.appendingPathComponent("out")
    do {
        _ = try runModel(RunRequest(modelPath: cnn, inputs: [RunInput(name: nil, path: badInput)], outputDirectory: outputs.path))
        Issue.record("a 28x27 image was accepted for a 28x28 model")
    } catch {
        #expect(error.diagnostics.count == 1)
        #expect(error.description.contains("dimension 3 of input 'input' is 28"))
    }
    #expect(!FileManager.default.fileExists(atPath: outputs.path))
    do {
        _ = try runModel(RunRequest(modelPath: cnn, inputs: [RunInput(name: "image", path: badInput)], outputDirectory: outputs.path))
        Issue.record("an input named 'image' was accepted")
    } catch {
        #expect(error.description.contains("'image', which is not an input"))
    }
    #expect(!FileManager.default.fileExists(atPath: outputs.path))
}

@Test func outputNamesCannotLeaveTheOutputFolder() {
    #expect(outputFileName("probabilities") == "probabilities.npy")
    #expect(outputFileName("../../etc/passwd") == "_.._.._etc_passwd.npy")
    #expect(outputFileName("/abs") == "_abs.npy")
    #expect(outputFileName("..") == "_...npy")
    #expect(outputFileName("") == "_.npy")
    #expect(outputFileName("a:b\\c d") == "a_b_c_d.npy")
}

// MARK: Mutation fuzz


/// One mutant of `bytes`: flipped bits, overwritten bytes, a truncation, an inserted or deleted run,
/// a varint made huge, or random bytes.
func mutate(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
    var result = bytes
    guard !result.isEmpty else { return result }
    switch random.next() % 7 {
    case 0:
        for _ in 0..<(1 + Int(random.next() % 8)) {
            let index = Int(random.next() % UInt64(result.count))
            result[index] ^= UInt8(1 << (random.next() % 8))
        }
    case 1:
        for _ in 0..<(1 + Int(random.next() % 4)) {
            result[Int(random.next() % UInt64(result.count))] = UInt8(truncatingIfNeeded: random.next())
        }
    case 2:
        result = Array(result.prefix(Int(random.next() % UInt64(result.count))))
    case 3:
        let index = Int(random.next() % UInt64(result.count + 1))
        let run = (0..<(1 + Int(random.next() % 16))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        result.insert(contentsOf: run, at: index)
    case 4:
        let start = Int(random.next() % UInt64(result.count))
        let end = min(result.count, start + 1 + Int(random.next() % 32))
        result.removeSubrange(start..<end)
    case 5:
        // Varint bytes with the continuation bit set inflate lengths and dimension values.
        let index = Int(random.next() % UInt64(result.count))
        for offset in 0..<min(5, result.count - index) { result[index + offset] |= 0x80 }
    default:
        result = (0..<Int(random.next() % 512)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }
    return result
}

/// Largest graph (sum of value sizes) the fuzz test interprets after a successful import.
let fuzzInterpretLimit = 1 << 24

@Test func mutatedModelsEndInDiagnosticsNeverCrashes() throws {
    let folder = repositoryRoot.appendingPathComponent("Examples/models")
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".onnx") }.sorted()
    #expect(files.count >= 3)
    var random = SplitMix64(seed: 20_261_124)
    let mutantsPerFile = 1000
    var imported = 0, refused = 0, interpreted = 0
    let start = Date()
    for file in files {
        let original = try [UInt8](Data(contentsOf: folder.appendingPathComponent(file)))
        for _ in 0..<mutantsPerFile {
            let mutant = mutate(original, &random)
            let result: ONNXImportResult
            do {
                // A model folder that holds no data files, so a mutated external reference is refused.
                result = try ONNXImporter.importModel(data: Data(mutant), modelName: file, baseDirectory: "/nonexistent-sieve-folder")
            } catch {
                #expect(!error.diagnostics.isEmpty)
                #expect(error.diagnostics.allSatisfy { $0.severity != .note })
                refused += 1
                continue
            }
            imported += 1
            // A mutant that still imports is a valid graph: interpreting it must not crash either. Most such
            // mutants differ only in weight bytes, so every eighth is enough to keep the test fast.
            guard imported % 8 == 0 else { continue }
            let size = result.graph.values.reduce(0) { $0 + ($1.type.elementCount ?? .max / 2) }
            guard size <= fuzzInterpretLimit else { continue }
            let inputs = try result.graph.inputs.map { id in
                let type = result.graph.values[id.index].type
                return try Tensor(shape: type.shape, elementType: type.elementType,
                                  values: (0..<(type.elementCount ?? 0)).map { Double($0 % 7) * 0.1 })
            }
            _ = try? Interpreter(graph: result.graph).run(inputs)
            interpreted += 1
        }
    }
    let seconds = Date().timeIntervalSince(start)
    print("fuzz: \(files.count * mutantsPerFile) mutants of \(files.joined(separator: ", ")): \(refused) refused with diagnostics, \(imported) still valid (\(interpreted) interpreted), \(String(format: "%.1f", seconds)) s")
    #expect(refused > 0)
}

/// One structural edit of a decoded model: the kinds of damage byte flips rarely produce intact.
func mutateStructure(_ model: inout Onnx_ModelProto, _ random: inout SplitMix64) {
    var graph = model.graph
    func pick(_ count: Int) -> Int? { count == 0 ? nil : Int(random.next() % UInt64(count)) }
    let interesting: [Int64] = [-1, -2, 0, 1, 2, 3, 7, 1 << 20, 1 << 31, 1 << 40, Int64.max, Int64.min]
    func someInteger() -> Int64 { interesting[Int(random.next() % UInt64(interesting.count))] }
    switch random.next() % 10 {
    case 0:  // reorder nodes (often a use before its definition)
        if let a = pick(graph.node.count), let b = pick(graph.node.count) { graph.node.swapAt(a, b) }
    case 1:  // make a node define a name that already exists
        if let a = pick(graph.node.count), let b = pick(graph.node.count), !graph.node[b].output.isEmpty {
            graph.node[a].output = [graph.node[b].output[0]]
        }
    case 2:  // drop an initializer
        if let index = pick(graph.initializer.count) { graph.initializer.remove(at: index) }
    case 3:  // change a declared input dimension
        if let index = pick(graph.input.count), !graph.input[index].type.tensorType.shape.dim.isEmpty {
            let dims = graph.input[index].type.tensorType.shape.dim.count
            graph.input[index].type.tensorType.shape.dim[Int(random.next() % UInt64(dims))].dimValue = someInteger()
        }
    case 4:  // change an initializer's dimensions
        if let index = pick(graph.initializer.count) {
            if let dim = pick(graph.initializer[index].dims.count) {
                graph.initializer[index].dims[dim] = someInteger()
            } else {
                graph.initializer[index].dims = [someInteger()]
            }
        }
    case 5:  // change an integer attribute or an element of an integer-list attribute
        if let index = pick(graph.node.count), let attribute = pick(graph.node[index].attribute.count) {
            graph.node[index].attribute[attribute].i = someInteger()
            if let element = pick(graph.node[index].attribute[attribute].ints.count) {
                graph.node[index].attribute[attribute].ints[element] = someInteger()
            }
        }
    case 6:  // give a node another claimed op type (wrong arity and attributes)
        let ops = ONNXImporter.supportedOps.sorted()
        if let index = pick(graph.node.count) { graph.node[index].opType = ops[Int(random.next() % UInt64(ops.count))] }
    case 7:  // drop or duplicate a node input
        if let index = pick(graph.node.count), let input = pick(graph.node[index].input.count) {
            if random.next() % 2 == 0 {
                graph.node[index].input.remove(at: input)
            } else {
                graph.node[index].input.append(graph.node[index].input[input])
            }
        }
    case 8:  // change an element type
        let codes: [Int32] = [0, 1, 2, 3, 6, 7, 9, 10, 11, 16, 99]
        if let index = pick(graph.initializer.count) {
            graph.initializer[index].dataType = codes[Int(random.next() % UInt64(codes.count))]
        } else if let index = pick(graph.input.count) {
            graph.input[index].type.tensorType.elemType = codes[Int(random.next() % UInt64(codes.count))]
        }
    default:  // point an output or a node input at a name nothing defines
        if let index = pick(graph.output.count) { graph.output[index].name = "nowhere" }
    }
    model.graph = graph
}

@Test func structurallyDamagedModelsEndInDiagnostics() throws {
    let folder = repositoryRoot.appendingPathComponent("Examples/models")
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".onnx") }.sorted()
    var random = SplitMix64(seed: 424_242)
    var refused = 0, imported = 0
    for file in files {
        let original = try Onnx_ModelProto(serializedBytes: Data(contentsOf: folder.appendingPathComponent(file)))
        for _ in 0..<400 {
            var damaged = original
            for _ in 0..<(1 + Int(random.next() % 3)) { mutateStructure(&damaged, &random) }
            do {
                let result = try ONNXImporter.importModel(data: damaged.serializedData(), modelName: file, baseDirectory: nil)
                #expect(Verifier.diagnostics(for: result.graph).isEmpty)
                imported += 1
            } catch let error as DiagnosticError {
                #expect(!error.diagnostics.isEmpty)
                refused += 1
            }
        }
    }
    print("structural fuzz: \(files.count * 400) damaged models: \(refused) refused with diagnostics, \(imported) imported as valid graphs")
    #expect(refused > files.count * 100)
}

@Test func tinyFileClaimingGigabytesIsRefusedQuickly() {
    // Field 7 (graph), length-delimited, claiming 4 GiB, in a 10-byte file.
    let bytes: [UInt8] = [0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x0A, 0x01, 0x41, 0x00]
    let start = Date()
    do {
        _ = try ONNXImporter.importModel(data: Data(bytes), modelName: "tiny.onnx", baseDirectory: nil)
        Issue.record("a 10-byte model was accepted")
    } catch {
        #expect(error.diagnostics.count == 1)
        #expect(error.description.contains("tiny.onnx: error: not a valid ONNX model"))
    }
    #expect(Date().timeIntervalSince(start) < 1)
}

// MARK: Absurd sizes in data-movement ops

/// Absurd Pad widths, Range lengths, Resize scales and Tile repeats: one diagnostic naming the node,
/// refused from the attributes and constant inputs before any tensor of that size exists.
@Test func absurdMovementSizesAreRefusedBeforeAllocating() throws {
    let x = valueInfo("x", ONNXType.float, [1, 3, 8, 8])
    func refusal(_ nodes: [Onnx_NodeProto], _ initializers: [Onnx_TensorProto], inputs: [Onnx_ValueInfoProto]? = nil) -> [Diagnostic] {
        importErrors(model(nodes: nodes, inputs: inputs ?? [x], outputs: ["y"], initializers: initializers))
    }
    let start = Date()
    let cases: [(String, [Diagnostic])] = [
        ("Pad width", refusal([node("Pad", ["x", "pads"], ["y"], name: "pad_wide")],
                              [int64Tensor("pads", [8], [0, 0, 0, 1 << 40, 0, 0, 0, 0])])),
        ("Pad result", refusal([node("Pad", ["x", "pads"], ["y"], name: "pad_huge")],
                               [int64Tensor("pads", [8], [0, 0, 1 << 30, 1 << 30, 0, 0, 0, 0])])),
        ("Range", refusal([node("Range", ["start", "limit", "delta"], ["r"], name: "range_long"), node("Add", ["x", "r"], ["y"])],
                          [int64Tensor("start", [], [0]), int64Tensor("limit", [], [1 << 50]), int64Tensor("delta", [], [1])])),
        ("Resize scale", refusal([node("Resize", ["x", "", "scales"], ["y"], name: "resize_big")],
                                 [floatTensor("scales", [4], [1, 1, 1e6, 1e6])])),
        ("Resize infinite scale", refusal([node("Resize", ["x", "", "scales"], ["y"], name: "resize_inf")],
                                          [floatTensor("scales", [4], [1, 1, .infinity, 1])])),
        ("Resize sizes", refusal([node("Resize", ["x", "", "", "sizes"], ["y"], name: "resize_sizes")],
                                 [int64Tensor("sizes", [4], [1, 3, 1 << 40, 8])])),
        ("Tile", refusal([node("Tile", ["x", "repeats"], ["y"], name: "tile_many")],
                         [int64Tensor("repeats", [4], [1, 1, 1 << 20, 1 << 20])])),
        ("Tile negative", refusal([node("Tile", ["x", "repeats"], ["y"], name: "tile_negative")],
                                  [int64Tensor("repeats", [4], [1, -1, 1, 1])])),
    ]
    #expect(Date().timeIntervalSince(start) < 2)
    for (what, diagnostics) in cases {
        #expect(diagnostics.count == 1, "\(what): \(diagnostics.map(\.description))")
        let text = diagnostics.first?.description ?? ""
        #expect(text.contains("node #0 '"), "\(what): the diagnostic names no node: \(text)")
        #expect(text.contains("absurd") || text.contains("positive finite"), "\(what): \(text)")
    }
}

/// The command-line path: the same refusal reaches `sieve inspect` as one diagnostic (the CLI exits 1 on it).
@Test func absurdPadEndsInspectWithOneDiagnostic() throws {
    let folder = try temporaryFolder("absurd-pad")
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("pad.onnx")
    try model(nodes: [node("Pad", ["x", "pads"], ["y"], name: "pad_wide")], inputs: [valueInfo("x", ONNXType.float, [1, 4])],
              outputs: ["y"], initializers: [int64Tensor("pads", [4], [0, 1 << 40, 0, 0])]).serializedData().write(to: path)
    do {
        _ = try runInspect(InspectRequest(path: path.path))
        Issue.record("an absurd Pad was accepted")
    } catch {
        #expect(error.diagnostics.count == 1)
        #expect(error.description.contains("pad_wide") && error.description.contains("absurd"))
    }
}
