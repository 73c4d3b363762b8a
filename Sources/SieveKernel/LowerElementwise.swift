// Lowering of elementwise ops: arithmetic, comparisons, activations, cast, where, quantize and dequantize.
// One loop over the result (flat when no operand broadcasts), each element computed as the interpreter does.

import SieveIR

extension Lowerer {
    /// Appends a small table (quantization scales, zero points) to the weights and returns its buffer.
    mutating func addTable(_ name: String, elementType: ElementType, values: [Double]) -> BufferID {
        while program.weights.count % PlanMemory.alignment != 0 { program.weights.append(0) }
        let offset = program.weights.count
        for value in values { appendElement(value, of: elementType, to: &program.weights) }
        while program.weights.count % PlanMemory.alignment != 0 { program.weights.append(0) }
        return addBuffer(Buffer(name: name, storage: .constant(offset: offset), elementType: elementType, count: max(1, values.count)))
    }

    /// Appends raw bytes (a packed weight) as a table of one-byte elements.
    mutating func addByteTable(_ name: String, elementType: ElementType, bytes: [UInt8]) -> BufferID {
        while program.weights.count % PlanMemory.alignment != 0 { program.weights.append(0) }
        let offset = program.weights.count
        program.weights += bytes
        while program.weights.count % PlanMemory.alignment != 0 { program.weights.append(0) }
        return addBuffer(Buffer(name: name, storage: .constant(offset: offset), elementType: elementType, count: max(1, bytes.count)))
    }

    /// Appends an exact i64 table.
    mutating func addIntegerTable(_ name: String, values: [Int64]) -> BufferID {
        while program.weights.count % PlanMemory.alignment != 0 { program.weights.append(0) }
        let offset = program.weights.count
        for value in values { appendInteger(value, of: .i64, to: &program.weights) }
        while program.weights.count % PlanMemory.alignment != 0 { program.weights.append(0) }
        return addBuffer(Buffer(name: name, storage: .constant(offset: offset), elementType: .i64, count: max(1, values.count)))
    }

