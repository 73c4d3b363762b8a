// ONNX LSTM, GRU and RNN, unrolled at import over their static sequence length into existing IR ops:
// one matmul of the whole input sequence with W, then per step a matmul with R and the gates' elementwise ops.
// onnxruntime's DynamicQuantizeLSTM (com.microsoft) unrolls the same way, its products int8.

import SieveIR

/// The three recurrent cells of ONNX, with what differs between them.
enum RecurrentCell: String {
    case rnn = "RNN", gru = "GRU", lstm = "LSTM"

    /// Gates stacked in W and R: RNN 1 (i), GRU 3 (z, r, h), LSTM 4 (i, o, f, c).
    var gates: Int {
        switch self {
        case .rnn: return 1
        case .gru: return 3
        case .lstm: return 4
        }
    }

    /// The activation functions of one direction, by default: f for RNN; f, g for GRU; f, g, h for LSTM.
    var defaultActivations: [String] {
        switch self {
        case .rnn: return ["Tanh"]
        case .gru: return ["Sigmoid", "Tanh"]
        case .lstm: return ["Sigmoid", "Tanh", "Tanh"]
        }
    }
}

/// One activation function of a recurrent cell, as ONNX's list names them, with its parameters.
enum RecurrentActivation {
    /// An ONNX activation op of the list (`GraphBuilder.recurrentActivationOps`), as its unary function.
    case unary(UnaryFunction)
    /// `alpha * x + beta`.
    case affine(alpha: Float, beta: Float)
    /// `alpha * tanh(beta * x)`.
    case scaledTanh(alpha: Float, beta: Float)

    /// Reads `onnxName` (case-insensitive, as ONNX Runtime does). Affine and ScaledTanh, which are no ONNX ops, take
    /// their alpha and beta from the front of `alphas` and `betas` and have no default; the others are ONNX ops,
    /// read with the op's attributes (`GraphBuilder.parameterizedActivations`), each value taken from the front of
    /// `alphas` (or `betas` for a beta), or the op's default when the list is used up. Values are consumed in the
    /// order of the activations.
    init(onnxName: String, alphas: inout [Float], betas: inout [Float], op: String) throws(NodeError) {
        func take(_ values: inout [Float], _ what: String, default fallback: Float?) throws(NodeError) -> Float {
            if !values.isEmpty { return values.removeFirst() }
            guard let fallback else {
                throw NodeError("\(op) activation '\(onnxName)' needs a value in \(what); it has no default")
            }
            return fallback
        }
        switch onnxName.lowercased() {
        case "affine":
            let alpha = try take(&alphas, "activation_alpha", default: nil)
            self = .affine(alpha: alpha, beta: try take(&betas, "activation_beta", default: nil))
        case "scaledtanh":
            let alpha = try take(&alphas, "activation_alpha", default: nil)
            self = .scaledTanh(alpha: alpha, beta: try take(&betas, "activation_beta", default: nil))
        default:
            let ops = GraphBuilder.recurrentActivationOps
            guard let name = ops.first(where: { $0.lowercased() == onnxName.lowercased() }) else {
                throw NodeError("\(op) activation '\(onnxName)' is not one of ONNX's recurrent activations (\((ops + ["Affine", "ScaledTanh"]).joined(separator: ", ")))")
            }
            if let function = GraphBuilder.unaryFunctions[name] ?? GraphBuilder.plainUnaryFunctions[name] {
                self = .unary(function)
            } else if let activation = GraphBuilder.parameterizedActivations[name] {
                var values: [Float] = []
                for attribute in activation.attributes {
                    values.append(attribute.name == "beta" ? try take(&betas, "activation_beta", default: attribute.value)
                                                           : try take(&alphas, "activation_alpha", default: attribute.value))
                }
                self = .unary(activation.make(values))
            } else {
                throw NodeError("internal: no ONNX op table entry for the recurrent activation \(name)")
            }
        }
    }
}

extension GraphBuilder {
    /// The largest hidden size read; larger is refused before anything is allocated.
    static let maxRecurrentHiddenSize = 1 << 16
    /// The most timesteps times directions unrolled; a longer static sequence is refused.
    static let maxRecurrentSteps = 4096

