// canonicalize: folds constants, removes identity ops, and collapses reshape and transpose chains,
// repeating until nothing fires (with an iteration cap) and then removing what became dead.

import SieveIR

/// One local rewrite: given the op at `index`, either rewrites the graph and returns true, or returns false.
struct RewritePattern: Sendable {
    /// The name reported when the rewrite loop does not converge.
    var name: String
    /// Tries the rewrite on one op.
    var apply: @Sendable (_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool
}

/// Folds constants, removes identities and collapses reshape/transpose chains.
public struct Canonicalize: GraphPass {
    public let name = "canonicalize"

    /// Sweeps over the graph before the loop gives up and reports the patterns still firing.
    public static let maxSweeps = 32

    /// Results with at most this many elements are folded into constants.
    public static let foldElementLimit = 4096

    /// Makes the pass.
    public init() {}

    static let patterns: [RewritePattern] = [
        RewritePattern(name: "fold-constant", apply: foldConstant),
        RewritePattern(name: "reshape-to-canonical", apply: reshapeToCanonical),
        RewritePattern(name: "reshape-chain", apply: collapseReshapeChain),
        RewritePattern(name: "transpose-chain", apply: collapseTransposeChain),
        RewritePattern(name: "identity-op", apply: removeIdentity),
        RewritePattern(name: "neutral-element", apply: removeNeutralElement),
        RewritePattern(name: "gelu-from-erf", apply: recognizeGelu),
        RewritePattern(name: "layer-norm-from-parts", apply: recognizeLayerNorm),
        RewritePattern(name: "batch-norm-into-conv", apply: foldBatchNormIntoConvolution),
    ]

    public func run(on graph: inout Graph, context: inout PassContext) throws {
        var firing: [String: Int] = [:]
        for _ in 0..<Canonicalize.maxSweeps {
            firing = [:]
            var index = 0
            var producers = graph.definingOps()
            while index < graph.operations.count {
                for pattern in Canonicalize.patterns where pattern.apply(&graph, index, producers) {
                    firing[pattern.name, default: 0] += 1
                    producers = graph.definingOps()
                    break
                }
                index += 1
            }
            if firing.isEmpty { break }
            DeadCodeElimination.removeDeadOps(&graph)
        }
        if !firing.isEmpty {
            let list = firing.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value)x)" }.joined(separator: ", ")
            context.diagnostics.append(Diagnostic(.warning, graph.location,
                "canonicalize stopped after \(Canonicalize.maxSweeps) sweeps with patterns still firing: \(list)"))
        }
        DeadCodeElimination.removeDeadOps(&graph)
    }
}

/// Whether an op only renames its operand's elements into a new shape (row-major order kept).
func isReshapeLike(_ kind: OpKind) -> Bool { kind.traits.contains(.view) }

/// Replaces the op's result by `value` everywhere; the op becomes dead.
private func forward(_ graph: inout Graph, _ index: Int, to value: ValueID) {
    guard let result = graph.operations[index].results.first else { return }
    graph.replaceAllUses(of: result, with: value)
}

/// flatten, squeeze and unsqueeze are reshapes; one spelling lets the chain rule see them all.
@Sendable func reshapeToCanonical(_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool {
    let op = graph.operations[index]
    switch op.kind {
    case .flatten, .squeeze, .unsqueeze:
        graph.operations[index].kind = .reshape
        return true
    default:
        return false
    }
}

/// reshape(reshape(x)) is reshape(x).
@Sendable func collapseReshapeChain(_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool {
    let op = graph.operations[index]
    guard isReshapeLike(op.kind), let source = op.operands.first,
          let producer = producers[source.index], isReshapeLike(graph.operations[producer].kind),
          let inner = graph.operations[producer].operands.first else { return false }
    graph.operations[index].kind = .reshape
    graph.operations[index].operands = [inner]
    return true
}

/// transpose(p2, transpose(p1, x)) is transpose(p1 ∘ p2, x).
@Sendable func collapseTransposeChain(_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool {
    let op = graph.operations[index]
    guard case let .transpose(outer) = op.kind, let source = op.operands.first,
          let producer = producers[source.index],
          case let .transpose(inner) = graph.operations[producer].kind,
          let x = graph.operations[producer].operands.first, inner.count == outer.count else { return false }
    graph.operations[index].kind = .transpose(permutation: outer.map { inner[$0] })
    graph.operations[index].operands = [x]
    return true
}

/// Ops that return their operand unchanged: reshape/expand/cast to the same type, identity transpose,
/// full slice, single-operand concat.
@Sendable func removeIdentity(_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool {
    let op = graph.operations[index]
    guard let source = op.operands.first, let result = op.results.first,
          let sourceType = graph.type(of: source), let resultType = graph.type(of: result) else { return false }
    let isIdentity: Bool
    switch op.kind {
    case .reshape, .expand, .cast, .flatten, .squeeze, .unsqueeze:
        isIdentity = sourceType.plain == resultType.plain
    case let .transpose(permutation):
        isIdentity = permutation == Array(permutation.indices)
    case let .slice(starts, ends, axes, steps):
        isIdentity = axes.indices.allSatisfy { starts[$0] == 0 && steps[$0] == 1 && ends[$0] == sourceType.shape[axes[$0]] }
    case .concat:
        isIdentity = op.operands.count == 1
    default:
        isIdentity = false
    }
    // An output keeps its own value when the identity would make it an input's alias of another type; a result
    // typed with quantization parameters its operand lacks (or other ones) keeps its own value too.
    guard isIdentity, sourceType.plain == resultType || sourceType == resultType else { return false }
    forward(&graph, index, to: source)
    return true
}

/// x + 0, x - 0, x * 1 and x / 1 are x when the constant does not change the shape or type.
@Sendable func removeNeutralElement(_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool {
    let op = graph.operations[index]
    guard op.operands.count == 2, let result = op.results.first, let resultType = graph.type(of: result) else { return false }
    func splatValue(_ value: ValueID) -> Double? { splatConstant(value, in: graph, producers: producers) }
    let a = op.operands[0], b = op.operands[1]
    var keep: ValueID?
    // x + 0.0 is not x when x is -0.0; only -0.0 is neutral for float addition.
    func isAdditiveIdentity(_ value: ValueID) -> Bool {
        guard let splat = splatValue(value), splat == 0 else { return false }
        return !resultType.elementType.isFloat || splat.sign == .minus
    }
    switch op.kind {
    case .binary(.add):
        if isAdditiveIdentity(b) { keep = a } else if isAdditiveIdentity(a) { keep = b }
    case .binary(.sub):
        if splatValue(b) == 0 { keep = a }
    case .binary(.mul):
        if splatValue(b) == 1 { keep = a } else if splatValue(a) == 1 { keep = b }
    case .binary(.div):
        if splatValue(b) == 1 { keep = a }
    default:
        break
    }
    guard let kept = keep, graph.type(of: kept) == resultType else { return false }
    forward(&graph, index, to: kept)
    return true
}

/// The value every element of a constant has, or nil when `value` is not a constant splat.
func splatConstant(_ value: ValueID, in graph: Graph, producers: [Int?]) -> Double? {
    guard producers.indices.contains(value.index), let producer = producers[value.index],
          case let .constant(id) = graph.operations[producer].kind,
          let constant = graph.constants[id], constant.type.layout == .dense, constant.hasConsistentSize,
          let count = constant.type.elementCount, count > 0 else { return nil }
    let first = constant.element(at: 0)
    for element in 1..<count where constant.element(at: element) != first { return nil }
    return first
}
