// Lowering from graph IR to kernel IR: plans memory, lays out weights, then builds one kernel per op.
// The per-op builders live in the Lower*.swift files; this file holds the driver and shared helpers.

import SieveIR
import SieveTarget

/// What lowering needs to know about the target.
public struct LoweringOptions: Hashable, Sendable {
    /// The program name (the artifact's symbol prefix).
    public var name: String
    /// f32 lanes per vector: 4 (SSE2), 8 (AVX2) or 16 (AVX-512).
    public var vectorWidth: Int
    /// Element count from which an elementwise or data-movement loop is split across threads.
    public var parallelThreshold: Int

    /// Makes options.
    public init(name: String, vectorWidth: Int, parallelThreshold: Int = 1 << 14) {
        self.name = name
        self.vectorWidth = vectorWidth
        self.parallelThreshold = parallelThreshold
    }
}

/// Why lowering refused a graph; becomes a located diagnostic.
struct LoweringError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The buffers holding one constant: dense elements, N:M kept values plus packed indices, or an N:M weight
/// in the row-block packing (then `values` is the packed buffer and `indices` nil).
struct ConstantBuffers {
    var values: BufferID
    var indices: BufferID?
    var rowBlocks: NMRowBlockLayout? = nil
}

/// Lowers a graph to a verified kernel program.
public func lowerToKernels(_ graph: Graph, options: LoweringOptions) throws(DiagnosticError) -> KernelProgram {
    try Verifier.verify(graph, checks: Verifier.targetChecks)
    var lowerer = Lowerer(graph: graph, options: options)
    do {
        try lowerer.run()
    } catch let error as LoweringError {
        throw DiagnosticError(.error(lowerer.currentLocation, error.message,
                                     context: lowerer.currentOp.map { graph.print($0) }))
    } catch {
        throw DiagnosticError(.error(graph.location, "lowering failed: \(error)"))
    }
    try KernelVerifier.verify(lowerer.program)
    return lowerer.program
}

/// The lowering state of one graph.
struct Lowerer {
    let graph: Graph
    let options: LoweringOptions
    var program: KernelProgram
    /// The buffer of each value, once known.
    var valueBuffers: [BufferID?]
    var constantBuffers: [Int: ConstantBuffers] = [:]
    /// Elementwise results computed inside their single elementwise consumer's loop instead of stored.
    var fused: Set<ValueID> = []
    /// Dense weights stored packed for their one product (and not also in their plain order), by constant index.
    var packedWeights: [Int: PackedWeight] = [:]
    /// The packing plan of each dense weight that will be packed, by constant index (see `packedWeightPlans`).
    var packingPlans: [Int: PackingPlan] = [:]
    var plan = MemoryPlan(homes: [], scratch: [:], arenaBytes: 0, copiedOutputs: [], inPlaceCount: 0)
    var currentOp: Operation?
    var currentOpIndex = 0
    /// The kernel schedule of each kernel-bearing op, by op index: its own attribute when it fits this vector
    /// width, otherwise `KernelProblem.defaultSchedule` (with a note for the kernel's pattern saying why).
    var schedules: [Int: KernelSchedule] = [:]
    var scheduleNotes: [Int: String] = [:]
    /// Values stored transposed, [n][rows], between N:M products (see `keptTransposedValues`).
    var transposedValues: Set<ValueID> = []
    /// Transposed N:M products that read activations an earlier one of them already transposed: op index of each
    /// later reader → op index of the first, whose scratch holds the activations as [k][rows] (see
    /// `sharedActivationTransposes`), and the first's → the last reader's, until which that scratch stays live.
    var sharedTransposeSource: [Int: Int] = [:]
    var sharedTransposeLastReader: [Int: Int] = [:]
    /// The transposed activations a first reader wrote, by the activation value, for the later readers.
    var sharedTransposeBuffers: [ValueID: BufferID] = [:]
    /// Dynamic int8 products that quantize the same f32 activations the same way as an earlier one: op index of each
    /// later reader → op index of the first, whose scratch holds the u8 rows, scales and zero points (see
    /// `sharedInt8Quantizations`), and the first's → the last reader's, until which that scratch stays live.
    var sharedInt8Source: [Int: Int] = [:]
    var sharedInt8LastReader: [Int: Int] = [:]
    /// The quantized rows a first reader wrote, by the activation value, for the later readers.
    var sharedInt8Rows: [ValueID: Int8Rows] = [:]
    var currentLocation: Location