    /// com.microsoft DynamicQuantizeLSTM(X, W, R, B, sequence_lens, initial_h, initial_c, P, W_scale, W_zero_point,
    /// R_scale, R_zero_point): ONNX's LSTM whose W `[D, I, 4H]` and R `[D, H, 4H]` are int8 and stored transposed from
    /// LSTM's (as onnxruntime's quantize_dynamic writes them), with a scale per direction or per direction and gate
    /// row and zero points 0. Its products are the per-tensor dynamic int8 products of DynamicQuantizeMatMul: the
    /// inputs of all timesteps quantized together, each step's state over the whole batch (onnxruntime with one
    /// thread; with more it may quantize each batch row's state on its own).
    mutating func convertDynamicQuantizeLSTM(_ n: inout NodeContext) throws(NodeError) -> [Slot?] {
        try convertRecurrent(&n, quantized: true)
    }

    /// ONNX LSTM, GRU and RNN; with `quantized`, DynamicQuantizeLSTM.
    mutating func convertRecurrent(_ n: inout NodeContext, quantized: Bool = false) throws(NodeError) -> [Slot?] {
        guard let cell = quantized ? .lstm : RecurrentCell(rawValue: n.node.opType) else {
            throw NodeError("internal: no recurrent cell \(n.node.opType)")
        }
        let op = n.node.opType
        var x = try n.input(0)
        guard type(of: x).elementType == .f32, type(of: x).rank == 3 else {
            throw NodeError("\(op) input X must be a 3-D float32 tensor, found \(type(of: x))")
        }
        let layout = try n.attributes.int("layout", default: 0)
        guard layout == 0 || layout == 1 else { throw NodeError("\(op) layout \(layout) must be 0 or 1") }
        if layout == 1 { x = try emit(.transpose(permutation: [1, 0, 2]), [x], name: nil, n) }
        let xShape = type(of: x).shape
        let (steps, batch, inputSize) = (xShape[0], xShape[1], xShape[2])

        let direction = try n.attributes.string("direction", default: "forward")
        let directions: [Bool]  // true: reverse
        switch direction {
        case "forward": directions = [false]
        case "reverse": directions = [true]
        case "bidirectional": directions = [false, true]
        default: throw NodeError("\(op) direction '\(direction)' must be forward, reverse or bidirectional")
        }
        let gates = cell.gates

        // Sizes first, before anything is allocated: the weights fix them, the attribute must agree.
        guard case let .constant(w) = try n.input(1), case let .constant(r) = try n.input(2) else {
            throw NodeError("\(op) weights W and R must be a constant (initializers) at import; weights computed at run time are not supported")
        }
        let rShape = r.type.shape, wShape = w.type.shape
        let weightType: ElementType = quantized ? .i8 : .f32
        guard rShape.count == 3, wShape.count == 3, r.type.elementType == weightType, w.type.elementType == weightType,
              r.hasConsistentSize, w.hasConsistentSize else {
            throw NodeError("\(op) weights must be 3-D \(quantized ? "int8" : "float32") tensors, found W \(w.type) and R \(r.type)")
        }
        let hidden = quantized ? rShape[1] : rShape[2]
        if let given = try n.attributes.int("hidden_size") {
            guard given >= 1, given <= Int64(GraphBuilder.maxRecurrentHiddenSize) else {
                throw NodeError("\(op) hidden_size \(given) is absurd (Sieve reads at most \(GraphBuilder.maxRecurrentHiddenSize))")
            }
            guard Int(given) == hidden else {
                throw NodeError("\(op) hidden_size \(given) does not match R of shape \(shapeString(rShape)) (its last dimension is the hidden size)")
            }
        }
        guard hidden >= 1, hidden <= GraphBuilder.maxRecurrentHiddenSize else {
            throw NodeError("\(op) hidden size \(hidden) (from R) is absurd (Sieve reads at most \(GraphBuilder.maxRecurrentHiddenSize))")
        }
        let expectedW = quantized ? [directions.count, inputSize, gates * hidden] : [directions.count, gates * hidden, inputSize]
        let expectedR = quantized ? [directions.count, hidden, gates * hidden] : [directions.count, gates * hidden, hidden]
        guard rShape == expectedR, wShape == expectedW else {
            throw NodeError("\(op) with \(directions.count) direction(s), hidden size \(hidden) and input size \(inputSize) needs W \(shapeString(expectedW)) and R \(shapeString(expectedR)), found W \(shapeString(wShape)) and R \(shapeString(rShape))")
        }
        let scales = quantized ? try int8RecurrentScales(n, directions: directions.count, rows: gates * hidden) : nil
        if quantized, max(inputSize, hidden) > DynamicInt8.maxReduction {
            throw NodeError("\(op) reduces over \(max(inputSize, hidden)) values, more than \(DynamicInt8.maxReduction), the longest the int32 accumulation keeps exact")
        }
        guard steps * directions.count <= GraphBuilder.maxRecurrentSteps else {
            throw NodeError("\(op) over \(steps) timesteps and \(directions.count) direction(s) would unroll into \(steps * directions.count) steps, more than the limit of \(GraphBuilder.maxRecurrentSteps)")
        }
        guard let stateCount = TensorType([batch, hidden], .f32).elementCount, stateCount <= ONNXImporter.maxFoldedElements else {
            throw NodeError("\(op) state of \(batch) x \(hidden) elements is larger than \(ONNXImporter.maxFoldedElements)")
        }

        // Activations: the defaults, or explicit ones from ONNX's list, with activation_alpha/beta consumed in order.
        let given = try n.attributes.strings("activations")
        let perDirection = cell.defaultActivations.count
        if let given {
            guard given.count == perDirection * directions.count else {
                throw NodeError("\(op) needs \(perDirection * directions.count) activations for \(direction), found \(given.count)")
            }
        }
        var alphas = try n.attributes.floats("activation_alpha") ?? [], betas = try n.attributes.floats("activation_beta") ?? []
        if given == nil, !alphas.isEmpty || !betas.isEmpty {
            throw NodeError("\(op) gives activation_alpha or activation_beta without 'activations'; the default activations take no parameters")
        }
        let names = given ?? Array([[String]](repeating: cell.defaultActivations, count: directions.count).joined())
        var functions: [RecurrentActivation] = []
        for name in names {
            functions.append(try RecurrentActivation(onnxName: name, alphas: &alphas, betas: &betas, op: op))
        }
        guard alphas.isEmpty, betas.isEmpty else {
            throw NodeError("\(op) has \(alphas.count) activation_alpha and \(betas.count) activation_beta value(s) that no activation of \(names) takes")
        }
        let activations = directions.indices.map { Array(functions[($0 * perDirection)..<(($0 + 1) * perDirection)]) }
        let clip = try n.attributes.float("clip")
        if let clip, !(clip > 0) { throw NodeError("\(op) clip \(clip) must be positive") }
        let inputForget = cell == .lstm ? try n.attributes.int("input_forget", default: 0) : 0
        guard inputForget == 0 || inputForget == 1 else { throw NodeError("LSTM input_forget \(inputForget) must be 0 or 1") }
        let linearBeforeReset = cell == .gru ? try n.attributes.int("linear_before_reset", default: 0) != 0 : false

        // Optional inputs: B, sequence_lens, initial_h, initial_c, P.
        let bias = n.optionalInput(3)
        if let bias, type(of: bias).shape != [directions.count, 2 * gates * hidden] {
            throw NodeError("\(op) B must have shape \(shapeString([directions.count, 2 * gates * hidden])), found \(shapeString(type(of: bias).shape))")
        }
        var lengths: [Int]?
        if let slot = n.optionalInput(4) {
            let values = try constantIntegers(slot, "sequence_lens", n)
            guard values.count == batch, values.allSatisfy({ $0 >= 0 && $0 <= Int64(steps) }) else {
                throw NodeError("\(op) sequence_lens \(values) must hold \(batch) lengths between 0 and \(steps)")
            }
            if values.contains(where: { $0 != Int64(steps) }) { lengths = values.map { Int($0) } }
        }
        let stateShape = [directions.count, batch, hidden]
        for (index, what) in [(5, "initial_h"), (6, "initial_c")] {
            if let slot = n.optionalInput(index), type(of: slot).shape != stateShape || type(of: slot).elementType != .f32 {
                throw NodeError("\(op) \(what) must be float32 of shape \(shapeString(stateShape)), found \(type(of: slot))")
            }
        }
        let peepholes = cell == .lstm ? n.optionalInput(7) : nil
        if let peepholes, type(of: peepholes).shape != [directions.count, 3 * hidden] {
            throw NodeError("LSTM P must have shape \(shapeString([directions.count, 3 * hidden])), found \(shapeString(type(of: peepholes).shape))")
        }

        let wantY = n.outputName(0).map(consumed.contains) ?? false
        let flatX = try emit(.reshape, [x], declared: TensorType([steps * batch, inputSize], .f32), name: nil, n)
        var ys: [Slot] = [], finalH: [Slot] = [], finalC: [Slot] = []
        for (d, reverse) in directions.enumerated() {
            let cellOps = activations[d]
            // Named after the ONNX weights, so reports and --keep-dense globs find them (`R_forward`).
            let suffix = reverse ? "reverse" : "forward"
            let wd: Slot, rd: Slot
            if let scales {
                wd = .constant(int8Rows(of: w, scale: scales.w, direction: d, name: "\(w.name)_\(suffix)"))
                rd = .constant(int8Rows(of: r, scale: scales.r, direction: d, name: "\(r.name)_\(suffix)"))
            } else {
                wd = try rows(of: .constant(w), direction: d, name: "\(w.name)_\(suffix)", n)
                rd = try rows(of: .constant(r), direction: d, name: "\(r.name)_\(suffix)", n)
            }
            // Input side for every timestep at once: X·Wᵀ plus the biases that do not depend on the state.
            var xw = try product(flatX, wd, quantized: quantized, n)
            var recurrentHBias: Slot?
            if let bias {
                let bd = try rows(of: bias, direction: d, n)
                let wb = try part(bd, 0, gates * hidden, axis: 0, n)
                var rb = try part(bd, gates * hidden, 2 * gates * hidden, axis: 0, n)
                if cell == .gru && linearBeforeReset {
                    // Rb_h sits inside r ⊙ (H·Rhᵀ + Rb_h): only Rb_z and Rb_r join the input side.
                    recurrentHBias = try part(rb, 2 * hidden, 3 * hidden, axis: 0, n)
                    let zero = Slot.constant(Constant.from(name: graph.constants.freshName("zeros"), type: TensorType([hidden], .f32),
                                                           values: Array(repeating: 0, count: hidden)))
                    rb = try emit(.concat(axis: 0), [part(rb, 0, 2 * hidden, axis: 0, n), zero], name: nil, n)
                }
                xw = try emit(.binary(.add), [xw, emit(.binary(.add), [wb, rb], name: nil, n)], name: nil, n)
            }
            var h = try initialState(n.optionalInput(5), direction: d, batch: batch, hidden: hidden, n)
            var c = cell == .lstm ? try initialState(n.optionalInput(6), direction: d, batch: batch, hidden: hidden, n) : h
            var peephole: (i: Slot, o: Slot, f: Slot)?
            if let peepholes {
                let pd = try rows(of: peepholes, direction: d, n)
                peephole = (try part(pd, 0, hidden, axis: 0, n), try part(pd, hidden, 2 * hidden, axis: 0, n),
                            try part(pd, 2 * hidden, 3 * hidden, axis: 0, n))
            }
            // GRU without linear_before_reset multiplies r ⊙ H by R_h: R splits into the z/r rows and the h rows.
            let rzr = cell == .gru && !linearBeforeReset ? try part(rd, 0, 2 * hidden, axis: 0, n) : rd
            let rh = cell == .gru && !linearBeforeReset ? try part(rd, 2 * hidden, 3 * hidden, axis: 0, n) : rd

            var outputs = [Slot?](repeating: nil, count: steps)
            for t in (reverse ? Array((0..<steps).reversed()) : Array(0..<steps)) {
                let xt = try part(xw, t * batch, (t + 1) * batch, axis: 0, n)
                func clipped(_ slot: Slot, _ builder: inout GraphBuilder) throws(NodeError) -> Slot {
                    guard let clip else { return slot }
                    return try builder.emit(.unary(.clip(min: -clip, max: clip)), [slot], name: nil, n)
                }
                var newH: Slot, newC: Slot = c
                switch cell {
                case .rnn:
                    let pre = try emit(.binary(.add), [xt, emit(.matmul(transposeB: true), [h, rd], name: nil, n)], name: nil, n)
                    newH = try activate(cellOps[0], [clipped(pre, &self)], name: nil, n)
                case .lstm:
                    let pre = try emit(.binary(.add), [xt, product(h, rd, quantized: quantized, n)], name: nil, n)
                    var i = try part(pre, 0, hidden, axis: 1, n), o = try part(pre, hidden, 2 * hidden, axis: 1, n)
                    var f = try part(pre, 2 * hidden, 3 * hidden, axis: 1, n)
                    let g = try part(pre, 3 * hidden, 4 * hidden, axis: 1, n)
                    if let peephole {
                        i = try emit(.binary(.add), [i, emit(.binary(.mul), [peephole.i, c], name: nil, n)], name: nil, n)
                        f = try emit(.binary(.add), [f, emit(.binary(.mul), [peephole.f, c], name: nil, n)], name: nil, n)
                    }
                    let gi = try activate(cellOps[0], [clipped(i, &self)], name: nil, n)
                    // input_forget couples the gates: f = 1 - i (ONNX Runtime's reading; the spec says only "couple").
                    let gf = try inputForget == 1 ? emit(.binary(.sub), [scalar(1), gi], name: nil, n)
                                                  : activate(cellOps[0], [clipped(f, &self)], name: nil, n)
                    let gc = try activate(cellOps[1], [clipped(g, &self)], name: nil, n)
                    newC = try emit(.binary(.add), [emit(.binary(.mul), [gf, c], name: nil, n),
                                                    emit(.binary(.mul), [gi, gc], name: nil, n)], name: nil, n)
                    if let peephole {
                        o = try emit(.binary(.add), [o, emit(.binary(.mul), [peephole.o, newC], name: nil, n)], name: nil, n)
                    }
                    let go = try activate(cellOps[0], [clipped(o, &self)], name: nil, n)
                    newH = try emit(.binary(.mul), [go, activate(cellOps[2], [newC], name: nil, n)], name: nil, n)
                case .gru:
                    let xz = try part(xt, 0, hidden, axis: 1, n), xr = try part(xt, hidden, 2 * hidden, axis: 1, n)
                    let xh = try part(xt, 2 * hidden, 3 * hidden, axis: 1, n)
                    let recurrent = try emit(.matmul(transposeB: true), [h, rzr], name: nil, n)
                    let z = try activate(cellOps[0], [clipped(emit(.binary(.add), [xz, part(recurrent, 0, hidden, axis: 1, n)], name: nil, n), &self)], name: nil, n)
                    let rGate = try activate(cellOps[0], [clipped(emit(.binary(.add), [xr, part(recurrent, hidden, 2 * hidden, axis: 1, n)], name: nil, n), &self)], name: nil, n)
                    let hiddenPart: Slot
                    if linearBeforeReset {
                        var linear = try part(recurrent, 2 * hidden, 3 * hidden, axis: 1, n)
                        if let recurrentHBias { linear = try emit(.binary(.add), [linear, recurrentHBias], name: nil, n) }
                        hiddenPart = try emit(.binary(.mul), [rGate, linear], name: nil, n)
                    } else {
                        hiddenPart = try emit(.matmul(transposeB: true), [emit(.binary(.mul), [rGate, h], name: nil, n), rh], name: nil, n)
                    }
                    let candidate = try activate(cellOps[1], [clipped(emit(.binary(.add), [xh, hiddenPart], name: nil, n), &self)], name: nil, n)
                    // H' = (1 - z) ⊙ ĥ + z ⊙ H = ĥ + z ⊙ (H - ĥ)
                    newH = try emit(.binary(.add), [candidate, emit(.binary(.mul), [z, emit(.binary(.sub), [h, candidate], name: nil, n)], name: nil, n)], name: nil, n)
                }
                var output = newH
                if let lengths {
                    // Steps past a batch entry's length keep its state and output zeros: a constant 0/1 mask per step.
                    let mask = Slot.constant(Constant.from(name: graph.constants.freshName("sequence_mask"), type: TensorType([batch, 1], .f32),
                                                           values: lengths.map { t < $0 ? 1 : 0 }))
                    newH = try emit(.binary(.add), [h, emit(.binary(.mul), [mask, emit(.binary(.sub), [newH, h], name: nil, n)], name: nil, n)], name: nil, n)
                    if cell == .lstm {
                        newC = try emit(.binary(.add), [c, emit(.binary(.mul), [mask, emit(.binary(.sub), [newC, c], name: nil, n)], name: nil, n)], name: nil, n)
                    }
                    if wantY { output = try emit(.binary(.mul), [mask, output], name: nil, n) }
                }
                h = newH
                c = newC
                if wantY { outputs[t] = try emit(.unsqueeze(axes: [0]), [output], name: nil, n) }
            }
            if wantY {
                let sequence = outputs.compactMap { $0 }
                let joined = sequence.count == 1 ? sequence[0] : try emit(.concat(axis: 0), sequence, name: nil, n)
                ys.append(try emit(.unsqueeze(axes: [1]), [joined], name: nil, n))
            }
            finalH.append(h)
            finalC.append(c)
        }

        // Y [T, D, B, H], Y_h and Y_c [D, B, H] (layout 1: [B, T, D, H] and [B, D, H]).
        func stack(_ parts: [Slot], axis: Int, name: String?, _ builder: inout GraphBuilder, transpose: [Int]?) throws(NodeError) -> Slot {
            let joined = parts.count == 1 ? parts[0] : try builder.emit(.concat(axis: axis), parts, name: transpose == nil ? name : nil, n)
            guard let transpose else { return joined }
            return try builder.emit(.transpose(permutation: transpose), [joined], name: name, n)
        }
        let y = wantY ? try stack(ys, axis: 1, name: n.outputName(0), &self, transpose: layout == 1 ? [2, 0, 1, 3] : nil) : nil
        let statePermutation: [Int]? = layout == 1 ? [1, 0, 2] : nil
        var results: [Slot?] = [y]
        if n.outputName(1).map(consumed.contains) ?? false {
            let lifted = try finalH.map { slot throws(NodeError) in try emit(.unsqueeze(axes: [0]), [slot], name: nil, n) }
            results.append(try stack(lifted, axis: 0, name: n.outputName(1), &self, transpose: statePermutation))
        } else {
            results.append(nil)
        }
        if cell == .lstm {
            if n.outputName(2).map(consumed.contains) ?? false {
                let lifted = try finalC.map { slot throws(NodeError) in try emit(.unsqueeze(axes: [0]), [slot], name: nil, n) }
                results.append(try stack(lifted, axis: 0, name: n.outputName(2), &self, transpose: statePermutation))
            } else {
                results.append(nil)
            }
        }
        return results
    }

