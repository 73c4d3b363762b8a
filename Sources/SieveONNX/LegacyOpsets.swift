// Reading ops as the model's opset defines them (opsets 7 to 12): where an op's inputs were attributes,
// or its semantics differed, these helpers give converters one answer for every version.

import SieveIR

/// Pad's parameters at the node's opset: `pads` (and `value`) are attributes before opset 11, inputs from 11.
struct PadParameters {
    /// Begin and end pads per axis, in ONNX order (all begins, then all ends), for `axes` or every axis.
    var pads: [Int64]
    /// The fill value for constant mode: a scalar constant of the data's element type, or an input; nil for zero.
    var constantValue: Slot?
    /// The axes the pads apply to (opset 18's `axes` input); nil for every axis in order.
    var axes: [Int64]?
    /// `constant`, `reflect`, `edge` or `wrap`.
    var mode: String
}

extension GraphBuilder {
    // MARK: Softmax, LogSoftmax, Hardmax before opset 13

    /// Before opset 13 Softmax, LogSoftmax and Hardmax coerce the input to 2-D at `axis` (default 1) and
    /// normalize each row of that matrix; from 13 they work along `axis` (default -1).
    ///
    /// Returns the operand and axis to apply the 13+ op to, and the shape to reshape its result back to
    /// (nil when no coercion was needed: from 13 on, or when `axis` is the last axis, where both agree).
    /// The result goes through ``restoreCoercedShape(_:_:_:)``.
    mutating func softmaxFamilyOperand(_ x: Slot, _ n: inout NodeContext) throws(NodeError) -> (operand: Slot, axis: Int, restore: [Int]?) {
        let xType = type(of: x)
        let rank = xType.rank
        if opset >= 13 {
            return (x, try normalizeAxis(n.attributes.int("axis", default: -1), rank: rank, "axis"), nil)
        }
        let axis = try normalizeAxis(n.attributes.int("axis", default: 1), rank: max(rank, 1), "axis", inclusive: true)
        // Rows from `axis` on: when that is only the last axis (or rank 1), the 13+ op is the same op.
        if rank <= 1 { return (x, 0, nil) }
        if axis == rank - 1 { return (x, axis, nil) }
        let flat = try emit(.flatten(axis: axis), [x], name: nil, n)
        return (flat, 1, xType.shape)
    }

    /// Reshapes a result computed on the 2-D coerced operand back to the input's shape (see
    /// ``softmaxFamilyOperand(_:_:)``); returns `y` unchanged when `restore` is nil.
    mutating func restoreCoercedShape(_ y: Slot, _ restore: [Int]?, _ n: NodeContext) throws(NodeError) -> Slot {
        guard let restore else { return y }
        return try emit(.reshape, [y], declared: TensorType(restore, type(of: y).elementType), name: n.outputName(0), n)
    }

    // MARK: Axes as attributes

    /// The raw `axes` of Squeeze, Unsqueeze and the reductions: the attribute before `inputSince`, input 1
    /// from that opset on (Squeeze, Unsqueeze and ReduceSum: 13; the other Reduce ops: 18). Nil when absent.
    mutating func axesOperand(_ n: inout NodeContext, inputSince: Int) throws(NodeError) -> [Int64]? {
        if opset < inputSince { return try n.attributes.ints("axes") }
        guard let slot = n.optionalInput(1) else { return nil }
        return try constantIntegers(slot, "axes", n)
    }

    // MARK: Pad and Split

    /// Pad's pads, fill value, axes and mode at the node's opset. For data-movement converters:
    /// before opset 11 `pads` and `value` are attributes; from 11 they are inputs 1 and 2 (input 3, `axes`, from 18).
    mutating func padParameters(_ n: inout NodeContext) throws(NodeError) -> PadParameters {
        let x = try n.input(0)
        let mode = try n.attributes.string("mode", default: "constant")
        if opset < 11 {
            guard let pads = try n.attributes.ints("pads") else { throw NodeError("Pad needs the attribute 'pads' (before opset 11)") }
            let value = try n.attributes.float("value", default: 0)
            let elementType = type(of: x).elementType
            let fill: Slot? = value == 0 ? nil : .constant(Constant.from(name: graph.constants.freshName("pad_value"),
                                                                         type: TensorType([], elementType), values: [Double(value)]))
            return PadParameters(pads: pads, constantValue: fill, axes: nil, mode: mode)
        }
        let pads = try constantIntegers(n.input(1), "pads", n)
        let axes = try n.optionalInput(3).map { slot throws(NodeError) in try constantIntegers(slot, "axes", n) }
        return PadParameters(pads: pads, constantValue: n.optionalInput(2), axes: axes, mode: mode)
    }

    /// The size of each output of Split along an axis of `axisSize` elements, at the node's opset: the
    /// `split` attribute before 13, input 1 from 13, `num_outputs` (attribute, 18+) or an equal split over
    /// the node's outputs otherwise (the last part smaller when 18's `num_outputs` does not divide).
    mutating func splitSizes(_ n: inout NodeContext, axisSize: Int) throws(NodeError) -> [Int] {
        var given: [Int64]?
        if opset < 13 {
            given = try n.attributes.ints("split")
        } else if let slot = n.optionalInput(1) {
            given = try constantIntegers(slot, "split", n)
        }
        let numOutputs = opset >= 18 ? try n.attributes.int("num_outputs") : nil
        if let given {
            guard numOutputs == nil else { throw NodeError("Split has both 'split' and 'num_outputs'; give one") }
            guard given.count == n.node.output.count else {
                throw NodeError("Split gives \(given.count) sizes for \(n.node.output.count) outputs")
            }
            guard given.allSatisfy({ $0 >= 0 && $0 <= Int64(axisSize) }), given.reduce(0, +) == Int64(axisSize) else {
                throw NodeError("Split sizes \(given) do not add up to the axis size \(axisSize)")
            }
            return given.map { Int($0) }
        }
        let parts = Int(numOutputs ?? Int64(n.node.output.count))
        guard parts >= 1, parts <= max(axisSize, 1) || numOutputs == nil else {
            throw NodeError("Split into \(parts) outputs is not possible along an axis of \(axisSize)")
        }
        guard parts >= 1, parts == n.node.output.count else {
            throw NodeError("Split num_outputs \(parts) does not match the node's \(n.node.output.count) outputs")
        }
        if numOutputs == nil {
            guard axisSize % parts == 0 else {
                throw NodeError("Split cannot divide an axis of \(axisSize) into \(parts) equal parts; give 'split'")
            }
            return Array(repeating: axisSize / parts, count: parts)
        }
        let chunk = (axisSize + parts - 1) / parts
        return (0..<parts).map { index in max(0, min(chunk, axisSize - index * chunk)) }
    }
}