    init(graph: Graph, options: LoweringOptions) {
        self.graph = graph
        self.options = options
        self.program = KernelProgram(name: options.name, vectorWidth: options.vectorWidth)
        self.valueBuffers = [BufferID?](repeating: nil, count: graph.values.count)
        self.currentLocation = graph.location
    }

    var width: Int { options.vectorWidth }

    func type(_ value: ValueID) -> TensorType { graph.values[value.index].type }

    func name(_ value: ValueID) -> String { graph.valueName(value) }

    mutating func addBuffer(_ buffer: Buffer) -> BufferID {
        program.buffers.append(buffer)
        return BufferID(program.buffers.count - 1)
    }

    /// The buffer holding a value's (dense) elements.
    func buffer(_ value: ValueID) throws -> BufferID {
        guard let id = valueBuffers[value.index] else {
            throw LoweringError("\(name(value)) has no buffer; it is an N:M weight read only by matrix products")
        }
        return id
    }

    mutating func run() throws {
        for op in graph.operations {
            for (index, operand) in op.operands.enumerated() where type(operand).layout != .dense {
                currentOp = op
                currentLocation = op.location
                guard case .constant? = graph.definingOps()[operand.index].map({ graph.operations[$0].kind }) else {
                    throw LoweringError("operand \(index) (\(name(operand))) has an \(type(operand).layout) layout but is not a constant; the native backend reads N:M data only from weights")
                }
            }
        }
        currentOp = nil
        resolveSchedules()
        transposedValues = keptTransposedValues()
        (sharedTransposeSource, sharedTransposeLastReader) = sharedActivationTransposes()
        (sharedInt8Source, sharedInt8LastReader) = sharedInt8Quantizations()
        packingPlans = packedWeightPlans()
        let scratch = graph.operations.indices.map(scratchBytes)
        fused = fusableValues()
        if let index = scratch.firstIndex(where: { $0 > Lowerer.maxArenaBytes }) {
            currentOp = graph.operations[index]
            currentLocation = graph.operations[index].location
            throw LoweringError("the op needs \(scratch[index] == Int.max ? "more than 2^63" : String(scratch[index])) bytes of scratch memory, more than the 1 TiB limit; reduce the tensor sizes")
        }
        plan = PlanMemory().plan(graph, scratchBytes: scratch, fused: fused,
                                 scratchLiveUntil: sharedTransposeLastReader.merging(sharedInt8LastReader, uniquingKeysWith: max))
        if plan.arenaBytes > Lowerer.maxArenaBytes {
            throw LoweringError("the graph needs an arena of \(plan.arenaBytes) bytes, more than the 1 TiB limit; reduce the tensor sizes")
        }
        program.arenaBytes = plan.arenaBytes

        for (position, input) in graph.inputs.enumerated() {
            let info = type(input)
            let id = addBuffer(Buffer(name: name(input), storage: .input(position), elementType: info.elementType,
                                      count: max(1, info.elementCount ?? 1)))
            program.inputs.append(id)
            program.inputShapes.append(info.shape)
            program.inputNames.append(graph.values[input.index].name ?? "input\(position)")
            if valueBuffers[input.index] == nil { valueBuffers[input.index] = id }
        }
        for (position, output) in graph.outputs.enumerated() {
            let info = type(output)
            let id = addBuffer(Buffer(name: name(output), storage: .output(position), elementType: info.elementType,
                                      count: max(1, info.elementCount ?? 1)))
            program.outputs.append(id)
            program.outputShapes.append(info.shape)
            program.outputNames.append(graph.values[output.index].name ?? "output\(position)")
        }
        try layOutConstants()
        for (index, info) in graph.values.enumerated() {
            guard let home = plan.homes[index] else { continue }
            switch home {
            case let .output(position):
                valueBuffers[index] = program.outputs[position]
            case let .arena(offset):
                valueBuffers[index] = addBuffer(Buffer(name: graph.valueName(ValueID(index)), storage: .arena(offset: offset),
                                                       elementType: info.type.elementType, count: max(1, info.type.elementCount ?? 1)))
            case .input, .constant, .view:
                break
            }
        }

        for (index, op) in graph.operations.enumerated() {
            currentOp = op
            currentOpIndex = index
            currentLocation = op.location
            guard let result = op.results.first, !fused.contains(result) else { continue }
            if case let .view(of: source) = plan.homes[result.index] {
                valueBuffers[result.index] = valueBuffers[source.index]
                continue
            }
            // An empty result (a zero dimension) needs no work: no kernel, so no loop bound or tile size
            // is ever derived from a zero extent. Its buffer still exists (one element) for its readers,
            // which are empty as well or read none of it.
            if type(result).elementCount == 0 { continue }
            try lower(op, result: result)
        }
        currentOp = nil
        for (position, value) in plan.copiedOutputs where type(value).elementCount != 0 {
            let source = try buffer(value)
            let target = program.outputs[position]
            let count = program.buffers[target.index].count
            var builder = KernelBuilder()
            builder.loop("i", to: .index(count), parallel: count >= options.parallelThreshold) { body, i in
                body.store(target, i, .load(source, index: i))
            }
            addKernel(builder, op: "copy", location: graph.location.description, pattern: "copy to output \(position)")
        }
    }