    /// `a · weightᵀ`: a float matmul, or with `quantized` the per-tensor dynamic int8 product of an int8 weight.
    private mutating func product(_ a: Slot, _ weight: Slot, quantized: Bool, _ n: NodeContext) throws(NodeError) -> Slot {
        let kind: OpKind = quantized ? .fusedMatmul(transposeB: true, epilogue: [], activations: .perTensor) : .matmul(transposeB: true)
        return try emit(kind, [a, weight], name: nil, n)
    }

    /// DynamicQuantizeLSTM's W_scale and R_scale (inputs 8 and 10), each a constant float32 `[D]` or `[D, rows]`, after
    /// checking that the zero points (inputs 9 and 11) are constant zeros: the int8 kernels take symmetric weights.
    private func int8RecurrentScales(_ n: NodeContext, directions: Int, rows: Int) throws(NodeError) -> (w: Constant, r: Constant) {
        var found: [Constant] = []
        for (index, what) in [(8, "W"), (10, "R")] {
            guard case let .constant(scale)? = n.optionalInput(index), scale.type.elementType == .f32, scale.hasConsistentSize,
                  scale.type.shape == [directions] || scale.type.shape == [directions, rows] else {
                throw NodeError("\(n.node.opType) \(what)_scale must be a constant float32 of shape \(shapeString([directions])) or \(shapeString([directions, rows])), found \(n.optionalInput(index).map { "\(type(of: $0))" } ?? "none")")
            }
            guard let count = scale.type.elementCount,
                  (0..<count).allSatisfy({ scale.element(at: $0) > 0 && scale.element(at: $0).isFinite }) else {
                throw NodeError("\(n.node.opType) \(what)_scale must be positive and finite (an int8 weight's scale); re-quantize the weights, or keep the float LSTM")
            }
            if let point = n.optionalInput(index + 1), !isConstantZero(point) {
                let found = isConstant(point) ? "a non-zero" : "a computed (not constant)"
                throw NodeError("\(n.node.opType) with \(found) \(what)_zero_point is not supported: the int8 kernels take symmetric weights with constant zero points of 0 (quantize_dynamic's default for int8); re-quantize the weights symmetric, or keep the float LSTM")
            }
            found.append(scale)
        }
        return (found[0], found[1])
    }