    mutating func lowerElementwise(_ op: Operation, result: ValueID) throws {
        let resultType = type(result)
        let shape = resultType.shape
        let count = resultType.elementCount ?? 0
        let target = try buffer(result)
        let operandTypes = op.operands.map { type($0) }
        let isFloat = operandTypes.first.map { $0.elementType.isFloat } ?? true

        // Quantization parameters become tables; per-axis ones are indexed by the element's axis coordinate.
        var quantTables: (scales: BufferID, zeroPoints: BufferID, axis: Int?)? = nil
        var quantRange: ClosedRange<Int64> = 0...0
        switch op.kind {
        case .quantize:
            guard let params = resultType.quant, let range = resultType.elementType.integerRange else {
                throw LoweringError("quantize needs an integer result type with quantization parameters")
            }
            quantRange = range
            quantTables = (addTable("\(name(result)).scales", elementType: .f32, values: params.scales.map(Double.init)),
                           addIntegerTable("\(name(result)).zero_points", values: params.zeroPoints), params.axis)
        case .dequantize:
            guard let params = operandTypes[0].quant else {
                throw LoweringError("dequantize needs an operand type with quantization parameters")
            }
            quantTables = (addTable("\(name(op.operands[0])).scales", elementType: .f32, values: params.scales.map(Double.init)),
                           addIntegerTable("\(name(op.operands[0])).zero_points", values: params.zeroPoints), params.axis)
        default:
            break
        }
        let kind = op.kind
        let resultElement = resultType.elementType
        let strides = rowMajorStrides(shape)
        // Fused producers are evaluated in this loop at the same index; their leaves are read from memory.
        let graph = self.graph
        let defining = graph.definingOps()
        var leaves: [ValueID] = []
        var fusedCount = 0
        var fusedKinds: [(kind: OpKind, result: ElementType)] = []
        func collectLeaves(_ value: ValueID) {
            if fused.contains(value), let producer = defining[value.index] {
                fusedCount += 1
                fusedKinds.append((graph.operations[producer].kind, graph.values[value.index].type.elementType))
                graph.operations[producer].operands.forEach(collectLeaves)
            } else {
                leaves.append(value)
            }
        }
        op.operands.forEach(collectLeaves)
        var leafBuffers: [ValueID: BufferID] = [:]
        for leaf in leaves { leafBuffers[leaf] = try buffer(leaf) }
        let flat = leaves.allSatisfy { type($0).shape == shape }
        let fusedValues = fused
        // An f32 chain whose every op has a vector form runs on whole vectors, the last count % width elements
        // one by one below. GCC vectorises the scalar loop only behind a run-time aliasing check, which an in-place
        // result (the arena bytes of an operand, plan-memory's reuse) always fails, and sigmoid calls a function in
        // double; the vector loop reads every operand before it stores.
        // Leaves of one element (scalar constants of the chain, broadcast to every element) are splat.
        let vectorWidth = width, probe = KernelExpression.broadcast(.float(0), width: width)
        let vectorised = resultElement == .f32 && count >= vectorWidth
            && leaves.allSatisfy { type($0).elementType == .f32 && (type($0).shape == shape || type($0).elementCount == 1) }
            && ([(kind, resultElement)] + fusedKinds).allSatisfy {
                $0.result == .f32 && vectorElementValue($0.kind, [probe, probe], width: vectorWidth) != nil
            }
        let wholeVectors = vectorised ? count / vectorWidth * vectorWidth : 0
        // Each fused value is computed once per element into a variable (`computed`): inlined, an op that reads its
        // operand twice (min, max, relu's select) doubled the text at every level of a chain, and a 60-deep max
        // chain in a published model became 1.2 GB of C.
        func operandValue(_ value: ValueID, _ flatIndex: KernelExpression, _ indices: [KernelExpression]?,
                          _ body: inout KernelBuilder, _ computed: inout [ValueID: KernelExpression]) -> KernelExpression {
            if let known = computed[value] { return known }
            if fusedValues.contains(value), let producerIndex = defining[value.index] {
                let producer = graph.operations[producerIndex]
                let inner = producer.operands.map { operandValue($0, flatIndex, indices, &body, &computed) }
                let isFloatProducer = producer.operands.first.map { graph.values[$0.index].type.elementType.isFloat } ?? true
                let element = graph.values[value.index].type.elementType
                let result = body.declare("fused", element.isFloat ? .f32 : .i64,
                                          elementValue(producer.kind, inner, isFloat: isFloatProducer, resultElement: element,
                                                       quant: Lowerer.perTensorDequantization(producer, in: graph), quantRange: 0...0))
                computed[value] = result
                return result
            }
            let source = leafBuffers[value] ?? BufferID(0)
            if vectorised, graph.values[value.index].type.shape != shape { return .load(source, index: 0) }
            if let indices {
                return .load(source, index: SieveKernel.flatIndex(indices, strides: broadcastStrides(from: graph.values[value.index].type.shape, to: shape)))
            }
            return .load(source, index: flatIndex)
        }

        var builder = KernelBuilder()
        if vectorised {
            func vectorOperand(_ value: ValueID, _ index: KernelExpression, _ body: inout KernelBuilder,
                               _ computed: inout [ValueID: KernelExpression]) -> KernelExpression {
                if let known = computed[value] { return known }
                if fusedValues.contains(value), let producerIndex = defining[value.index] {
                    let producer = graph.operations[producerIndex]
                    let inner = producer.operands.map { vectorOperand($0, index, &body, &computed) }
                    let result = body.declare("fused", .f32x(vectorWidth),
                                              vectorElementValue(producer.kind, inner, width: vectorWidth) ?? inner[0])
                    computed[value] = result
                    return result
                }
                let source = leafBuffers[value] ?? BufferID(0)
                if type(value).shape != shape { return .broadcast(.load(source, index: 0), width: vectorWidth) }
                return .vectorLoad(source, index: index, width: vectorWidth)
            }
            builder.loop("c", to: .index(count / vectorWidth), parallel: isParallel(count)) { body, chunk in
                let index = chunk * .index(vectorWidth)
                var computed: [ValueID: KernelExpression] = [:]
                let operands = op.operands.map { vectorOperand($0, index, &body, &computed) }
                body.emit(.vectorStore(target, index: index, value: vectorElementValue(kind, operands, width: vectorWidth) ?? operands[0]))
            }
        }
        let body: (inout KernelBuilder, KernelExpression, [KernelExpression]?) -> Void = { body, flatIndex, indices in
            var computed: [ValueID: KernelExpression] = [:]
            let loads: [KernelExpression] = op.operands.map { operandValue($0, flatIndex, indices, &body, &computed) }
            var parameter: KernelExpression = 0
            if let tables = quantTables, let axis = tables.axis {
                if let indices { parameter = indices[axis] } else { parameter = (flatIndex / .index(strides[axis])) % .index(shape[axis]) }
            }
            var operands = loads
            if case let .binary(function) = kind, [.div, .mod, .fmod].contains(function), !isFloat {
                // Integer division by zero stops the run, as the interpreter refuses it.
                let divisor = body.declare("divisor", .i64, loads[1])
                body.branch(.binary(.eq, divisor, 0)) { $0.emit(.trap(.divisionByZero)) }
                operands[1] = divisor
            }
            let value = elementValue(kind, operands, isFloat: isFloat, resultElement: resultElement, quant: quantTables.map {
                (KernelExpression.load($0.scales, index: parameter), KernelExpression.load($0.zeroPoints, index: parameter))
            }, quantRange: quantRange)
            body.store(target, flatIndex, value)
        }
        if vectorised {
            builder.loop("i", from: .index(wholeVectors), to: .index(count)) { inner, i in body(&inner, i, nil) }
        } else if flat {
            builder.loop("i", to: .index(count), parallel: isParallel(count)) { inner, i in body(&inner, i, nil) }
        } else {
            builder.loopNest(shape, parallel: isParallel(count)) { inner, indices in
                body(&inner, SieveKernel.flatIndex(indices, strides: strides), indices)
            }
        }
        let fusion = fusedCount > 0 ? ", \(fusedCount + 1) ops fused" : ""
        let shapeText = vectorised ? "elementwise, f32x\(vectorWidth) vectors" : flat ? "elementwise, flat loop" : "elementwise with broadcast, loop nest"
        addKernel(builder, pattern: shapeText + fusion)
    }
}

