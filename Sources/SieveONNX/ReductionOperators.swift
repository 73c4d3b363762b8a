// ONNX converters of the reductions and neural-network group: Reduce*, ArgMax/ArgMin, CumSum, TopK, LogSoftmax,
// ConvTranspose, and InstanceNormalization/GroupNormalization (decomposed into layer_norm, mul and add).

import SieveIR

extension GraphBuilder {
    /// The reduce function of each ONNX Reduce* op.
    static let reduceFunctions: [String: ReduceFunction] = [
        "ReduceMean": .mean, "ReduceSum": .sum, "ReduceMax": .max, "ReduceMin": .min, "ReduceProd": .prod,
        "ReduceL1": .l1, "ReduceL2": .l2, "ReduceSumSquare": .sumSquare, "ReduceLogSum": .logSum, "ReduceLogSumExp": .logSumExp,
    ]

    /// ONNX ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum,
    /// ReduceLogSumExp: `axes` is an attribute before opset 18 (13 for ReduceSum) and a constant input after.
    mutating func convertReduce(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        guard let function = GraphBuilder.reduceFunctions[n.node.opType] else {
            throw NodeError("internal: no reduce function for \(n.node.opType)")
        }
        let x = try n.input(0)
        let rank = type(of: x).rank
        let keepDims = try n.attributes.int("keepdims", default: 1) != 0
        let inputSince = function == .sum ? 13 : 18
        let raw = try axesOperand(&n, inputSince: inputSince) ?? []
        // noop_with_empty_axes arrives with axes as an input; before, no axes always means every axis.
        var noopWithEmptyAxes = false
        if opset >= inputSince { noopWithEmptyAxes = try n.attributes.int("noop_with_empty_axes", default: 0) != 0 }
        var axes = try sortedUnique(raw.map { value throws(NodeError) in try normalizeAxis(value, rank: rank, "axis") })
        if axes.isEmpty && !noopWithEmptyAxes && rank > 0 { axes = Array(0..<rank) }
        if axes.isEmpty {
            // No axis: each element is reduced alone, which leaves it unchanged for these functions.
            switch function {
            case .mean, .sum, .max, .min, .prod, .logSumExp: return [x]
            case .l1, .l2, .sumSquare, .logSum: break
            }
        }
        return [try emit(.reduce(function, axes: axes, keepDims: keepDims), [x], name: n.outputName(0), n)]
    }

    /// ONNX ArgMax, ArgMin.
    mutating func convertArgExtreme(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let axis = try normalizeAxis(n.attributes.int("axis", default: 0), rank: type(of: x).rank, "axis")
        let keepDims = try n.attributes.int("keepdims", default: 1) != 0
        let selectLastIndex = try n.attributes.int("select_last_index", default: 0) != 0
        return [try emit(.argExtreme(largest: n.node.opType == "ArgMax", axis: axis, keepDims: keepDims, selectLastIndex: selectLastIndex),
                         [x], name: n.outputName(0), n)]
    }

    /// ONNX CumSum with a constant axis.
    mutating func convertCumSum(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let values = try constantIntegers(n.input(1), "axis", n)
        guard values.count == 1 else { throw NodeError("CumSum's axis must hold one value, found \(values.count)") }
        let axis = try normalizeAxis(values[0], rank: type(of: x).rank, "axis")
        let exclusive = try n.attributes.int("exclusive", default: 0) != 0
        let reverse = try n.attributes.int("reverse", default: 0) != 0
        return [try emit(.cumSum(axis: axis, exclusive: exclusive, reverse: reverse), [x], name: n.outputName(0), n)]
    }

