// The type rules of the data-movement ops of #12 (pad, resize, gather_elements, gather_nd and the scatters),
// called from `OpKind.resultType` after the operand count and every operand type have been checked.

extension OpKind {
    /// The result type of a data-movement op of #12; the operands are already counted and valid.
    func movementResultType(_ operands: [TensorType], declared: TensorType?) throws(TypeRuleError) -> TensorType {
        func requireIndices(_ type: TensorType) throws(TypeRuleError) {
            guard type.elementType == .i32 || type.elementType == .i64 else {
                throw TypeRuleError("indices must be i32 or i64, found \(type.elementType)")
            }
        }
        func requireAxis(_ axis: Int, rank: Int) throws(TypeRuleError) {
            guard axis >= 0, axis < rank else { throw TypeRuleError("axis \(axis) is out of range for rank \(rank)") }
        }
        let x = operands[0]
        if case let .pad(pads, mode, value) = self {
            guard pads.count == 2 * x.rank else {
                throw TypeRuleError("pad needs \(2 * x.rank) pads (the begins of every axis, then the ends) for rank \(x.rank), found \(pads.count)")
            }
            if let absurd = pads.first(where: { abs($0) > TensorType.maxElementCount }) {
                throw TypeRuleError("pad width \(absurd) is absurd (more than 2^40)")
            }
            guard x.elementType.isFloat || (value == value.rounded() && abs(value) < 9.2e18) else {
                throw TypeRuleError("pad value \(formatFloat(value)) does not fit \(x.elementType)")
            }
            var shape = x.shape
            for axis in shape.indices {
                let begin = pads[axis], end = pads[axis + x.rank]
                shape[axis] = x.shape[axis] + begin + end
                guard shape[axis] >= 0 else {
                    throw TypeRuleError("pads \(begin) and \(end) crop more than the \(x.shape[axis]) elements of axis \(axis)")
                }
                if mode != .constant, x.shape[axis] == 0, shape[axis] > 0 {
                    throw TypeRuleError("\(mode.rawValue) padding of axis \(axis) needs elements to copy, but the axis is empty")
                }
            }
            let result = x.with(shape: shape).plain
            if let problem = validate(result) { throw TypeRuleError("result: \(problem)") }
            return result
        }
        if case let .resize(attributes) = self {
            guard let declared else { throw TypeRuleError("the result type must be stated") }
            if let problem = validate(declared) { throw TypeRuleError("result: \(problem)") }
            guard declared.elementType == x.elementType, declared.rank == x.rank else {
                throw TypeRuleError("resize keeps the element type and rank of \(x.plain), result is \(declared)")
            }
            guard x.elementType.isFloat || attributes.mode == .nearest else {
                throw TypeRuleError("linear resize needs a float operand, found \(x.elementType)")
            }
            guard attributes.scales.count == x.rank, attributes.scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw TypeRuleError("resize needs one positive finite scale per axis (\(x.rank)), found \(attributes.scales.map(formatFloat))")
            }
            let cropping = attributes.coordinateTransformation == .tfCropAndResize
            guard attributes.roi.count == (cropping ? 2 * x.rank : 0), attributes.roi.allSatisfy(\.isFinite) else {
                throw TypeRuleError(cropping ? "tf_crop_and_resize needs a roi of \(2 * x.rank) finite values, found \(attributes.roi.count)"
                                             : "roi is only read by tf_crop_and_resize")
            }
            for axis in x.shape.indices where x.shape[axis] == 0 && declared.shape[axis] > 0 {
                throw TypeRuleError("axis \(axis) is empty, so it cannot be resized to \(declared.shape[axis])")
            }
            return declared.plain
        }
        if case let .gatherElements(axis) = self {
            let indices = operands[1]
            try requireIndices(indices)
            try requireAxis(axis, rank: x.rank)
            guard indices.rank == x.rank else {
                throw TypeRuleError("indices must have the data's rank \(x.rank), found rank \(indices.rank)")
            }
            for dim in x.shape.indices where dim != axis && indices.shape[dim] > x.shape[dim] {
                throw TypeRuleError("indices axis \(dim) has \(indices.shape[dim]) entries, more than the data's \(x.shape[dim])")
            }
            return x.with(shape: indices.shape).plain
        }
        if case let .gatherND(batchDims) = self {
            let indices = operands[1]
            try requireIndices(indices)
            guard let depth = indices.shape.last else { throw TypeRuleError("gather_nd indices need rank 1 or more") }
            guard batchDims >= 0, batchDims < indices.rank, batchDims < x.rank,
                  Array(indices.shape[..<batchDims]) == Array(x.shape[..<batchDims]) else {
                throw TypeRuleError("batch_dims \(batchDims) must be below both ranks, with equal leading dimensions, found data \(x.plain) and indices \(indices.plain)")
            }
            guard depth >= 1, depth <= x.rank - batchDims else {
                throw TypeRuleError("the last indices dimension \(depth) must be between 1 and \(x.rank - batchDims)")
            }
            return x.with(shape: Array(indices.shape.dropLast()) + Array(x.shape[(batchDims + depth)...])).plain
        }
        if case let .scatterElements(axis, _) = self {
            let indices = operands[1], updates = operands[2]
            try requireIndices(indices)
            try requireAxis(axis, rank: x.rank)
            guard updates.elementType == x.elementType else {
                throw TypeRuleError("updates must have the data's element type \(x.elementType), found \(updates.elementType)")
            }
            guard indices.shape == updates.shape, indices.rank == x.rank else {
                throw TypeRuleError("indices and updates must have one shape of the data's rank \(x.rank), found \(indices.plain) and \(updates.plain)")
            }
            for dim in x.shape.indices where dim != axis && indices.shape[dim] > x.shape[dim] {
                throw TypeRuleError("indices axis \(dim) has \(indices.shape[dim]) entries, more than the data's \(x.shape[dim])")
            }
            return x.plain
        }
        if case .scatterND = self {
            let indices = operands[1], updates = operands[2]
            try requireIndices(indices)
            guard updates.elementType == x.elementType else {
                throw TypeRuleError("updates must have the data's element type \(x.elementType), found \(updates.elementType)")
            }
            guard let depth = indices.shape.last, depth >= 1, depth <= x.rank else {
                throw TypeRuleError("the last indices dimension must be between 1 and the data's rank \(x.rank), found \(indices.plain)")
            }
            let expected = Array(indices.shape.dropLast()) + Array(x.shape[depth...])
            guard updates.shape == expected else {
                throw TypeRuleError("updates must have shape \(shapeText(expected)), found \(shapeText(updates.shape))")
            }
            return x.plain
        }
        throw TypeRuleError("\(mnemonic) has no data-movement type rule")
    }
}