    /// Puts every constant into the weights blob, each at a 64-byte boundary, followed by padding
    /// so that packed-index reads of two bytes never leave the blob.
    mutating func layOutConstants() throws {
        var weights: [UInt8] = []
        // Room for every constant and its alignment up front: growing by doubling would hold the old and the
        // new storage at once, gigabytes for a large model. A hint only; packings that need more still fit.
        weights.reserveCapacity(graph.constants.entries.reduce(PlanMemory.alignment) { total, constant in
            total + constant.bytes.count + 2 * PlanMemory.alignment + 2
        })
        func align() { while weights.count % PlanMemory.alignment != 0 { weights.append(0) } }
        for op in graph.operations {
            guard case let .constant(id) = op.kind, let result = op.results.first,
                  let constant = graph.constants[id] else { continue }
            if let existing = constantBuffers[id.index] {
                if constant.type.layout == .dense { valueBuffers[result.index] = existing.values }
                continue
            }
            currentOp = op
            currentLocation = op.location
            guard constant.hasConsistentSize, let count = constant.type.elementCount else {
                throw LoweringError("constant @\(constant.name) does not hold the bytes its type needs")
            }
            // Read only as the int8 tile's panels, which its product's lowering packs.
            if isReadOnlyByInt8Tiles(result) { continue }
            align()
            switch constant.type.layout {
            case .dense:
                let offset = weights.count
                if let plan = packingPlans[id.index] {
                    // Stored once, in the panel order its product's kernel reads.
                    weights += packDenseWeight(constant.bytes, n: plan.n, k: plan.k, transposed: plan.transposed,
                                               panelWidth: plan.schedule.panelWidth)
                    let buffer = addBuffer(Buffer(name: "@\(constant.name).packed", storage: .constant(offset: offset),
                                                  elementType: .f32, count: max(1, count)))
                    packedWeights[id.index] = PackedWeight(buffer: buffer, schedule: plan.schedule, n: plan.n, k: plan.k, parallel: plan.parallel)
                    constantBuffers[id.index] = ConstantBuffers(values: buffer, indices: nil)
                    valueBuffers[result.index] = buffer
                    continue
                }
                weights += constant.bytes
                let buffer = addBuffer(Buffer(name: "@\(constant.name)", storage: .constant(offset: offset),
                                              elementType: constant.type.elementType, count: max(1, count)))
                if count == 0 { weights.append(0) }
                constantBuffers[id.index] = ConstantBuffers(values: buffer, indices: nil)
                valueBuffers[result.index] = buffer
            case let .nm(n, m):
                if case let .rowBlocks(layout) = physicalPacking(ofConstant: id, n: n, m: m) {
                    let offset = weights.count
                    weights += layout.pack(constant.bytes)
                    weights += [0, 0]
                    let packed = addBuffer(Buffer(name: "@\(constant.name).row_blocks", storage: .constant(offset: offset),
                                                  elementType: .u8, count: layout.totalBytes + 2))
                    constantBuffers[id.index] = ConstantBuffers(values: packed, indices: nil, rowBlocks: layout)
                    continue
                }
                // ceil(reduction / M) groups per row: a padded last group stores N entries too.
                let kept = NMMatrixShape(constant.type.shape).map { NMPacking.keptCount($0, NMPattern(n: n, m: m)) } ?? count / m * n
                let valueBytes = kept * constant.type.elementType.byteSize
                let offset = weights.count
                weights += constant.bytes[0..<valueBytes]
                let values = addBuffer(Buffer(name: "@\(constant.name).values", storage: .constant(offset: offset),
                                              elementType: constant.type.elementType, count: max(1, kept)))
                align()
                let indexOffset = weights.count
                let indexBytes = constant.bytes.count - valueBytes
                weights += constant.bytes[valueBytes...]
                weights += [0, 0]
                let indices = addBuffer(Buffer(name: "@\(constant.name).indices", storage: .constant(offset: indexOffset),
                                               elementType: .u8, count: indexBytes + 2))
                constantBuffers[id.index] = ConstantBuffers(values: values, indices: indices)
            }
        }
        align()
        program.weights = weights
    }