    /// Direction `d` of a DynamicQuantizeLSTM weight `[D, K, rows]` as the int8 product stores it: `[rows, K]`, one scale
    /// per row (the direction's one scale repeated, or its own).
    private func int8Rows(of weight: Constant, scale: Constant, direction d: Int, name: String) -> Constant {
        let (k, rows) = (weight.type.shape[1], weight.type.shape[2])
        let slice = Constant(name: name, type: TensorType([k, rows], .i8), bytes: Array(weight.bytes[(d * k * rows)..<((d + 1) * k * rows)]))
        let perRow = scale.type.rank == 1 ? [scale.element(at: d)] : (0..<rows).map { scale.element(at: d * rows + $0) }
        return int8ProductWeight(slice, scale: Constant.from(name: name + "_scale", type: TensorType([perRow.count], .f32), values: perRow))
    }

    /// Applies a recurrent activation to `operands[0]`.
    private mutating func activate(_ activation: RecurrentActivation, _ operands: [Slot], name: String?, _ n: NodeContext) throws(NodeError) -> Slot {
        switch activation {
        case let .unary(function):
            return try emit(.unary(function), operands, name: name, n)
        case let .affine(alpha, beta):
            return try emit(.binary(.add), [emit(.binary(.mul), [operands[0], scalar(alpha)], name: nil, n), scalar(beta)], name: name, n)
        case let .scaledTanh(alpha, beta):
            let inner = try emit(.unary(.tanh), [emit(.binary(.mul), [operands[0], scalar(beta)], name: nil, n)], name: nil, n)
            return try emit(.binary(.mul), [inner, scalar(alpha)], name: name, n)
        }
    }