/// The value of one result element of an elementwise op from its operand values (f32 or i64).
func elementValue(_ kind: OpKind, _ x: [KernelExpression], isFloat: Bool, resultElement: ElementType,
                  quant: (scale: KernelExpression, zeroPoint: KernelExpression)?, quantRange: ClosedRange<Int64>) -> KernelExpression {
    switch kind {
    case let .binary(function): return binaryValue(function, x[0], x[1], isFloat: isFloat)
    case let .unary(function): return unaryValue(function, x[0], isFloat: isFloat, resultElement: resultElement)
    case .cast:
        if isFloat {
            if resultElement.isFloat { return x[0] }
            if resultElement == .bool { return .binary(.ne, x[0], .float(0)) }
            return .intrinsic(.truncateToI64, [x[0]])
        }
        return resultElement.isFloat ? .convert(x[0], to: .f32) : x[0]
    case .where:
        return .select(.binary(.ne, x[0], 0), x[1], x[2])
    case .quantize:
        guard let quant else { return 0 }
        return .intrinsic(.quantize, [x[0], quant.scale, quant.zeroPoint, .int(quantRange.lowerBound), .int(quantRange.upperBound)])
    case .dequantize:
        guard let quant else { return .float(0) }
        return .binary(.mul, .convert(.binary(.wrappingSub, x[0], quant.zeroPoint), to: .f32), quant.scale)
    case .constant, .matmul, .gemm, .fusedMatmul, .conv2d, .softmax, .layerNorm, .batchNorm, .reduce, .reshape,
         .transpose, .flatten, .squeeze, .unsqueeze, .expand, .concat, .gather, .slice, .maxPool, .averagePool,
         .globalAveragePool, .globalMaxPool, .argExtreme, .cumSum, .topK, .logSoftmax, .convTranspose2d:
        preconditionFailure("\(kind.mnemonic) is not elementwise")
    case .pad, .resize, .gatherElements, .gatherND, .scatterElements, .scatterND:
        preconditionFailure("\(kind.mnemonic) is not elementwise")
    }
}

