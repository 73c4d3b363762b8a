// `--bind NAME=VALUE|FILE` on inspect, run, compile and opt through the built binary: a bound input becomes a
// constant at import, an If on it folds, the input leaves the interface, and the artifact header says so.

import Foundation
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveONNX
import SwiftProtobuf
import Testing

/// y = If(flag, then: x * scale, else: -x) with inputs x [2, 3] float, flag (bool scalar), scale (float [1]).
func flaggedModel() throws -> Data {
    func info(_ name: String, _ type: Int32, _ dims: [Int64]) -> Onnx_ValueInfoProto {
        var value = Onnx_ValueInfoProto()
        value.name = name
        value.type.tensorType.elemType = type
        value.type.tensorType.shape.dim = dims.map { size in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = size
            return dim
        }
        return value
    }
    func node(_ op: String, _ inputs: [String], _ output: String) -> Onnx_NodeProto {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = op.lowercased()
        node.input = inputs
        node.output = [output]
        return node
    }
    func branch(_ name: String, _ nodes: [Onnx_NodeProto], _ output: String) -> Onnx_AttributeProto {
        var graph = Onnx_GraphProto()
        graph.name = name
        graph.node = nodes
        var out = Onnx_ValueInfoProto()
        out.name = output
        graph.output = [out]
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .graph
        attribute.g = graph
        return attribute
    }
    var ifNode = node("If", ["flag"], "y")
    ifNode.attribute = [branch("then_branch", [node("Mul", ["x", "scale"], "t")], "t"),
                        branch("else_branch", [node("Neg", ["x"], "e")], "e")]
    var graph = Onnx_GraphProto()
    graph.name = "flagged"
    graph.node = [ifNode]
    graph.input = [info("x", 1, [2, 3]), info("flag", 9, []), info("scale", 1, [1])]
    graph.output = [info("y", 1, [2, 3])]
    var model = Onnx_ModelProto()
    model.irVersion = 8
    var opset = Onnx_OperatorSetIdProto()
    opset.version = 13
    model.opsetImport = [opset]
    model.graph = graph
    return try model.serializedData()
}

@Suite(.serialized) struct BindCommandTests {
    @Test func boundInputsFoldAndLeaveTheInterface() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("flagged.onnx")
        try flaggedModel().write(to: model)

        let inspect = try runSieve(["inspect", model.path, "--bind", "flag=true", "--bind", "scale=2"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("bound at import (no longer inputs): flag=true, scale=2"))
        #expect(inspect.stdout.contains("  x: tensor<2x3xf32>") && !inspect.stdout.contains("  flag:"))
        #expect(inspect.stdout.contains("  mul"))

        let x = folder.appendingPathComponent("x.npy")
        try NumPyFile.write(try Tensor(TensorType([2, 3], .f32), floats: [1, -2, 3, -4, 5, -6]).constant(name: "x"), path: x.path)
        let run = try runSieve(["run", model.path, "--bind", "flag=false", "--bind", "scale=2", "--input", "x=" + x.path,
                                "--output-dir", folder.appendingPathComponent("run").path, "--interpret"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Tensor(NumPyFile.read(path: folder.appendingPathComponent("run/y.npy").path)).floats == [-1, 2, -3, 4, -5, 6])

        // A value from a file: the scale bound from a .npy of the input's shape.
        let scale = folder.appendingPathComponent("scale.npy")
        try NumPyFile.write(try Tensor(TensorType([1], .f32), floats: [0.5]).constant(name: "x"), path: scale.path)
        let out = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let compile = try runSieve(["compile", model.path, "--bind", "flag=1", "--bind", "scale=" + scale.path,
                                    "-o", out.appendingPathComponent("a").path], timeout: 120)
        #expect(compile.status == 0, "\(compile.stderr)")
        let header = try String(contentsOf: out.appendingPathComponent("a/flagged.h"), encoding: .utf8)
        #expect(header.contains("with inputs bound at compile time and no longer inputs: flag=1, scale=\(scale.path)"))
        #expect(header.contains("#define flagged_NUM_INPUTS 1"))
    }

    @Test func optBindsTextualIRInputs() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let ir = folder.appendingPathComponent("g.sir")
        try sampleIR.write(to: ir, atomically: true, encoding: .utf8)
        let x = folder.appendingPathComponent("x.npy")
        try NumPyFile.write(try Tensor(TensorType([2, 3], .f32), floats: [1, 2, 3, 4, 5, 6]).constant(name: "x"), path: x.path)
        let opt = try runSieve(["opt", ir.path, "--bind", "x=" + x.path, "-p", "canonicalize,dce"])
        #expect(opt.status == 0, "\(opt.stderr)")
        // The input is gone and the reshapes fold into one constant.
        #expect(!opt.stdout.contains("%x: tensor"), "\(opt.stdout)")
        #expect(!opt.stdout.contains("reshape"))
    }

    @Test func badBindingsExitOneWithOneDiagnostic() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("flagged.onnx")
        try flaggedModel().write(to: model)
        for arguments in [["--bind", "flag=maybe"], ["--bind", "nothere=1"], ["--bind", "flag=1", "--bind", "flag=0"],
                          ["--bind", "x=3"], ["--bind", "flag=true", "--bind", "scale=1", "--input-shape", "flag=1"]] {
            let outcome = try runSieve(["inspect", model.path] + arguments)
            #expect(outcome.status == 1, "\(arguments): \(outcome.stderr)")
            #expect(errorLines(outcome.stderr).count == 1, "\(arguments): \(outcome.stderr)")
        }
        // Without a binding the If's condition is a run-time value: refused, naming the node.
        let unbound = try runSieve(["inspect", model.path])
        #expect(unbound.status == 1)
        #expect(unbound.stderr.contains("node #0 'if': error: the condition of If must be a constant"))
    }
}
