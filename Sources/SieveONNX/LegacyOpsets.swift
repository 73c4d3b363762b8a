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

    // MARK: Pad

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
}