/// A binary function of two element values (f32 or i64), as the interpreter's `binary` computes it.
func binaryValue(_ function: BinaryFunction, _ a: KernelExpression, _ b: KernelExpression, isFloat: Bool) -> KernelExpression {
    switch function {
    case .add: return .binary(isFloat ? .add : .wrappingAdd, a, b)
    case .sub: return .binary(isFloat ? .sub : .wrappingSub, a, b)
    case .mul: return .binary(isFloat ? .mul : .wrappingMul, a, b)
    case .div: return .binary(isFloat ? .div : .wrappingDiv, a, b)
    case .pow: return .binary(.pow, a, b)
    case .equal: return .binary(.eq, a, b)
    case .max, .min, .prelu, .mod, .fmod, .greater, .less, .greaterOrEqual, .lessOrEqual, .and, .or, .xor:
        return elementwiseGroupValue(function, a, b, isFloat: isFloat)
    }
}

/// A unary function of one element value (f32, or i64 for the `numeric` ones), as the interpreter's `unary` does.
func unaryValue(_ function: UnaryFunction, _ x: KernelExpression, isFloat: Bool, resultElement: ElementType) -> KernelExpression {
    let zero: KernelExpression = isFloat ? .float(0) : .int(0)
    switch function {
    case .relu: return .select(.binary(.lt, x, zero), zero, x)
    case .neg: return isFloat ? .unary(.neg, x) : .binary(.wrappingSub, 0, x)
    case .sigmoid: return .unary(.sigmoid, x)
    case .tanh: return .unary(.tanh, x)
    case .erf: return .unary(.erf, x)
    case .sqrt: return .unary(.sqrt, x)
    case .exp: return .unary(.exp, x)
    case let .leakyRelu(alpha): return .select(.binary(.lt, x, .float(0)), .binary(.mul, .float(alpha), x), x)
    case let .gelu(approximateTanh): return .unary(approximateTanh ? .geluTanh : .gelu, x)
    case let .hardSigmoid(alpha, beta):
        return .binary(.min, .binary(.max, .binary(.add, .binary(.mul, .float(alpha), x), .float(beta)), .float(0)), .float(1))
    case let .clip(low, high):
        if isFloat { return .binary(.min, .binary(.max, x, .float(low)), .float(high)) }
        let lowest = integerBound(Double(low).rounded(.up)), highest = integerBound(Double(high).rounded(.down))
        // A bound at or beyond the element type's range cannot bite; leaving it out keeps the C free of
        // comparisons that are always false (and of -Wtype-limits warnings).
        let range = resultElement.integerRange ?? Int64.min...Int64.max
        var value = x
        if lowest > range.lowerBound { value = .binary(.max, value, .int(lowest)) }
        if highest < range.upperBound { value = .binary(.min, value, .int(highest)) }
        return value
    case .absolute, .reciprocal, .logarithm, .floor, .ceiling, .roundEven, .sign, .sin, .cos, .hardSwish, .elu, .selu,
         .softplus, .softsign, .mish, .celu, .thresholdedRelu, .isNan, .logicalNot:
        return elementwiseGroupValue(function, x, isFloat: isFloat)
    }
}

// MARK: The elementwise group of #12, step for step as the interpreter's `applyElementwiseGroup`

