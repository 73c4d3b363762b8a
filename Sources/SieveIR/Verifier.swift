// The verifier: checks every invariant of a graph and reports all violations at once.
// Passes may assume these hold on their input; the pass manager re-checks after every pass.
//
// Invariants checked:
//  1. defined-values: every operand and returned value is a value of the graph that an input or op defines
//  2. single-definition: every value is defined exactly once (as an input or by one op)
//  3. dominance: every operand is defined before the op that reads it
//  4. one-result: every op defines exactly one value
//  5. type-rule: every op's operands satisfy its type rule and its result has the type the rule gives
//  6. well-formed-types: every value type has non-negative dims, a bounded element count, a valid
//     layout (nm<N:M>: 1 <= N < M, M in {4, 8, 16}, rank 2 [O, I] or rank 4 [O, C, kH, kW], a numeric
//     element type, zero points 0 if quantized) and valid quantization; any reduction I or C*kH*kW
//     fits, storage pads it to a multiple of M (rule 10)
//  7. constant-table: const ops name an entry of the table, entry names are unique and non-empty,
//     data has exactly the byte size the type and layout need (nm: kept values plus packed indices),
//     every byte of a sub-byte type (i4, u4, i2, u2, f4e2m1, held one per byte) is in its range,
//     and the const result type is the entry's type
//  8. unique-names: value names are unique within the graph
//  9. has-result: a graph returns at least one value
// 10. nm-storage: storage holds ceil(I/M) groups per row (the reduction padded to a multiple of M),
//     the packed indices of an nm constant strictly increase within each group, a kept entry on the
//     padding of a last group holds zero, and the padding bits after the last index are zero
//     (indices are in range by construction: log2(M) bits cannot spell M or more); NMPacking.swift
//     defines the storage
// 11. sparsity-request: a `{sparsity = "N:M"}` request names a valid pattern and sits on a dense
//     float constant whose shape can carry that layout
// 12. schedule: a `schedule` attribute sits only on matmul, gemm, fused_matmul or conv2d; its parameters are in
//     range, its parallel axis is the variant's own or none, and the variant suits the op (nm_ variants on an nm
//     weight, dense_ ones on a dense weight, orientation and element types as KernelProblem.problem(with:) says).
//     SieveIR checks the first part; the rest is target knowledge, checked by SieveTarget's `Verifier.scheduleCheck`
//     through the hook below (`checks:`), which the pass manager, lowering, the driver and the tests install.
//
// (An nm weight may feed only matmul/gemm/fused_matmul with transpose_b, or conv2d: rule 5 checks it.)
//
// Not yet checked: that a sparsity request sits on the weight of exactly one matrix product or
// convolution (nm-legalize warns and leaves such a weight dense).

/// A rule a later layer adds to the verifier (the hook by which SieveIR checks what it cannot know itself,
/// such as whether a schedule suits its op on a target): run once per op, after the IR's own rules for that op,
/// so that its diagnostics appear in op order with the rest.
public struct VerifierCheck: Sendable {
    /// A short name for the rule, such as `schedule`.
    public var name: String
    /// The messages to report on `op` of `graph` (lowercase, saying what to do); empty when the op satisfies the rule.
    /// Called only for ops whose operands are defined and whose result is a value of the graph.
    public var check: @Sendable (_ op: Operation, _ graph: Graph) -> [String]

    /// Makes a check.
    public init(name: String, check: @escaping @Sendable (_ op: Operation, _ graph: Graph) -> [String]) {
        self.name = name
        self.check = check
    }
}