    /// A float32 scalar constant.
    private mutating func scalar(_ value: Float) -> Slot {
        .constant(Constant.from(name: graph.constants.freshName("scalar"), type: TensorType([], .f32), values: [Double(value)]))
    }

    /// Direction `d` of a per-direction tensor (W, R, B, P, a state): its first axis dropped.
    private mutating func rows(of slot: Slot, direction d: Int, name: String? = nil, _ n: NodeContext) throws(NodeError) -> Slot {
        let sliced = try emit(.slice(starts: [d], ends: [d + 1], axes: [0], steps: [1]), [slot], name: nil, n)
        return try emit(.squeeze(axes: [0]), [sliced], name: name, n)
    }

    /// Elements `start..<end` of `slot` along `axis`.
    private mutating func part(_ slot: Slot, _ start: Int, _ end: Int, axis: Int, _ n: NodeContext) throws(NodeError) -> Slot {
        try emit(.slice(starts: [start], ends: [end], axes: [axis], steps: [1]), [slot], name: nil, n)
    }

    /// A direction's initial state [B, H]: the given one, or zeros.
    private mutating func initialState(_ given: Slot?, direction d: Int, batch: Int, hidden: Int, _ n: NodeContext) throws(NodeError) -> Slot {
        if let given { return try rows(of: given, direction: d, n) }
        return .constant(Constant.from(name: graph.constants.freshName("zero_state"), type: TensorType([batch, hidden], .f32),
                                       values: Array(repeating: 0, count: batch * hidden)))
    }
}