/// A unary function of the elementwise group of one element value (f32, or i64 for numeric and bool ones).
func elementwiseGroupValue(_ function: UnaryFunction, _ x: KernelExpression, isFloat: Bool) -> KernelExpression {
    let zero: KernelExpression = isFloat ? .float(0) : .int(0), one: KernelExpression = isFloat ? .float(1) : .int(1)
    switch function {
    case .absolute: return isFloat ? .unary(.abs, x) : .select(.binary(.lt, x, 0), .binary(.wrappingSub, 0, x), x)
    case .reciprocal: return .binary(.div, .float(1), x)
    case .logarithm: return .unary(.log, x)
    case .floor: return .unary(.floor, x)
    case .ceiling: return .unary(.ceil, x)
    case .roundEven: return .unary(.roundEven, x)
    case .sign:
        let negativeOne: KernelExpression = isFloat ? .float(-1) : .int(-1)
        return .select(.binary(.gt, x, zero), one, .select(.binary(.lt, x, zero), negativeOne, isFloat ? x : zero))
    case .sin: return .unary(.sin, x)
    case .cos: return .unary(.cos, x)
    case .hardSwish: return .binary(.mul, x, unaryValue(.hardSigmoid(alpha: 1 / 6, beta: 0.5), x, isFloat: true, resultElement: .f32))
    case let .elu(alpha):
        return .select(.binary(.lt, x, .float(0)), .binary(.mul, .float(alpha), .binary(.sub, .unary(.exp, x), .float(1))), x)
    case let .selu(alpha, gamma):
        return .select(.binary(.lt, x, .float(0)),
                       .binary(.mul, .float(gamma), .binary(.mul, .float(alpha), .binary(.sub, .unary(.exp, x), .float(1)))),
                       .binary(.mul, .float(gamma), x))
    case .softplus: return .unary(.softplus, x)
    case .softsign: return .binary(.div, x, .binary(.add, .float(1), .unary(.abs, x)))
    case .mish: return .binary(.mul, x, .unary(.tanh, .unary(.softplus, x)))
    case let .celu(alpha):
        return .select(.binary(.lt, x, .float(0)),
                       .binary(.mul, .float(alpha), .binary(.sub, .unary(.exp, .binary(.div, x, .float(alpha))), .float(1))), x)
    case let .thresholdedRelu(alpha): return .select(.binary(.gt, x, .float(alpha)), x, .float(0))
    case .isNan: return isFloat ? .unary(.isNaN, x) : 0
    case .logicalNot: return .unary(.not, x)
    case .relu, .sigmoid, .tanh, .erf, .sqrt, .exp, .neg, .leakyRelu, .gelu, .clip, .hardSigmoid:
        return unaryValue(function, x, isFloat: isFloat, resultElement: isFloat ? .f32 : .i64)
    }
}

/// A binary function of the elementwise group of two element values (f32 or i64; comparisons and logic give i64 0 or 1).
/// Integer remainders read a divisor that the caller has checked for zero.
func elementwiseGroupValue(_ function: BinaryFunction, _ a: KernelExpression, _ b: KernelExpression, isFloat: Bool) -> KernelExpression {
    switch function {
    // The kernel's max/min let their first operand win NaN; testing a first makes NaN in either operand win.
    case .max: return isFloat ? .select(.unary(.isNaN, a), a, .binary(.max, b, a)) : .binary(.max, a, b)
    case .min: return isFloat ? .select(.unary(.isNaN, a), a, .binary(.min, b, a)) : .binary(.min, a, b)
    case .prelu:
        let zero: KernelExpression = isFloat ? .float(0) : .int(0)
        return .select(.binary(.lt, a, zero), .binary(isFloat ? .mul : .wrappingMul, b, a), a)
    case .fmod: return isFloat ? .binary(.fmod, a, b) : .binary(.wrappingRem, a, b)
    case .mod:
        guard !isFloat else { return .binary(.fmod, a, b) }  // the type rule admits integers only
        // Floored: a non-zero remainder whose sign differs from the divisor's moves by one divisor.
        let remainder = KernelExpression.binary(.wrappingRem, a, b)
        let adjust = KernelExpression.binary(.and, .binary(.ne, remainder, 0), .binary(.ne, .binary(.lt, remainder, 0), .binary(.lt, b, 0)))
        return .select(adjust, .binary(.wrappingAdd, remainder, b), remainder)
    case .greater: return .binary(.gt, a, b)
    case .less: return .binary(.lt, a, b)
    case .greaterOrEqual: return .binary(.ge, a, b)
    case .lessOrEqual: return .binary(.le, a, b)
    case .and: return .binary(.and, a, b)
    case .or: return .binary(.or, a, b)
    case .xor: return .binary(.ne, .binary(.ne, a, 0), .binary(.ne, b, 0))
    case .add, .sub, .mul, .div, .pow, .equal: return binaryValue(function, a, b, isFloat: isFloat)
    }
}