    /// ONNX TopK with a constant k: two ops (values and indices), each emitted only when read.
    mutating func convertTopK(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let shape = type(of: x).shape
        let k: Int64
        if opset < 10 {
            guard let value = try n.attributes.int("k") else { throw NodeError("TopK needs the attribute 'k'") }
            k = value
        } else {
            let values = try constantIntegers(n.input(1), "K", n)
            guard values.count == 1 else { throw NodeError("TopK's K must hold one value, found \(values.count)") }
            k = values[0]
        }
        let axis = try normalizeAxis(n.attributes.int("axis", default: -1), rank: shape.count, "axis")
        guard k >= 0, k <= Int64(shape[axis]) else {
            throw NodeError("TopK k \(k) is out of range: axis \(axis) has \(shape[axis]) elements; k must be between 0 and \(shape[axis])")
        }
        let largest = try n.attributes.int("largest", default: 1) != 0
        // sorted = 0 leaves the order unspecified; the sorted order is one such order.
        _ = try n.attributes.int("sorted", default: 1)
        var outputs: [Slot?] = []
        for (index, output) in [TopKOutput.values, .indices].enumerated() {
            guard let name = n.outputName(index), consumed.contains(name) else {
                outputs.append(nil)
                continue
            }
            outputs.append(try emit(.topK(k: Int(k), axis: axis, largest: largest, output: output), [x], name: name, n))
        }
        return outputs
    }

    /// ONNX LogSoftmax; before opset 13 the input is coerced to 2-D at `axis` (default 1), as for Softmax.
    mutating func convertLogSoftmax(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let (operand, axis, restore) = try softmaxFamilyOperand(n.input(0), &n)
        let y = try emit(.logSoftmax(axis: axis), [operand], name: restore == nil ? n.outputName(0) : nil, n)
        return [try restoreCoercedShape(y, restore, n)]
    }