/// Checks graph invariants.
public enum Verifier {
    /// Every violation in the graph, in op order; empty when the graph is valid. `checks` are extra per-op rules
    /// of later layers (SieveTarget's `Verifier.targetChecks`), run after the IR's own rules for each op.
    public static func diagnostics(for graph: Graph, checks: [VerifierCheck] = []) -> [Diagnostic] {
        var problems: [Diagnostic] = []
        func report(_ op: Operation?, _ message: String) {
            let location = op?.location ?? graph.location
            problems.append(.error(location, message, context: op.map { graph.print($0) }))
        }
        let valueCount = graph.values.count
        func isValue(_ id: ValueID) -> Bool { id.index >= 0 && id.index < valueCount }

        for (index, info) in graph.values.enumerated() {
            if let problem = validate(info.type) {
                report(nil, "value \(graph.valueName(ValueID(index))) has an invalid type \(info.type): \(problem)")
            }
        }

        var seenNames: Set<String> = []
        for info in graph.values {
            guard let name = info.name else { continue }
            if name.isEmpty { report(nil, "a value has an empty name") }
            if !seenNames.insert(name).inserted { report(nil, "value name \(sigil("%", name)) is used twice") }
        }

        var definedBy = [Int](repeating: -2, count: valueCount)  // -2: undefined, -1: input, k: op k
        for input in graph.inputs {
            guard isValue(input) else { report(nil, "graph input \(input) is not a value of the graph"); continue }
            if definedBy[input.index] != -2 { report(nil, "input \(graph.valueName(input)) is listed twice") }
            definedBy[input.index] = -1
        }
        for (index, op) in graph.operations.enumerated() {
            if op.results.count != 1 { report(op, "op defines \(op.results.count) values, expected exactly 1") }
            for result in op.results {
                guard isValue(result) else { report(op, "result \(result) is not a value of the graph"); continue }
                if definedBy[result.index] != -2 {
                    report(op, "value \(graph.valueName(result)) is defined twice; every value is defined once")
                }
                definedBy[result.index] = index
            }
        }

        var constantNames: Set<String> = []
        for constant in graph.constants.entries {
            if constant.name.isEmpty { report(nil, "a constant has an empty name") }
            if !constantNames.insert(constant.name).inserted {
                report(nil, "constant handle \(sigil("@", constant.name)) is used twice")
            }
            if let problem = validate(constant.type) {
                report(nil, "constant \(sigil("@", constant.name)) has an invalid type \(constant.type): \(problem)")
            } else if !constant.hasConsistentSize {
                let expected = constant.expectedByteCount ?? 0
                report(nil, "constant \(sigil("@", constant.name)) holds \(constant.bytes.count) bytes, its type \(constant.type) needs \(expected)")
            } else if let pattern = NMPattern(constant.type.layout) {
                let type = constant.type
                for problem in NMPacking.storageProblems(packedBytes: constant.bytes, shape: type.shape,
                                                         elementType: type.elementType, pattern: pattern) {
                    report(nil, "constant \(sigil("@", constant.name)) has invalid nm<\(pattern)> storage: \(problem)")
                }
            } else if let index = constant.firstOutOfRangeNarrowByte {
                report(nil, "constant \(sigil("@", constant.name)) of \(constant.type.elementType) holds byte 0x\(String(constant.bytes[index], radix: 16)) at element \(index), which is not one element of the type (held one per byte: IR/README.md)")
            }
            if let request = constant.sparsityRequest {
                let type = constant.type
                if type.layout != .dense {
                    report(nil, "constant \(sigil("@", constant.name)) asks for sparsity \(request) but is already \(type.layout); drop the request")
                } else if !type.elementType.isFloat {
                    report(nil, "constant \(sigil("@", constant.name)) asks for sparsity \(request) but has element type \(type.elementType); prune float weights before quantizing")
                } else if let problem = NMPacking.layoutProblem(shape: requestShape(constant, in: graph), elementType: type.elementType, pattern: request) {
                    report(nil, "constant \(sigil("@", constant.name)) asks for sparsity \(request): \(problem)")
                }
            }
        }

        for (index, op) in graph.operations.enumerated() {
            var operandTypes: [TensorType] = []
            var operandsValid = true
            for operand in op.operands {
                guard isValue(operand), definedBy[operand.index] != -2 else {
                    report(op, "operand \(isValue(operand) ? graph.valueName(operand) : operand.description) is not defined in the graph")
                    operandsValid = false
                    continue
                }
                if definedBy[operand.index] >= index {
                    report(op, "operand \(graph.valueName(operand)) is used before it is defined (by op #\(definedBy[operand.index]))")
                }
                operandTypes.append(graph.values[operand.index].type)
            }
            guard operandsValid, let result = op.results.first, isValue(result) else { continue }
            if case let .constant(id) = op.kind, graph.constants[id] == nil {
                report(op, "const refers to constant #\(id.index), but the table has \(graph.constants.entries.count) entries")
                continue
            }
            let declared = graph.values[result.index].type
            do {
                let expected = try op.kind.resultType(operands: operandTypes, declared: declared, constants: graph.constants)
                if expected != declared {
                    report(op, "result type is \(declared), but \(op.kind.mnemonic) of these operands gives \(expected)")
                }
            } catch {
                report(op, error.message)
            }
            if op.schedule != nil, !op.kind.isKernelBearing {
                report(op, "\(op.kind.mnemonic) runs no matrix-product kernel and takes no schedule; remove the attribute")
            }
            for check in checks {
                for message in check.check(op, graph) { report(op, message) }
            }
        }

        if graph.outputs.isEmpty { report(nil, "graph \(sigil("@", graph.name)) returns no value") }
        for output in graph.outputs where !isValue(output) || definedBy[output.index] == -2 {
            report(nil, "returned value \(isValue(output) ? graph.valueName(output) : output.description) is not defined in the graph")
        }
        return problems
    }

    /// The shape a requested weight will have once legalised: [O, I]. A rank-2 weight read by a
    /// matrix product without transpose_b is stored [I, O] now and gets transposed.
    static func requestShape(_ constant: Constant, in graph: Graph) -> [Int] {
        let shape = constant.type.shape
        guard shape.count == 2, let id = graph.constants.entries.firstIndex(where: { $0.name == constant.name }) else { return shape }
        let results = Set(graph.operations.filter { $0.kind == .constant(ConstantID(id)) }.flatMap(\.results))
        for op in graph.operations where op.operands.count >= 2 && results.contains(op.operands[1]) {
            switch op.kind {
            case .matmul(transposeB: false), .fusedMatmul(transposeB: false, _, _), .gemm(_, _, _, transposeB: false):
                return [shape[1], shape[0]]
            default:
                continue
            }
        }
        return shape
    }

    /// Throws every violation at once, or returns when the graph is valid; `checks` as for `diagnostics(for:checks:)`.
    public static func verify(_ graph: Graph, checks: [VerifierCheck] = []) throws(DiagnosticError) {
        let problems = diagnostics(for: graph, checks: checks)
        if !problems.isEmpty { throw DiagnosticError(problems) }
    }

    /// Verifies every graph of a module; `checks` as for `diagnostics(for:checks:)`.
    public static func verify(_ module: Module, checks: [VerifierCheck] = []) throws(DiagnosticError) {
        let problems = module.graphs.flatMap { diagnostics(for: $0, checks: checks) }
        if !problems.isEmpty { throw DiagnosticError(problems) }
    }
}