/// The value of an f32 elementwise op on vectors of `width` lanes, lane for lane what `elementValue` gives (the
/// vector sigmoid within its ulp bound); nil for the ops without a vector form.
func vectorElementValue(_ kind: OpKind, _ x: [KernelExpression], width: Int) -> KernelExpression? {
    func splat(_ value: Float) -> KernelExpression { .broadcast(.float(value), width: width) }
    // The kernel's min and max keep their first operand on ties and NaN, as the scalar selects and min/max do.
    func hardSigmoid(_ x: KernelExpression, alpha: Float, beta: Float) -> KernelExpression {
        .binary(.min, .binary(.max, .binary(.add, .binary(.mul, splat(alpha), x), splat(beta)), splat(0)), splat(1))
    }
    switch kind {
    case .binary(.add) where x.count == 2: return .binary(.add, x[0], x[1])
    case .binary(.sub) where x.count == 2: return .binary(.sub, x[0], x[1])
    case .binary(.mul) where x.count == 2: return .binary(.mul, x[0], x[1])
    case .binary(.div) where x.count == 2: return .binary(.div, x[0], x[1])
    case .unary(.relu): return .binary(.max, x[0], splat(0))  // select(x < 0, 0, x): -0 and NaN stay
    case .unary(.neg): return .unary(.neg, x[0])
    case .unary(.sigmoid): return .unary(.sigmoid, x[0])
    case let .unary(.hardSigmoid(alpha, beta)): return hardSigmoid(x[0], alpha: alpha, beta: beta)
    case .unary(.hardSwish): return .binary(.mul, x[0], hardSigmoid(x[0], alpha: 1 / 6, beta: 0.5))
    case let .unary(.clip(low, high)): return .binary(.min, .binary(.max, x[0], splat(low)), splat(high))
    default: return nil
    }
}

/// An epilogue activation applied to an f32 value.
func activationValue(_ function: UnaryFunction, _ x: KernelExpression) -> KernelExpression {
    unaryValue(function, x, isFloat: true, resultElement: .f32)
}

/// An activation on f32 vectors of `width` lanes, where kernel IR has a vector form (relu as a lane max, exact
/// GELU); nil for the others, which product epilogues then apply a value at a time.
func vectorActivation(_ function: UnaryFunction, width: Int) -> ((KernelExpression) -> KernelExpression)? {
    switch function {
    case .relu: return { x in .binary(.max, x, .broadcast(.float(0), width: width)) }
    case .gelu(approximateTanh: false): return { x in .unary(.gelu, x) }
    default: return nil
    }
}

/// An integral Double as an i64, saturating (NaN gives 0), as the interpreter's `toInt64`.
func integerBound(_ value: Double) -> Int64 {
    if value.isNaN { return 0 }
    if value <= Double(Int64.min) { return Int64.min }
    if value >= Double(Int64.max) { return Int64.max }
    return Int64(value)
}