    /// Elementwise chains: a value is fused into its consumer when both ops are elementwise, the value has
    /// exactly one use and the consumer's shape, is not a graph output, and its type stores exactly what
    /// the register holds (f32, i64 or bool), so skipping the store changes no rounding.
    func fusableValues() -> Set<ValueID> {
        let uses = graph.useCounts()
        let outputs = Set(graph.outputs)
        let defining = graph.definingOps()
        var result: Set<ValueID> = []
        for op in graph.operations where isFusableConsumer(op.kind) {
            guard let consumerResult = op.results.first else { continue }
            for operand in op.operands {
                guard uses[operand.index] == 1, !outputs.contains(operand), let producerIndex = defining[operand.index] else { continue }
                let producer = graph.operations[producerIndex]
                let valueType = type(operand)
                guard isFusableProducer(producer), valueType.shape == type(consumerResult).shape,
                      [.f32, .i64, .bool].contains(valueType.elementType), valueType.layout == .dense else { continue }
                result.insert(operand)
            }
        }
        return result
    }

    /// Every elementwise op is lowered by `lowerElementwise`, which can evaluate fused operands.
    func isFusableConsumer(_ kind: OpKind) -> Bool {
        kind.traits.contains(.elementwise)
    }

    /// Elementwise ops whose value is one expression of their operands: not quantize and a dequantize per axis (they
    /// read parameter tables; a dequantize per tensor takes its one scale and zero point as constants, so that a QDQ
    /// `dequantize → add → quantize` chain is one kernel from 8-bit operands to an 8-bit result), and not integer
    /// division or remainder (they check the divisor with a statement).
    func isFusableProducer(_ op: Operation) -> Bool {
        guard op.kind.traits.contains(.elementwise) else { return false }
        if case .quantize = op.kind { return false }
        if case .dequantize = op.kind { return Lowerer.perTensorDequantization(op, in: graph) != nil }
        if case let .binary(function) = op.kind, [.div, .mod, .fmod].contains(function) {
            return op.operands.first.map { type($0).elementType.isFloat } ?? false
        }
        return true
    }

    /// The one scale and zero point of a `dequantize` quantized per tensor, as constants; nil for other ops.
    static func perTensorDequantization(_ op: Operation, in graph: Graph) -> (scale: KernelExpression, zeroPoint: KernelExpression)? {
        guard case .dequantize = op.kind, let operand = op.operands.first, let quant = graph.type(of: operand)?.quant,
              quant.axis == nil, quant.scales.count == 1, quant.zeroPoints.count == 1 else { return nil }
        return (.float(quant.scales[0]), .int(quant.zeroPoints[0]))
    }