    /// ONNX ConvTranspose, 1-D (lifted to 2-D with a height of 1) and 2-D. Pads follow the ONNX reference:
    /// with `auto_pad` SAME_* the total padding is split around an output of `output_shape` (default input
    /// times stride); otherwise `pads` (default 0) start the output and `output_shape`, when given, fixes its end.
    mutating func convertConvTranspose(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        var x = try n.input(0), w = try n.input(1)
        let rank = type(of: x).rank
        guard rank == 3 || rank == 4, type(of: w).rank == rank else {
            throw NodeError("ConvTranspose with \(max(rank, type(of: w).rank) - 2) spatial dimensions is not supported (only 1-D and 2-D over NCL or NCHW input)")
        }
        let spatial = rank - 2
        let kernel = Array(type(of: w).shape[2...])
        if let given = try n.attributes.ints("kernel_shape"), given.map({ Int($0) }) != kernel {
            throw NodeError("kernel_shape \(given) does not match the weight's spatial shape \(kernel)")
        }
        let limit = Int64(TensorType.maxElementCount)
        func list(_ name: String, count: Int, default value: Int64, minimum: Int64) throws(NodeError) -> [Int] {
            guard let values = try n.attributes.ints(name) else { return Array(repeating: Int(value), count: count) }
            guard values.count == count, values.allSatisfy({ $0 >= minimum && $0 <= limit }) else {
                throw NodeError("attribute '\(name)' must hold \(count) values from \(minimum) to \(limit) for a \(spatial)-D ConvTranspose, found \(values)")
            }
            return values.map { Int($0) }
        }
        let strides = try list("strides", count: spatial, default: 1, minimum: 1)
        let dilations = try list("dilations", count: spatial, default: 1, minimum: 1)
        let outputPadding = try list("output_padding", count: spatial, default: 0, minimum: 0)
        let pads = try list("pads", count: 2 * spatial, default: 0, minimum: 0)
        let outputShape = try n.attributes.ints("output_shape").map { values throws(NodeError) -> [Int] in
            guard values.count == spatial, values.allSatisfy({ $0 >= 0 && $0 <= limit }) else {
                throw NodeError("attribute 'output_shape' must hold \(spatial) non-negative sizes, found \(values)")
            }
            return values.map { Int($0) }
        }
        let group = try n.attributes.int("group", default: 1)
        guard group >= 1, group <= Int64(Int32.max) else { throw NodeError("group \(group) must be positive") }
        let autoPad = try n.attributes.string("auto_pad", default: "NOTSET")
        guard ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"].contains(autoPad) else {
            throw NodeError("auto_pad '\(autoPad)' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
        }
        let inputSizes = Array(type(of: x).shape[2...])
        var begin: [Int] = [], end: [Int] = []
        for axis in 0..<spatial {
            let estimate = Double(inputSizes[axis]) * Double(strides[axis]) + Double(kernel[axis]) * Double(dilations[axis])
                + Double(outputPadding[axis])
            guard estimate <= Double(limit) else {
                throw NodeError("ConvTranspose output along spatial axis \(axis) would have about \(estimate) elements (input \(inputSizes[axis]), stride \(strides[axis]), kernel \(kernel[axis]), dilation \(dilations[axis])), which is absurd")
            }
            let full = (max(inputSizes[axis], 1) - 1) * strides[axis] + outputPadding[axis] + (kernel[axis] - 1) * dilations[axis] + 1
            if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
                let target = outputShape?[axis] ?? inputSizes[axis] * strides[axis]
                let total = full - target
                let half = Int((Double(total) / 2).rounded(.down))
                begin.append(autoPad == "SAME_UPPER" ? half : total - half)
                end.append(autoPad == "SAME_UPPER" ? total - half : half)
            } else {
                let first = autoPad == "VALID" ? 0 : pads[axis]
                begin.append(first)
                end.append(outputShape.map { full - first - $0[axis] } ?? (autoPad == "VALID" ? 0 : pads[axis + spatial]))
            }
        }
        // A negative end pad is output padding: the output runs past the last written position.
        var extra = [0, 0]
        var padsIR = [0, 0, 0, 0]
        for axis in 0..<spatial {
            let slot = spatial == 1 ? 1 : axis
            padsIR[slot] = begin[axis]
            padsIR[slot + 2] = max(end[axis], 0)
            extra[slot] = outputPadding[axis] + max(-end[axis], 0)
        }
        let lift = { (values: [Int], one: Int) -> [Int] in spatial == 1 ? [one, values[0]] : values }
        if spatial == 1 {
            x = try emit(.unsqueeze(axes: [2]), [x], name: nil, n)
            w = try emit(.unsqueeze(axes: [2]), [w], name: nil, n)
        }
        let attributes = ConvTranspose2DAttributes(strides: lift(strides, 1), pads: padsIR, dilations: lift(dilations, 1),
                                                   outputPadding: extra, groups: Int(group))
        var operands = [x, w]
        if let bias = n.optionalInput(2) { operands.append(bias) }
        if spatial == 2 { return [try emit(.convTranspose2d(attributes), operands, name: n.outputName(0), n)] }
        let result = try emit(.convTranspose2d(attributes), operands, name: nil, n)
        return [try emit(.squeeze(axes: [2]), [result], name: n.outputName(0), n)]
    }

    /// ONNX InstanceNormalization: `layer_norm` over the spatial axes (scale 1), then the per-channel scale and bias.
    mutating func convertInstanceNormalization(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let epsilon = try n.attributes.float("epsilon", default: 1e-5)
        let xType = type(of: x)
        guard xType.rank >= 3 else {
            throw NodeError("InstanceNormalization needs an input of rank 3 or more (N, C and spatial axes), found rank \(xType.rank)")
        }
        let normalized = try normalizeWithoutScale(x, axis: 2, epsilon: epsilon, n)
        let channels = xType.shape[1]
        let perChannel = [channels] + Array(repeating: 1, count: xType.rank - 2)
        return [try scaleAndShift(normalized, scale: n.input(1), bias: n.input(2), shape: perChannel, name: n.outputName(0), n)]
    }

    /// ONNX GroupNormalization: the input viewed as [N, groups, rest] is normalized per group, then scaled per
    /// channel (opset 21; before, scale and bias hold one value per group and are repeated over its channels).
    mutating func convertGroupNormalization(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let xType = type(of: x)
        let epsilon = try n.attributes.float("epsilon", default: 1e-5)
        guard let groups = try n.attributes.int("num_groups") else { throw NodeError("GroupNormalization needs the attribute 'num_groups'") }
        let stash = try n.attributes.int("stash_type", default: 1)
        guard stash == 1 else {
            throw NodeError("GroupNormalization stash_type=\(stash) is not supported (only 1, computing in float32)")
        }
        guard xType.rank >= 2 else { throw NodeError("GroupNormalization needs an input of rank 2 or more, found rank \(xType.rank)") }
        let channels = xType.shape[1]
        guard groups >= 1, groups <= Int64(channels), channels % Int(groups) == 0 else {
            throw NodeError("num_groups \(groups) must divide the \(channels) channels")
        }
        let groupCount = Int(groups)
        let rest = xType.shape[1...].reduce(1, *) / groupCount
        let grouped = try emit(.reshape, [x], declared: xType.with(shape: [xType.shape[0], groupCount, rest]), name: nil, n)
        let normalizedGroups = try normalizeWithoutScale(grouped, axis: 2, epsilon: epsilon, n)
        let normalized = try emit(.reshape, [normalizedGroups], declared: xType.plain, name: nil, n)
        let spatialOnes = Array(repeating: 1, count: xType.rank - 2)
        var scale = try n.input(1), bias = try n.input(2)
        if opset < 21 {
            // One value per group: repeat it over the group's channels.
            for slot in [0, 1] {
                let value = slot == 0 ? scale : bias
                let valueType = type(of: value)
                guard valueType.shape == [groupCount] else {
                    throw NodeError("GroupNormalization-18 needs a \(slot == 0 ? "scale" : "bias") of shape [\(groupCount)], found \(shapeString(valueType.shape))")
                }
                let column = try emit(.reshape, [value], declared: valueType.with(shape: [groupCount, 1]), name: nil, n)
                let repeated = try emit(.expand, [column], declared: valueType.with(shape: [groupCount, channels / groupCount]), name: nil, n)
                let flat = try emit(.reshape, [repeated], declared: valueType.with(shape: [channels]), name: nil, n)
                if slot == 0 { scale = flat } else { bias = flat }
            }
        }
        return [try scaleAndShift(normalized, scale: scale, bias: bias, shape: [channels] + spatialOnes, name: n.outputName(0), n)]
    }

    /// `layer_norm` from `axis` to the last axis with a scale of one and no bias.
    private mutating func normalizeWithoutScale(_ x: Slot, axis: Int, epsilon: Float, _ n: NodeContext) throws(NodeError) -> Slot {
        let elementType = type(of: x).elementType
        let one = Slot.constant(Constant.from(name: graph.constants.freshName("one"), type: TensorType([1], elementType), values: [1]))
        return try emit(.layerNorm(axis: axis, epsilon: epsilon), [x, one], name: nil, n)
    }

    /// `x * scale + bias` with scale and bias (one value per channel) reshaped to `shape` to broadcast over x.
    private mutating func scaleAndShift(_ x: Slot, scale: Slot, bias: Slot, shape: [Int], name: String?,
                                        _ n: NodeContext) throws(NodeError) -> Slot {
        var operands: [Slot] = []
        for value in [scale, bias] {
            let valueType = type(of: value)
            guard valueType.elementCount == shape[0] else {
                throw NodeError("\(n.node.opType) needs a scale and bias of \(shape[0]) values (one per channel), found \(shapeString(valueType.shape))")
            }
            operands.append(try emit(.reshape, [value], declared: valueType.with(shape: shape), name: nil, n))
        }
        let scaled = try emit(.binary(.mul), [x, operands[0]], name: nil, n)
        return try emit(.binary(.add), [scaled, operands[1]], name: name, n)
    }
}
