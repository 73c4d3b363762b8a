// Negative tests for the verifier rules that the parser already prevents in text
// (undefined values, double definitions, duplicate names, ...): built directly with the Graph API.

import SieveIR
import Testing

@Suite struct VerifierTests {
    /// A valid graph: %x -> neg -> relu, returning the relu.
    func validGraph() -> (Graph, ValueID, ValueID, ValueID) {
        var graph = Graph(name: "g")
        let x = graph.addInput(TensorType([4], .f32), name: "x")
        let a = graph.append(.unary(.neg), [x], TensorType([4], .f32), name: "a")
        let b = graph.append(.unary(.relu), [a], TensorType([4], .f32), name: "b")
        graph.outputs = [b]
        return (graph, x, a, b)
    }

    func messages(_ graph: Graph) -> [String] { Verifier.diagnostics(for: graph).map(\.message) }

    @Test func validGraphHasNoDiagnostics() {
        #expect(messages(validGraph().0).isEmpty)
    }

    @Test func definedValues() {
        var (graph, _, _, _) = validGraph()
        graph.operations[1].operands = [ValueID(99)]
        graph.outputs.append(ValueID(57))
        let found = messages(graph)
        #expect(found.contains { $0.contains("operand %99 is not defined") })
        #expect(found.contains { $0.contains("returned value %57 is not defined") })
    }

    @Test func definedValuesCatchesSlotsNothingDefines() {
        var (graph, _, _, _) = validGraph()
        let orphan = graph.addValue(TensorType([4], .f32), name: "orphan")
        graph.operations[1].operands = [orphan]
        #expect(messages(graph).contains { $0.contains("operand %orphan is not defined") })
    }

    @Test func singleDefinition() {
        var (graph, x, _, _) = validGraph()
        graph.operations[0].results = [x]
        #expect(messages(graph).contains { $0.contains("value %x is defined twice") })
    }

    @Test func dominance() {
        var (graph, _, _, _) = validGraph()
        graph.operations.swapAt(0, 1)
        #expect(messages(graph).contains { $0.contains("operand %a is used before it is defined") })
    }

    @Test func oneResult() {
        var (graph, _, _, _) = validGraph()
        let extra = graph.addValue(TensorType([4], .f32))
        graph.operations[0].results.append(extra)
        #expect(messages(graph).contains { $0.contains("op defines 2 values, expected exactly 1") })
    }

    @Test func typeRule() {
        var (graph, _, a, _) = validGraph()
        graph.values[a.index].type = TensorType([5], .f32)
        let found = messages(graph)
        #expect(found.contains { $0.contains("result type is tensor<5xf32>, but neg of these operands gives tensor<4xf32>") })
    }

    @Test func wellFormedTypes() {
        var (graph, x, _, _) = validGraph()
        graph.values[x.index].type = TensorType([-3], .f32)
        #expect(messages(graph).contains { $0.contains("dimension -3 is negative") })
        graph.values[x.index].type = TensorType([4], .f32, quant: QuantParams(scales: [0.5], zeroPoints: [0]))
        #expect(messages(graph).contains { $0.contains("quantization parameters need an integer element type of 32 bits or fewer") })
        graph.values[x.index].type = TensorType([1 << 30, 1 << 30, 4], .f32)
        #expect(messages(graph).contains { $0.contains("more than 2^40 elements") })
    }

    @Test func constantTable() {
        var graph = Graph(name: "g")
        let c = graph.appendConstant(Constant.from(name: "w", type: TensorType([2], .f32), values: [1, 2]))
        graph.outputs = [c]
        #expect(messages(graph).isEmpty)
        var outOfRange = graph
        outOfRange.operations[0].kind = .constant(ConstantID(7))
        #expect(messages(outOfRange).contains { $0.contains("const refers to constant #7, but the table has 1 entries") })
        var duplicate = graph
        duplicate.constants.entries.append(duplicate.constants.entries[0])
        #expect(messages(duplicate).contains { $0.contains("constant handle @w is used twice") })
        var short = graph
        short.constants.entries[0].bytes.removeLast()
        #expect(messages(short).contains { $0.contains("holds 7 bytes, its type tensor<2xf32> needs 8") })
    }

    @Test func uniqueNames() {
        var (graph, _, a, b) = validGraph()
        graph.values[b.index].name = graph.values[a.index].name
        #expect(messages(graph).contains { $0.contains("value name %a is used twice") })
    }

    @Test func hasResult() {
        var (graph, _, _, _) = validGraph()
        graph.outputs = []
        #expect(messages(graph).contains { $0.contains("graph @g returns no value") })
    }

    @Test func reportsEveryViolationWithTheOpAsContext() {
        var (graph, _, a, b) = validGraph()
        graph.values[a.index].type = TensorType([5], .f32)
        graph.values[b.index].type = TensorType([6], .f32)
        let found = Verifier.diagnostics(for: graph)
        #expect(found.count >= 2)
        #expect(found.allSatisfy { $0.context != nil })
    }
}

@Suite struct TextFormatTests {
    @Test func quotedNamesAndEscapesRoundTrip() throws {
        var graph = Graph(name: "weird \"name\"\n\\")
        let x = graph.addInput(TensorType([2], .f32), name: "x:0/with spaces")
        let y = graph.append(.unary(.neg), [x], TensorType([2], .f32), name: "12")
        graph.outputs = [y]
        let text = graph.print()
        #expect(try Parser.parse(text).graphs == [graph])
    }

    @Test func floatsRoundTripBitExactly() throws {
        let values: [Float] = [0, -0.0, .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, -.infinity, 0.1, 1.0 / 3]
        var graph = Graph(name: "g")
        var bytes: [UInt8] = []
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        let c = graph.appendConstant(Constant(name: "w", type: TensorType([values.count], .f32), bytes: bytes))
        graph.outputs = [c]
        let parsed = try Parser.parse(graph.print())
        #expect(parsed.graphs[0].constants.entries[0].bytes == bytes)
    }

    @Test func largeConstantsPrintAsHexAndNaNKeepsItsBits() throws {
        var graph = Graph(name: "g")
        let count = denseLiteralLimit + 1
        var constant = Constant.from(name: "w", type: TensorType([count], .f32), values: (0..<count).map(Double.init))
        constant.bytes[0...3] = [0x01, 0x00, 0xC0, 0x7F]  // a NaN with a payload
        let c = graph.appendConstant(constant)
        graph.outputs = [c]
        let text = graph.print()
        #expect(text.contains("hex<\""))
        #expect(try Parser.parse(text).graphs == [graph])
    }

    @Test func parseErrorsCarryLineAndColumn() {
        do {
            _ = try Parser.parse("graph @g() -> tensor<f32> {\n  return %x\n}", path: "f.sir")
            Issue.record("expected a parse error")
        } catch {
            #expect(error.description.hasPrefix("f.sir:2:10: error: return of undefined value %x"))
        }
    }
}