    /// The N:M buffers of a weight operand, or nil for a dense one.
    func nmWeight(_ value: ValueID) -> (values: BufferID, indices: BufferID, n: Int, m: Int)? {
        guard case let .nm(n, m) = type(value).layout,
              let opIndex = graph.definingOps()[value.index],
              case let .constant(id) = graph.operations[opIndex].kind,
              let buffers = constantBuffers[id.index], let indices = buffers.indices else { return nil }
        return (buffers.values, indices, n, m)
    }

    /// The packed buffer and layout of an N:M weight operand stored in row blocks, or nil.
    func nmRowBlockWeight(_ value: ValueID) -> (buffer: BufferID, layout: NMRowBlockLayout)? {
        guard case .nm = type(value).layout, let opIndex = graph.definingOps()[value.index],
              case let .constant(id) = graph.operations[opIndex].kind,
              let buffers = constantBuffers[id.index], let layout = buffers.rowBlocks else { return nil }
        return (buffers.values, layout)
    }

    /// The scratch bytes an op's kernel needs in the arena.
    /// Saturates at `Int.max` instead of trapping, so absurd shapes become a diagnostic.
    func saturatingProduct(_ factors: [Int]) -> Int {
        factors.reduce(1) { partial, factor in
            let (result, overflow) = partial.multipliedReportingOverflow(by: factor)
            return overflow ? Int.max : result
        }
    }

    func scratchBytes(_ index: Int) -> Int {
        let op = graph.operations[index]
        if let shape = int8ConvolutionShape(op, at: index) { return shape.bytes }
        if case .conv2d = op.kind {
            guard let x = graph.type(of: op.operands[0]), let w = graph.type(of: op.operands[1]),
                  let y = op.results.first.flatMap({ graph.type(of: $0) }), y.rank == 4, convolutionForm(op) == .im2col else { return 0 }
            // im2col for every image and group: [C * KH * KW] rows of [N * OH * OW] f32 (of the input's type for an
            // integer convolution).
            let elementBytes = x.elementType.isFloat ? 4 : x.elementType.byteSize
            return saturatingProduct([x.shape[1], w.shape[2], w.shape[3], x.shape[0], y.shape[2], y.shape[3], elementBytes])
        }
        if let bytes = packedActivationBytes(op) { return bytes }
        if let shape = dynamicInt8Shape(op, at: index) { return shape.bytes }
        guard op.operands.count >= 2, let layout = graph.type(of: op.operands[1])?.layout, layout != .dense else { return 0 }
        let weightRowsAlongReduction: Bool
        switch op.kind {
        case let .matmul(transposeB), let .fusedMatmul(transposeB, _, _), let .gemm(_, _, _, transposeB):
            weightRowsAlongReduction = transposeB
        default:
            weightRowsAlongReduction = false  // conv2d, and ops that are not matrix products
        }
        guard weightRowsAlongReduction, runsTransposedSparse(index), let plan = transposedSparsePlan(op, at: index) else { return 0 }
        return plan.scratchBytes
    }

    /// Whether op `index` is an N:M product with weight rows along the reduction that runs over vectors of
    /// activation rows (`emitTransposedSparseRows`: schedule nm_blocked or nm_broadcast, enough rows).
    func runsTransposedSparse(_ index: Int) -> Bool {
        let op = graph.operations[index]
        switch op.kind {
        case .matmul(transposeB: true), .fusedMatmul(transposeB: true, _, _), .gemm(_, _, _, true): break
        default: return false
        }
        guard op.operands.count >= 2, let layout = graph.type(of: op.operands[1])?.layout, layout != .dense,
              transposedSparsePlan(op) != nil, let schedule = schedules[index] else { return false }
        switch schedule.variant {
        case .nmBlocked, .nmBroadcast: return true
        case .nmDot, .nmGather, .nmScatter, .denseScalar, .denseDot, .denseTile, .densePanels, .int8Tile: return false
        }
    }

