// Canonicalize patterns that recognise what exporters spell out op by op: GELU in its Erf form, layer
// normalization in its nine-op form, and inference batch normalization after a convolution, folded into its weights.

import SieveIR
import SieveInterpreter

/// `0.5 · x · (1 + erf(x / √2))`, in the orders exporters write it, is `gelu x`.
///
/// Matches `mul(mul(x, add(erf(div(x, √2)), 1)), 0.5)` and `mul(mul(x, 0.5), add(erf(…), 1))`, any
/// operand order of the commutative ops, and `mul(x, 1/√2)` for the division. Mathematically exact;
/// the result may differ from the spelled-out form by float rounding (a few ulps).
@Sendable func recognizeGelu(_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool {
    let op = graph.operations[index]
    guard case .binary(.mul) = op.kind, op.operands.count == 2, let result = op.results.first,
          let resultType = graph.type(of: result), resultType.elementType.isFloat else { return false }
    func producer(_ value: ValueID) -> Operation? {
        guard producers.indices.contains(value.index), let index = producers[value.index] else { return nil }
        return graph.operations[index]
    }
    func splat(_ value: ValueID) -> Double? { splatConstant(value, in: graph, producers: producers) }
    func close(_ value: Double?, _ expected: Double) -> Bool {
        guard let value else { return false }
        return abs(value - expected) <= 1e-6 * expected
    }
    /// The other operand of a binary op whose one operand satisfies `matches`.
    func other(of op: Operation, where matches: (ValueID) -> Bool) -> ValueID? {
        guard op.operands.count == 2 else { return nil }
        if matches(op.operands[1]) { return op.operands[0] }
        if matches(op.operands[0]) { return op.operands[1] }
        return nil
    }
    /// Whether `value` is `1 + erf(x/√2)` for this `x`.
    func isOnePlusErf(_ value: ValueID, of x: ValueID) -> Bool {
        guard let add = producer(value), case .binary(.add) = add.kind,
              let erfValue = other(of: add, where: { splat($0) == 1 }),
              let erf = producer(erfValue), case .unary(.erf) = erf.kind, let scaled = erf.operands.first,
              let scaling = producer(scaled) else { return false }
        switch scaling.kind {
        case .binary(.div): return scaling.operands.count == 2 && scaling.operands[0] == x && close(splat(scaling.operands[1]), 2.0.squareRoot())
        case .binary(.mul): return other(of: scaling, where: { close(splat($0), 0.5.squareRoot()) }) == x
        default: return false
        }
    }

    var input: ValueID?
    if let product = other(of: op, where: { splat($0) == 0.5 }).flatMap(producer), case .binary(.mul) = product.kind {
        // 0.5 · (x · (1 + erf))
        for (x, rest) in [(product.operands[0], product.operands[1]), (product.operands[1], product.operands[0])]
        where isOnePlusErf(rest, of: x) { input = x }
    }
    if input == nil {
        // (0.5 · x) · (1 + erf)
        for (half, rest) in [(op.operands[0], op.operands[1]), (op.operands[1], op.operands[0])] {
            guard let halved = producer(half), case .binary(.mul) = halved.kind,
                  let x = other(of: halved, where: { splat($0) == 0.5 }), isOnePlusErf(rest, of: x) else { continue }
            input = x
        }
    }
    guard let x = input, graph.type(of: x) == resultType else { return false }
    graph.operations[index] = Operation(.unary(.gelu(approximateTanh: false)), operands: [x], results: [result], location: op.location)
    return true
}

/// `batch_norm(conv2d(x, w, b), scale, bias, mean, var)` with constant parameters is one
/// `conv2d(x, w', b')`: per output channel `s = scale / √(var + ε)`, `w' = w · s`,
/// `b' = (b − mean) · s + bias`. Computed in Double and rounded once; the result differs from the
/// two-op form by float rounding only.
@Sendable func foldBatchNormIntoConvolution(_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool {
    let op = graph.operations[index]
    guard case let .batchNorm(epsilon) = op.kind, op.operands.count == 5, let result = op.results.first,
          producers.indices.contains(op.operands[0].index), let convIndex = producers[op.operands[0].index],
          case let .conv2d(attributes) = graph.operations[convIndex].kind,
          graph.useCounts()[op.operands[0].index] == 1, !graph.outputs.contains(op.operands[0]) else { return false }
    let conv = graph.operations[convIndex]
    func constant(_ value: ValueID) -> Constant? {
        guard producers.indices.contains(value.index), let producer = producers[value.index],
              case let .constant(id) = graph.operations[producer].kind, let constant = graph.constants[id],
              constant.type.layout == .dense, constant.type.quant == nil, constant.type.elementType == .f32 else { return nil }
        return constant
    }
    guard let weight = constant(conv.operands[1]), let channels = weight.type.shape.first, weight.type.rank == 4,
          let weights = weight.doubles() else { return false }
    let parameters = op.operands[1...4].compactMap { constant($0)?.doubles() }
    guard parameters.count == 4, parameters.allSatisfy({ $0.count == channels }) else { return false }
    let oldBias: [Double]
    if conv.operands.count == 3 {
        guard let bias = constant(conv.operands[2])?.doubles(), bias.count == channels else { return false }
        oldBias = bias
    } else {
        oldBias = [Double](repeating: 0, count: channels)
    }
    let (scale, shift, mean, variance) = (parameters[0], parameters[1], parameters[2], parameters[3])
    let factor = (0..<channels).map { scale[$0] / (variance[$0] + Double(epsilon)).squareRoot() }
    let perChannel = weights.count / max(channels, 1)
    let newWeights = weights.indices.map { weights[$0] * factor[$0 / perChannel] }
    let newBias = (0..<channels).map { (oldBias[$0] - mean[$0]) * factor[$0] + shift[$0] }
    guard newWeights.allSatisfy(\.isFinite), newBias.allSatisfy(\.isFinite) else { return false }

    let weightID = graph.constants.add(Constant.from(name: weight.name + ".bn", type: weight.type, values: newWeights))
    let biasType = TensorType([channels], .f32)
    let biasID = graph.constants.add(Constant.from(name: weight.name + ".bn_bias", type: biasType, values: newBias))
    let weightValue = graph.addValue(weight.type)
    let biasValue = graph.addValue(biasType)
    graph.operations[index] = Operation(.conv2d(attributes), operands: [conv.operands[0], weightValue, biasValue],
                                        results: [result], location: op.location)
    graph.operations.insert(Operation(.constant(biasID), operands: [], results: [biasValue], location: op.location), at: index)
    graph.operations.insert(Operation(.constant(weightID), operands: [], results: [weightValue], location: op.location), at: index)
    return true
}

/// `(x − mean(x)) / √(mean((x − mean(x))²) + ε) · scale + bias`, the means over the trailing axes from `axis`
/// (kept), is `layer_norm x, scale, bias {axis, epsilon}`, as exporters spell out LayerNormalization before opset 17
/// (PP-OCRv4's recognizer: nine ops, among them a scalar `pow`, per normalization).
///
/// Matches `add(mul(div(d, sqrt(add(reduce_mean(pow(d, 2)), ε))), scale), bias)` with `d = sub(x, reduce_mean(x))`,
/// any operand order of the commutative ops and `mul(d, d)` for the square; scale and bias must broadcast to the
/// normalized shape (the op's type rule). Mathematically exact; `layer_norm` computes the mean and variance in
/// Double, so the result differs from the spelled-out form by float rounding only.
@Sendable func recognizeLayerNorm(_ graph: inout Graph, _ index: Int, _ producers: [Int?]) -> Bool {
    let op = graph.operations[index]
    guard case .binary(.add) = op.kind, op.operands.count == 2, let result = op.results.first,
          let resultType = graph.type(of: result), resultType.elementType.isFloat else { return false }
    func producer(_ value: ValueID) -> Operation? {
        guard producers.indices.contains(value.index), let index = producers[value.index] else { return nil }
        return graph.operations[index]
    }
    func splat(_ value: ValueID) -> Double? { splatConstant(value, in: graph, producers: producers) }
    /// The operands of a binary op of `kind`, in both orders for commutative ones.
    func orders(_ value: ValueID, _ kind: BinaryFunction) -> [(ValueID, ValueID)] {
        guard let op = producer(value), case .binary(kind) = op.kind, op.operands.count == 2 else { return [] }
        let (a, b) = (op.operands[0], op.operands[1])
        return kind == .add || kind == .mul ? [(a, b), (b, a)] : [(a, b)]
    }
    /// The trailing axis from which `value` is a kept-dimension mean of `input`, or nil.
    func meanAxis(_ value: ValueID, of input: ValueID) -> Int? {
        guard let mean = producer(value), case let .reduce(.mean, axes, keepDims) = mean.kind, keepDims,
              mean.operands == [input], let rank = graph.type(of: input)?.rank, rank > 0 else { return nil }
        // The verifier keeps axes non-negative and increasing.
        guard let first = axes.first, axes == Array(first..<rank) else { return nil }
        return first
    }
    for (normalizedValue, bias) in orders(result, .add) {
        for (quotient, scale) in orders(normalizedValue, .mul) {
            for (deviation, root) in orders(quotient, .div) {
                guard let sub = producer(deviation), case .binary(.sub) = sub.kind, sub.operands.count == 2 else { continue }
                let x = sub.operands[0]
                guard let axis = meanAxis(sub.operands[1], of: x), graph.type(of: x) == resultType,
                      let sqrt = producer(root), case .unary(.sqrt) = sqrt.kind, let radicand = sqrt.operands.first else { continue }
                for (variance, epsilonValue) in orders(radicand, .add) {
                    guard let epsilon = splat(epsilonValue), epsilon >= 0, let squareValue = producer(variance)?.operands.first,
                          meanAxis(variance, of: squareValue) == axis, let square = producer(squareValue) else { continue }
                    let squares: Bool
                    switch square.kind {
                    case .binary(.pow): squares = square.operands.first == deviation && square.operands.count == 2 && splat(square.operands[1]) == 2
                    case .binary(.mul): squares = square.operands == [deviation, deviation]
                    default: squares = false
                    }
                    let normalized = Array(resultType.shape[axis...])
                    guard squares, [scale, bias].allSatisfy({ value in
                        guard let type = graph.type(of: value) else { return false }
                        return type.elementType == resultType.elementType && type.rank <= normalized.count
                            && zip(type.shape.reversed(), normalized.reversed()).allSatisfy { $0 == $1 || $0 == 1 }
                    }) else { continue }
                    graph.operations[index] = Operation(.layerNorm(axis: axis, epsilon: Float(epsilon)), operands: [x, scale, bias],
                                                        results: [result], location: op.location)
                    return true
                }
            }
        }
    }
    return false
}
