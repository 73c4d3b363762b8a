// ONNX data-movement ops of #12: Pad, Split, Resize, Upsample, Tile, Range, Size, GatherElements, GatherND,
// ScatterElements, ScatterND, OneHot, Trilu, DepthToSpace, SpaceToDepth. Several are compositions of existing IR ops.

import SieveIR

extension GraphBuilder {
    /// The largest single pad width, tile repeat or resized dimension read; anything larger is absurd.
    static let maxMovementParameter: Int64 = 1 << 31
    /// The most elements a Pad, Tile or Resize result may have (16 GiB of f32); more is refused as absurd
    /// before anything is allocated.
    static let maxMovementElements = 1 << 32

    /// Refuses a Pad, Tile or Resize result shape with more than `maxMovementElements` elements.
    func requirePlausibleResult(_ shape: [Int], _ n: NodeContext) throws(NodeError) {
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= GraphBuilder.maxMovementElements else {
                throw NodeError("\(n.node.opType) result of shape \(shape.map(String.init).joined(separator: "x")) has more than 2^32 elements, which is refused as absurd; check the model's sizes")
            }
            count = product
        }
    }

    /// ONNX Pad (`pads` and `value` attributes before 11; from 11 pads, constant_value and, from 18, axes as inputs).
    mutating func convertPad(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let xType = type(of: x)
        let rank = xType.rank
        // pads and value are attributes before opset 11, inputs from 11 (axes from 18): LegacyOpsets.swift.
        let parameters = try padParameters(&n)
        guard let mode = PadMode(rawValue: parameters.mode) else {
            throw NodeError("Pad mode '\(parameters.mode)' is not supported (only constant, reflect, edge and wrap)")
        }
        let given = parameters.pads
        var axes = Array(0..<rank)
        if let axesGiven = parameters.axes {
            axes = try axesGiven.map { value throws(NodeError) in try normalizeAxis(value, rank: rank, "axis") }
            guard Set(axes).count == axes.count else { throw NodeError("Pad axes \(axes) repeat an axis") }
        }
        guard given.count == 2 * axes.count else {
            throw NodeError("Pad needs \(2 * axes.count) pads (begins, then ends, of \(axes.count) axes), found \(given.count)")
        }
        if let absurd = given.first(where: { abs($0) > GraphBuilder.maxMovementParameter }) {
            throw NodeError("Pad width \(absurd) is absurd (more than 2^31); check the model's pads")
        }
        var pads = [Int](repeating: 0, count: 2 * rank)
        for (slot, axis) in axes.enumerated() {
            pads[axis] = Int(given[slot])
            pads[axis + rank] = Int(given[slot + axes.count])
        }
        var value: Float = 0
        if let valueSlot = parameters.constantValue, mode == .constant {
            value = try constantScalar(valueSlot, "constant_value", n)
        }
        if pads.allSatisfy({ $0 == 0 }) { return [x] }
        try requirePlausibleResult(xType.shape.indices.map { xType.shape[$0] + pads[$0] + pads[$0 + rank] }, n)
        return [try emit(.pad(pads: pads, mode: mode, value: value), [x], name: n.outputName(0), n)]
    }

    /// ONNX Split (`split` an attribute before 13, an input from 13; 18+: num_outputs), as one slice per output.
    mutating func convertSplit(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let shape = type(of: x).shape
        let axis = try normalizeAxis(n.attributes.int("axis", default: 0), rank: shape.count, "axis")
        let dim = shape[axis]
        let outputs = n.node.output.count
        var sizes: [Int]
        // `split` is an attribute before opset 13 and input 1 from 13.
        let explicit = try opset < 13 ? n.attributes.ints("split")
                                      : n.optionalInput(1).map { slot throws(NodeError) in try constantIntegers(slot, "split", n) }
        if let split = explicit {
            guard split.allSatisfy({ $0 >= 0 }), split.reduce(0, +) == Int64(dim), split.count == outputs else {
                throw NodeError("Split sizes \(split) must be \(outputs) non-negative sizes adding up to the \(dim) elements of axis \(axis)")
            }
            sizes = split.map { Int($0) }
        } else if let count = try n.attributes.int("num_outputs") {
            guard count >= 1, count == Int64(outputs) else {
                throw NodeError("Split num_outputs \(count) must equal the node's \(outputs) outputs")
            }
            // Every part ceil(dim / count) long, the last one shorter.
            let part = (dim + outputs - 1) / outputs
            sizes = (0..<outputs).map { max(0, min(part, dim - $0 * part)) }
        } else {
            guard outputs >= 1, dim % outputs == 0 else {
                throw NodeError("Split of axis \(axis) (\(dim) elements) into \(outputs) equal parts needs a size that divides evenly; give 'split' explicitly")
            }
            sizes = Array(repeating: dim / outputs, count: outputs)
        }
        var results: [Slot?] = []
        var start = 0
        for (index, size) in sizes.enumerated() {
            if sizes.count == 1 {
                results.append(x)
            } else {
                results.append(try emit(.slice(starts: [start], ends: [start + size], axes: [axis], steps: [1]), [x],
                                        name: n.outputName(index), n))
            }
            start += size
        }
        return results
    }

    /// ONNX Resize (10: scales input, asymmetric; 11+: roi, scales, sizes; 18+: axes, keep_aspect_ratio_policy).
    mutating func convertResize(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let rank = type(of: x).rank
        let modeName = try n.attributes.string("mode", default: "nearest")
        guard let mode = ResizeMode(rawValue: modeName) else {
            throw NodeError("Resize mode '\(modeName)' is not supported (only nearest and linear)")
        }
        if opset < 11 {
            // Resize-10 is Upsample with downsampling allowed: asymmetric coordinates, nearest rounds down.
            let scales = try resizeScales(n.input(1), rank: rank, n)
            return [try emitResize(x, mode: mode, coordinates: .asymmetric, nearestMode: .floor, scales: scales, sizes: nil,
                                   roi: [], extrapolation: 0, n)]
        }
        let coordinateName = try n.attributes.string("coordinate_transformation_mode", default: "half_pixel")
        guard let coordinates = CoordinateTransformation(rawValue: coordinateName) else {
            throw NodeError("Resize coordinate_transformation_mode '\(coordinateName)' is not supported")
        }
        let nearestName = try n.attributes.string("nearest_mode", default: "round_prefer_floor")
        guard let nearestMode = NearestMode(rawValue: nearestName) else {
            throw NodeError("Resize nearest_mode '\(nearestName)' is not supported")
        }
        // Cubic only: excluded taps fall outside only for cubic.
        try n.attributes.ignore("cubic_coeff_a", .float)
        try n.attributes.ignore("exclude_outside", .int)
        if try n.attributes.int("antialias", default: 0) != 0 && mode == .linear {
            throw NodeError("Resize with antialias=1 is not supported")
        }
        let policy = try n.attributes.string("keep_aspect_ratio_policy", default: "stretch")
        let extrapolation = try n.attributes.float("extrapolation_value", default: 0)
        var axes = Array(0..<rank)
        if let given = try n.attributes.ints("axes") {
            axes = try given.map { value throws(NodeError) in try normalizeAxis(value, rank: rank, "axis") }
            guard Set(axes).count == axes.count else { throw NodeError("Resize axes \(given) repeat an axis") }
        }
        var roi: [Float] = []
        if coordinates == .tfCropAndResize {
            guard let roiSlot = n.optionalInput(1), case let .constant(constant) = roiSlot,
                  constant.type.elementCount == 2 * axes.count, constant.hasConsistentSize else {
                throw NodeError("input 'roi' of Resize must be a constant of \(2 * axes.count) values for tf_crop_and_resize; a roi computed at run time is not supported")
            }
            roi = [Float](repeating: 0, count: rank) + [Float](repeating: 1, count: rank)
            for (slot, axis) in axes.enumerated() {
                roi[axis] = Float(constant.element(at: slot))
                roi[axis + rank] = Float(constant.element(at: slot + axes.count))
            }
        }
        let scalesSlot = n.optionalInput(2).flatMap { slot -> Slot? in type(of: slot).elementCount == 0 ? nil : slot }
        if let scalesSlot {
            let given = try resizeScales(scalesSlot, rank: axes.count, n)
            var scales = [Float](repeating: 1, count: rank)
            for (slot, axis) in axes.enumerated() { scales[axis] = given[slot] }
            return [try emitResize(x, mode: mode, coordinates: coordinates, nearestMode: nearestMode, scales: scales,
                                   sizes: nil, roi: roi, extrapolation: extrapolation, n)]
        }
        guard let sizesSlot = n.optionalInput(3) else { throw NodeError("Resize needs either scales or sizes") }
        let given = try constantIntegers(sizesSlot, "sizes", n)
        guard given.count == axes.count, given.allSatisfy({ $0 >= 0 && $0 <= GraphBuilder.maxMovementParameter }) else {
            throw NodeError("Resize sizes \(given) must hold \(axes.count) sizes between 0 and 2^31; larger sizes are absurd")
        }
        let inShape = type(of: x).shape
        var sizes = inShape
        var scales = [Float](repeating: 1, count: rank)
        switch policy {
        case "stretch":
            for (slot, axis) in axes.enumerated() {
                sizes[axis] = Int(given[slot])
                scales[axis] = inShape[axis] == 0 ? 1 : Float(given[slot]) / Float(inShape[axis])
            }
        case "not_larger", "not_smaller":
            let ratios = axes.enumerated().map { Double(given[$0.offset]) / Double(max(inShape[$0.element], 1)) }
            let scale = (policy == "not_larger" ? ratios.min() : ratios.max()) ?? 1
            for axis in axes {
                sizes[axis] = Int((scale * Double(inShape[axis])).rounded(.toNearestOrAwayFromZero))
                scales[axis] = Float(scale)
            }
        default:
            throw NodeError("Resize keep_aspect_ratio_policy '\(policy)' is not one of stretch, not_larger, not_smaller")
        }
        return [try emitResize(x, mode: mode, coordinates: coordinates, nearestMode: nearestMode, scales: scales,
                               sizes: sizes, roi: roi, extrapolation: extrapolation, n)]
    }

    /// ONNX Upsample (opset 7 to 9): asymmetric coordinates, nearest rounding down; scales as an attribute before 9.
    mutating func convertUpsample(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let rank = type(of: x).rank
        let modeName = try n.attributes.string("mode", default: "nearest")
        guard let mode = ResizeMode(rawValue: modeName == "bilinear" ? "linear" : modeName) else {
            throw NodeError("Upsample mode '\(modeName)' is not supported (only nearest and linear)")
        }
        let scales: [Float]
        if let given = try n.attributes.floats("scales") {
            scales = given
        } else {
            scales = try resizeScales(n.input(1), rank: rank, n)
        }
        guard scales.count == rank, scales.allSatisfy({ $0 >= 1 }) else {
            throw NodeError("Upsample needs \(rank) scales of at least 1, found \(scales)")
        }
        return [try emitResize(x, mode: mode, coordinates: .asymmetric, nearestMode: .floor, scales: scales, sizes: nil,
                               roi: [], extrapolation: 0, n)]
    }

    /// Constant float scales, one per axis, positive, finite and not absurd.
    private func resizeScales(_ slot: Slot, rank: Int, _ n: NodeContext) throws(NodeError) -> [Float] {
        guard case let .constant(constant) = slot else {
            throw NodeError("input 'scales' of \(n.node.opType) must be a constant; scales computed at run time are not supported")
        }
        guard constant.type.elementType.isFloat, constant.hasConsistentSize, constant.type.elementCount == rank else {
            throw NodeError("\(n.node.opType) scales must be \(rank) floats, found \(constant.type)")
        }
        let scales = (0..<rank).map { Float(constant.element(at: $0)) }
        if let bad = scales.first(where: { !($0 > 0) || !$0.isFinite || Double($0) > Double(GraphBuilder.maxMovementParameter) }) {
            throw NodeError("\(n.node.opType) scale \(bad) is not a positive finite factor up to 2^31")
        }
        return scales
    }

    private mutating func emitResize(_ x: Slot, mode: ResizeMode, coordinates: CoordinateTransformation, nearestMode: NearestMode,
                                     scales: [Float], sizes: [Int]?, roi: [Float], extrapolation: Float,
                                     _ n: NodeContext) throws(NodeError) -> Slot {
        let xType = type(of: x)
        var shape = sizes ?? []
        if sizes == nil {
            for (axis, dim) in xType.shape.enumerated() {
                let size = (Double(dim) * Double(scales[axis])).rounded(.down)
                guard size <= Double(TensorType.maxElementCount) else {
                    throw NodeError("\(n.node.opType) scale \(scales[axis]) makes axis \(axis) of \(dim) elements absurdly large")
                }
                shape.append(Int(size))
            }
        }
        try requirePlausibleResult(shape, n)
        let result = TensorType(shape, xType.elementType)
        // Scale 1 maps every position to itself, except under the two TensorFlow rules (half-pixel offset, crop box).
        if scales.allSatisfy({ $0 == 1 }) && shape == xType.shape && coordinates != .tfCropAndResize
            && coordinates != .tfHalfPixelForNN { return x }
        let attributes = ResizeAttributes(mode: mode, coordinateTransformation: coordinates, nearestMode: nearestMode,
                                          scales: scales, roi: roi, extrapolationValue: extrapolation)
        return try emit(.resize(attributes), [x], declared: result, name: n.outputName(0), n)
    }

    /// ONNX Tile, as unsqueeze (reshape), expand and reshape: the expand is the broadcast copy.
    mutating func convertTile(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let xType = type(of: x)
        let repeats = try constantIntegers(n.input(1), "repeats", n)
        guard repeats.count == xType.rank else {
            throw NodeError("Tile needs \(xType.rank) repeats, found \(repeats.count)")
        }
        if let bad = repeats.first(where: { $0 < 0 || $0 > GraphBuilder.maxMovementParameter }) {
            throw NodeError("Tile repeat \(bad) is negative or absurd (more than 2^31)")
        }
        var split: [Int] = [], expanded: [Int] = [], final: [Int] = []
        for (dim, repeatCount) in zip(xType.shape, repeats.map { Int($0) }) {
            if repeatCount != 1 { split.append(1); expanded.append(repeatCount) }
            split.append(dim)
            expanded.append(dim)
            let (size, overflow) = dim.multipliedReportingOverflow(by: repeatCount)
            guard !overflow else { throw NodeError("Tile repeat \(repeatCount) of an axis of \(dim) elements is absurd") }
            final.append(size)
        }
        guard split.count != xType.rank else { return [x] }
        try requirePlausibleResult(final, n)
        let finalType = TensorType(final, xType.elementType)
        let lifted = try emit(.reshape, [x], declared: TensorType(split, xType.elementType), name: nil, n)
        let broadcast = try emit(.expand, [lifted], declared: TensorType(expanded, xType.elementType), name: nil, n)
        return [try emit(.reshape, [broadcast], declared: finalType, name: n.outputName(0), n)]
    }

    /// ONNX Range: folded at import (its operands must be constants).
    mutating func convertRange(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        var operands: [Constant] = []
        for (index, what) in ["start", "limit", "delta"].enumerated() {
            guard case let .constant(constant) = try n.input(index) else {
                throw NodeError("input '\(what)' of Range must be a constant once input shapes are fixed (bind it with --bind); Range computed at run time is not supported")
            }
            guard constant.type.elementCount == 1, constant.hasConsistentSize else {
                throw NodeError("input '\(what)' of Range must be a scalar, found \(constant.type)")
            }
            operands.append(constant)
        }
        let elementType = operands[0].type.elementType
        guard operands.allSatisfy({ $0.type.elementType == elementType }), elementType != .bool else {
            throw NodeError("Range operands must share one numeric element type, found \(operands.map { "\($0.type.elementType)" })")
        }
        let count: Double
        if elementType.isFloat {
            let start = operands[0].element(at: 0), limit = operands[1].element(at: 0), delta = operands[2].element(at: 0)
            guard delta != 0, delta.isFinite, start.isFinite, limit.isFinite else {
                throw NodeError("Range needs a finite non-zero delta and finite bounds, found start \(start), limit \(limit), delta \(delta)")
            }
            count = max(((limit - start) / delta).rounded(.up), 0)
        } else {
            let start = operands[0].integer(at: 0), limit = operands[1].integer(at: 0), delta = operands[2].integer(at: 0)
            guard delta != 0 else { throw NodeError("Range delta must not be 0") }
            count = max((Double(limit) - Double(start)) / Double(delta), 0).rounded(.up)
        }
        guard count <= Double(ONNXImporter.maxFoldedElements) else {
            throw NodeError("Range of \(count) elements is absurd (more than \(ONNXImporter.maxFoldedElements)); check start, limit and delta")
        }
        let length = Int(count)
        let values: [Double]
        if elementType.isFloat {
            let start = operands[0].element(at: 0), delta = operands[2].element(at: 0)
            values = (0..<length).map { start + Double($0) * delta }
        } else {
            let start = operands[0].integer(at: 0), delta = operands[2].integer(at: 0)
            values = (0..<length).map { Double(start &+ Int64($0) &* delta) }
        }
        return [.constant(Constant.from(name: n.outputName(0) ?? "range", type: TensorType([length], elementType), values: values))]
    }

    /// ONNX Size: the element count, known once shapes are fixed.
    mutating func convertSize(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let count = type(of: try n.input(0)).elementCount ?? 0
        return [.constant(Constant.from(name: n.outputName(0) ?? "size", type: TensorType([], .i64), values: [Double(count)]))]
    }

    /// ONNX GatherElements.
    mutating func convertGatherElements(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let data = try n.input(0)
        let axis = try normalizeAxis(n.attributes.int("axis", default: 0), rank: type(of: data).rank, "axis")
        return [try emit(.gatherElements(axis: axis), [data, n.input(1)], name: n.outputName(0), n)]
    }

    /// ONNX GatherND.
    mutating func convertGatherND(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let batchDims = try n.attributes.int("batch_dims", default: 0)
        guard batchDims >= 0, batchDims < 64 else { throw NodeError("GatherND batch_dims \(batchDims) is out of range") }
        return [try emit(.gatherND(batchDims: Int(batchDims)), [n.input(0), n.input(1)], name: n.outputName(0), n)]
    }

    private func scatterReduction(_ n: inout NodeContext) throws(NodeError) -> ScatterReduction {
        let name = try n.attributes.string("reduction", default: "none")
        guard let reduction = ScatterReduction(rawValue: name) else {
            throw NodeError("\(n.node.opType) reduction '\(name)' is not supported (only none, add, mul, max and min)")
        }
        return reduction
    }

    /// ONNX ScatterElements.
    mutating func convertScatterElements(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let data = try n.input(0)
        let axis = try normalizeAxis(n.attributes.int("axis", default: 0), rank: type(of: data).rank, "axis")
        let reduction = try scatterReduction(&n)
        return [try emit(.scatterElements(axis: axis, reduction: reduction), [data, n.input(1), n.input(2)], name: n.outputName(0), n)]
    }

    /// ONNX ScatterND.
    mutating func convertScatterND(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let reduction = try scatterReduction(&n)
        return [try emit(.scatterND(reduction: reduction), [n.input(0), n.input(1), n.input(2)], name: n.outputName(0), n)]
    }

    /// ONNX OneHot, as comparisons of the indices with a constant range and selects of the on and off values.
    mutating func convertOneHot(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        var indices = try n.input(0)
        let depthValue = try constantScalar(n.input(1), "depth", n)
        guard depthValue >= 1, Double(depthValue) <= Double(ONNXImporter.maxFoldedElements) else {
            throw NodeError("OneHot depth \(depthValue) is not between 1 and \(ONNXImporter.maxFoldedElements)")
        }
        let depth = Int(depthValue)
        let values = try n.input(2)
        let valuesType = type(of: values)
        guard valuesType.elementCount == 2 else { throw NodeError("OneHot values must hold 2 elements (off, on), found \(valuesType)") }
        let indexType = type(of: indices)
        let rank = indexType.rank + 1
        let axis = try normalizeAxis(n.attributes.int("axis", default: -1), rank: rank, "axis")
        if indexType.elementType != .i64 {
            indices = try emit(.cast, [indices], declared: indexType.with(elementType: .i64), name: nil, n)
        }
        let lifted = try emit(.unsqueeze(axes: [axis]), [indices], name: nil, n)
        // The class numbers along `axis`, as a constant broadcasting against the lifted indices.
        let classShape = [depth] + [Int](repeating: 1, count: rank - 1 - axis)
        let base = n.outputName(0) ?? "one_hot"
        let classes = Constant.from(name: "\(base).classes", type: TensorType(classShape, .i64),
                                    values: (0..<depth).map(Double.init))
        let negative = Constant.from(name: "\(base).wrapped_classes", type: TensorType(classShape, .i64),
                                     values: (0..<depth).map { Double($0 - depth) })
        let flat = valuesType.rank == 1 ? values : try emit(.reshape, [values], declared: TensorType([2], valuesType.elementType), name: nil, n)
        let off = try emit(.slice(starts: [0], ends: [1], axes: [0], steps: [1]), [flat], name: "\(base).off", n)
        let on = try emit(.slice(starts: [1], ends: [2], axes: [0], steps: [1]), [flat], name: "\(base).on", n)
        let hit = try emit(.binary(.equal), [lifted, .constant(classes)], name: nil, n)
        let wrapped = try emit(.binary(.equal), [lifted, .constant(negative)], name: nil, n)
        let inner = try emit(.where, [wrapped, on, off], name: nil, n)
        return [try emit(.where, [hit, on, inner], name: n.outputName(0), n)]
    }

    /// ONNX Trilu, as a select of the input and zero by a constant mask.
    mutating func convertTrilu(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let xType = type(of: x)
        guard xType.rank >= 2 else { throw NodeError("Trilu needs rank 2 or more, found \(xType.rank)") }
        let upper = try n.attributes.int("upper", default: 1) != 0
        var k: Int64 = 0
        if let slot = n.optionalInput(1) {
            let given = try constantIntegers(slot, "k", n)
            guard given.count == 1 else { throw NodeError("Trilu k must be one integer, found \(given.count)") }
            k = given[0]
        }
        let rows = xType.shape[xType.rank - 2], columns = xType.shape[xType.rank - 1]
        guard let count = TensorType([rows, columns], .bool).elementCount, count <= ONNXImporter.maxFoldedElements else {
            throw NodeError("Trilu of \(rows)x\(columns) matrices is larger than \(ONNXImporter.maxFoldedElements) elements, which is not supported")
        }
        var mask: [Double] = []
        mask.reserveCapacity(count)
        for row in 0..<rows {
            for column in 0..<columns {
                let offset = Int64(column) - Int64(row)
                mask.append((upper ? offset >= k : offset <= k) ? 1 : 0)
            }
        }
        let base = n.outputName(0) ?? "trilu"
        let maskConstant = Constant.from(name: "\(base).mask", type: TensorType([rows, columns], .bool), values: mask)
        let zero = Constant.from(name: "\(base).zero", type: TensorType([], xType.elementType), values: [0])
        return [try emit(.where, [.constant(maskConstant), x, .constant(zero)], name: n.outputName(0), n)]
    }

    /// ONNX DepthToSpace (DCR and CRD), as reshape, transpose, reshape.
    mutating func convertDepthToSpace(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let xType = type(of: x)
        guard let block = try n.attributes.int("blocksize"), block >= 1, block <= 1 << 16 else {
            throw NodeError("DepthToSpace needs a positive attribute 'blocksize'")
        }
        let b = Int(block)
        let mode = try n.attributes.string("mode", default: "DCR")
        guard xType.rank == 4 else { throw NodeError("DepthToSpace needs a 4-D input, found rank \(xType.rank)") }
        let (batch, channels, height, width) = (xType.shape[0], xType.shape[1], xType.shape[2], xType.shape[3])
        guard channels % (b * b) == 0 else {
            throw NodeError("DepthToSpace channels \(channels) are not a multiple of blocksize² \(b * b)")
        }
        let depth = channels / (b * b)
        let split: [Int], permutation: [Int]
        switch mode {
        case "DCR": split = [batch, b, b, depth, height, width]; permutation = [0, 3, 4, 1, 5, 2]
        case "CRD": split = [batch, depth, b, b, height, width]; permutation = [0, 1, 4, 2, 5, 3]
        default: throw NodeError("DepthToSpace mode '\(mode)' is not DCR or CRD")
        }
        let lifted = try emit(.reshape, [x], declared: TensorType(split, xType.elementType), name: nil, n)
        let moved = try emit(.transpose(permutation: permutation), [lifted], name: nil, n)
        return [try emit(.reshape, [moved], declared: TensorType([batch, depth, height * b, width * b], xType.elementType),
                         name: n.outputName(0), n)]
    }

    /// ONNX SpaceToDepth, as reshape, transpose, reshape.
    mutating func convertSpaceToDepth(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        let x = try n.input(0)
        let xType = type(of: x)
        guard let block = try n.attributes.int("blocksize"), block >= 1, block <= 1 << 16 else {
            throw NodeError("SpaceToDepth needs a positive attribute 'blocksize'")
        }
        let b = Int(block)
        guard xType.rank == 4 else { throw NodeError("SpaceToDepth needs a 4-D input, found rank \(xType.rank)") }
        let (batch, channels, height, width) = (xType.shape[0], xType.shape[1], xType.shape[2], xType.shape[3])
        guard height % b == 0, width % b == 0 else {
            throw NodeError("SpaceToDepth height \(height) and width \(width) must be multiples of blocksize \(b)")
        }
        let split = [batch, channels, height / b, b, width / b, b]
        let lifted = try emit(.reshape, [x], declared: TensorType(split, xType.elementType), name: nil, n)
        let moved = try emit(.transpose(permutation: [0, 3, 5, 1, 2, 4]), [lifted], name: nil, n)
        return [try emit(.reshape, [moved], declared: TensorType([batch, channels * b * b, height / b, width / b], xType.elementType),
                         name: n.outputName(0), n)]
    }
}