    /// The results of transposed N:M matmuls (`runsTransposedSparse`) that stay in memory as their transposed
    /// product, [n][rows], so that neither side transposes: every reader is a transposed N:M matmul reading
    /// the value as its activations (which it wants as [k][rows] anyway), the value is no graph output, and
    /// the epilogue runs in vectors along rows (bias and activations; a residual would be read across rows).
    /// In the encoder, the first FFN product (bias, GELU) feeds the second this way.
    func keptTransposedValues() -> Set<ValueID> {
        var readers: [Int: [(op: Int, position: Int)]] = [:]
        for (index, op) in graph.operations.enumerated() {
            for (position, operand) in op.operands.enumerated() { readers[operand.index, default: []].append((index, position)) }
        }
        func isMatmul(_ op: Operation) -> Bool {
            switch op.kind {
            case .matmul, .fusedMatmul: return true
            default: return false
            }
        }
        let outputs = Set(graph.outputs)
        var kept: Set<ValueID> = []
        for (index, op) in graph.operations.enumerated() where isMatmul(op) && runsTransposedSparse(index) {
            guard let result = op.results.first, !outputs.contains(result), let uses = readers[result.index], !uses.isEmpty,
                  uses.allSatisfy({ $0.position == 0 && isMatmul(graph.operations[$0.op]) && runsTransposedSparse($0.op) }) else { continue }
            if case let .fusedMatmul(_, steps, _) = op.kind {
                // The steps `matmulVectorEpilogue(lanesAlongRows: true)` has a form for (buffers do not exist yet).
                let alongRows = steps.allSatisfy { step in
                    switch step {
                    case .bias: return true
                    case .residualAdd, .quantize, .requantize: return false
                    case let .activation(activation): return vectorActivation(activation, width: width) != nil
                    }
                }
                guard steps.isEmpty || (alongRows && op.operands.allSatisfy({ type($0).elementType == .f32 })) else { continue }
            }
            kept.insert(result)
        }
        return kept
    }

    /// The transposed N:M products (`runsTransposedSparse`) that read the same activations, which none of them reads
    /// transposed already: the first transposes them into its scratch to [k][rows] and the later ones read that copy
    /// (the activations are SSA values, never rewritten while they have readers). In the encoder, the query, key
    /// and value products of every layer read one layer norm's result: one transpose instead of three. Returns each
    /// later reader's first reader, and each first reader's last reader.
    func sharedActivationTransposes() -> (source: [Int: Int], lastReader: [Int: Int]) {
        var firstReader: [ValueID: Int] = [:]
        var source: [Int: Int] = [:], lastReader: [Int: Int] = [:]
        for (index, op) in graph.operations.enumerated() where runsTransposedSparse(index) {
            guard let plan = transposedSparsePlan(op), !plan.transposeA, !transposedValues.contains(op.operands[0]) else { continue }
            if let first = firstReader[op.operands[0]] {
                source[index] = first
                lastReader[first] = index
            } else {
                firstReader[op.operands[0]] = index
            }
        }
        return (source, lastReader)
    }

    /// The largest arena an artifact may plan (1 TiB); anything larger is refused as absurd.
    static let maxArenaBytes = 1 << 40

    /// For an N:M product with weight rows along the reduction and at least one vector of activation rows:
    /// the sizes of the transposed activations (skipped when gemm already reads A transposed, A is a value kept
    /// transposed, or op `index` reads another product's transposed copy of them, `sharedTransposeSource`) and the
    /// transposed result kept in scratch (skipped when the result itself stays transposed) so that the product can
    /// run over f32 vectors of activation rows.
    func transposedSparsePlan(_ op: Operation, at index: Int? = nil) -> (rows: Int, k: Int, n: Int, transposeA: Bool, scratchBytes: Int, outputOffset: Int)? {
        guard let a = graph.type(of: op.operands[0]), let result = op.results.first.flatMap({ graph.type(of: $0) }),
              a.elementType == .f32, result.elementType == .f32, let n = result.shape.last, let k = a.shape.last else { return nil }
        var transposeA = false
        var rows = (result.elementCount ?? 0) / max(n, 1)
        var reduction = k
        if case let .gemm(_, _, isTransposed, _) = op.kind, isTransposed {
            transposeA = true
            rows = a.shape[1]
            reduction = a.shape[0]
        }
        guard rows >= options.vectorWidth, n > 0 else { return nil }
        let sharesTranspose = index.map { sharedTransposeSource[$0] != nil } ?? false
        let activationBytes = transposeA || transposedValues.contains(op.operands[0]) || sharesTranspose ? 0 : saturatingProduct([reduction, rows, 4])
        let resultBytes = op.results.first.map(transposedValues.contains) == true ? 0 : saturatingProduct([n, rows, 4])
        guard activationBytes <= Lowerer.maxArenaBytes, resultBytes <= Lowerer.maxArenaBytes else {
            return (rows, reduction, n, transposeA, Int.max, 0)
        }
        let aligned = (activationBytes + 63) / 64 * 64
        return (rows, reduction, n, transposeA, aligned + resultBytes, aligned)
    }

    /// Appends a finished kernel named after the current op.
    mutating func addKernel(_ builder: KernelBuilder, op: String, location: String, pattern: String) {
        let index = program.kernels.count
        let safe = String(op.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        program.kernels.append(builder.kernel(name: "k\(index)_\(safe)", op: op, location: location, pattern: pattern))
    }

    /// Appends a kernel for the current op.
    mutating func addKernel(_ builder: KernelBuilder, pattern: String) {
        let op = currentOp.map { $0.kind.mnemonic } ?? "op"
        let result = currentOp?.results.first.map { " -> \(name($0))" } ?? ""
        addKernel(builder, op: op, location: "\(currentLocation)\(result)", pattern: pattern)
        if currentOp != nil { program.kernels[program.kernels.count - 1].sourceOp = currentOpIndex }
    }

    /// Resolves every kernel-bearing op's schedule (see `schedules`).
    mutating func resolveSchedules() {
        for (index, op) in graph.operations.enumerated() where op.kind.isKernelBearing {
            guard let problem = SieveTarget.KernelProblem.make(op, in: graph) else { continue }
            let fallback = problem.defaultSchedule(vectorWidth: width, parallelThreshold: options.parallelThreshold)
            if let schedule = op.schedule {
                if problem.admits(schedule, vectorWidth: width) {
                    schedules[index] = schedule
                    continue
                }
                scheduleNotes[index] = "the op's schedule \(schedule.summary) does not fit f32x\(width) vectors; lowered with the default"
            }
            schedules[index] = fallback
        }
    }

    /// The current op's resolved schedule.
    func currentSchedule() throws -> KernelSchedule {
        guard let schedule = schedules[currentOpIndex] else { throw LoweringError("the op's operands do not form a matrix product") }
        return schedule
    }

    /// How the current op's schedule reads in a kernel's pattern.
    func scheduleText() -> String {
        guard let schedule = schedules[currentOpIndex] else { return "" }
        let origin = scheduleNotes[currentOpIndex].map { " (\($0))" } ?? (currentOp?.schedule == nil ? " (default)" : "")
        return "; schedule \(schedule.summary)\(origin)"
    }

    /// Whether a loop over `count` elements should be split across threads.
    func isParallel(_ count: Int) -> Bool { count >= options.parallelThreshold }

    /// Dispatches one op to its lowering.
    mutating func lower(_ op: Operation, result: ValueID) throws {
        switch op.kind {
        case .constant, .reshape, .flatten, .squeeze, .unsqueeze:
            break
        case let .matmul(transposeB):
            try lowerMatmul(op, result: result, transposeB: transposeB, epilogue: [])
        case let .fusedMatmul(transposeB, epilogue, _):
            try lowerMatmul(op, result: result, transposeB: transposeB, epilogue: epilogue)
        case let .gemm(alpha, beta, transposeA, transposeB):
            try lowerGemm(op, result: result, alpha: alpha, beta: beta, transposeA: transposeA, transposeB: transposeB)
        case let .conv2d(attributes):
            try lowerConvolution(op, result: result, attributes: attributes)
        case .binary, .unary, .cast, .where, .quantize, .dequantize:
            try lowerElementwise(op, result: result)
        case let .softmax(axis):
            try lowerSoftmax(op, result: result, axis: axis, logarithmic: false)
        case let .layerNorm(axis, epsilon):
            try lowerLayerNorm(op, result: result, axis: axis, epsilon: epsilon)
        case let .batchNorm(epsilon):
            try lowerBatchNorm(op, result: result, epsilon: epsilon)
        case let .reduce(.mean, axes, _):
            try lowerReduceMean(op, result: result, axes: axes)
        case let .reduce(function, axes, _):
            try lowerReduce(op, result: result, function: function, axes: axes)
        case let .argExtreme(largest, axis, _, selectLastIndex):
            try lowerArgExtreme(op, result: result, largest: largest, axis: axis, selectLastIndex: selectLastIndex)
        case let .cumSum(axis, exclusive, reverse):
            try lowerCumSum(op, result: result, axis: axis, exclusive: exclusive, reverse: reverse)
        case let .topK(k, axis, largest, output):
            try lowerTopK(op, result: result, k: k, axis: axis, largest: largest, output: output)
        case let .logSoftmax(axis):
            try lowerSoftmax(op, result: result, axis: axis, logarithmic: true)
        case let .convTranspose2d(attributes):
            try lowerConvTranspose(op, result: result, attributes: attributes)
        case let .transpose(permutation):
            let input = type(op.operands[0])
            let strides = rowMajorStrides(input.shape)
            try lowerStridedCopy(from: op.operands[0], offset: 0, strides: permutation.map { strides[$0] }, result: result,
                                 pattern: "transpose copy")
        case .expand:
            try lowerStridedCopy(from: op.operands[0], offset: 0,
                                 strides: broadcastStrides(from: type(op.operands[0]).shape, to: type(result).shape),
                                 result: result, pattern: "broadcast copy")
        case let .slice(starts, _, axes, steps):
            let input = type(op.operands[0])
            var strides = rowMajorStrides(input.shape)
            var offset = 0
            for (slot, axis) in axes.enumerated() {
                offset += starts[slot] * strides[axis]
                strides[axis] *= steps[slot]
            }
            try lowerStridedCopy(from: op.operands[0], offset: offset, strides: strides, result: result, pattern: "strided slice copy")
        case let .concat(axis):
            try lowerConcat(op, result: result, axis: axis)
        case let .gather(axis):
            try lowerGather(op, result: result, axis: axis)
        case let .maxPool(attributes):
            try lowerPool(op, result: result, attributes: attributes, maximum: true)
        case let .averagePool(attributes):
            try lowerPool(op, result: result, attributes: attributes, maximum: false)
        case .globalAveragePool:
            try lowerGlobalPool(op, result: result, maximum: false)
        case .globalMaxPool:
            try lowerGlobalPool(op, result: result, maximum: true)
        case let .pad(pads, mode, value):
            try lowerPad(op, result: result, pads: pads, mode: mode, value: value)
        case let .resize(attributes):
            try lowerResize(op, result: result, attributes: attributes)
        case let .gatherElements(axis):
            try lowerGatherElements(op, result: result, axis: axis)
        case let .gatherND(batchDims):
            try lowerGatherND(op, result: result, batchDims: batchDims)
        case let .scatterElements(axis, reduction):
            try lowerScatterElements(op, result: result, axis: axis, reduction: reduction)
        case let .scatterND(reduction):
            try lowerScatterND(op, result: result, reduction: reduction)
        }
    }
}

/// The flat offset of batch number `batch` in a tensor whose batch axes have `strides` (0 where it
/// broadcasts), for a broadcast batch shape `shape`.
func batchOffset(_ batch: KernelExpression, shape: [Int], strides: [Int]) -> KernelExpression {
    var result: KernelExpression = 0
    var inner = 1
    for axis in shape.indices.reversed() {
        if strides[axis] != 0 && shape[axis] != 1 {
            let digit = axis == 0 ? batch / .index(inner) : (batch / .index(inner)) % .index(shape[axis])
            result = result + digit * .index(strides[axis])
        }
        inner *= shape[axis]
    }
    return result
}
