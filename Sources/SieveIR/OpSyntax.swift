// How each op is spelled in the text format: its mnemonic and its attributes as a dictionary.
// The printer and parser share these two functions, so the spelling is written once per op.

/// An attribute value as the text format spells it inside `{...}`.
public indirect enum AttributeValue: Hashable, Sendable, CustomStringConvertible {
    case int(Int)
    case float(Float)
    case bool(Bool)
    case string(String)
    case list([AttributeValue])
    /// A bare word with optional numeric arguments: `relu`, `leaky_relu(0.01)`.
    case symbol(String, arguments: [Float])
    /// A word with named fields: `nm_blocked<k_block = 192, parallel = row_tiles>` (the `schedule` attribute).
    case record(String, [AttributeField])

    public var description: String {
        switch self {
        case let .int(value): return String(value)
        case let .float(value): return formatFloat(value)
        case let .bool(value): return value ? "true" : "false"
        case let .string(value): return quoteString(value)
        case let .list(items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case let .symbol(name, arguments):
            return arguments.isEmpty ? name : name + "(" + arguments.map(formatFloat).joined(separator: ", ") + ")"
        case let .record(name, fields):
            return name + "<" + fields.map { "\($0.name) = \($0.value)" }.joined(separator: ", ") + ">"
        }
    }
}

/// One named field of a record attribute value.
public struct AttributeField: Hashable, Sendable {
    /// The field name.
    public var name: String
    /// The field value.
    public var value: AttributeValue

    /// Makes a field.
    public init(_ name: String, _ value: AttributeValue) {
        self.name = name
        self.value = value
    }
}

/// Prints a float so that parsing it gives back the same bits (NaN payloads aside): `1.0`, `1e-05`, `inf`.
public func formatFloat(_ value: Float) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    return value.description
}

/// Quotes a string with the escapes the lexer understands.
public func quoteString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}

/// Reads attributes by name, remembering which were used so that unknown ones are reported.
struct AttributeReader {
    var attributes: [String: AttributeValue]
    var used: Set<String> = []

    mutating func int(_ name: String, default value: Int? = nil) throws(TypeRuleError) -> Int {
        used.insert(name)
        switch attributes[name] {
        case let .int(number)?: return number
        case nil: if let value { return value }; throw TypeRuleError("missing attribute '\(name)'")
        case let other?: throw TypeRuleError("attribute '\(name)' must be an integer, found \(other)")
        }
    }

    mutating func float(_ name: String, default value: Float? = nil) throws(TypeRuleError) -> Float {
        used.insert(name)
        switch attributes[name] {
        case let .float(number)?: return number
        case let .int(number)?: return Float(number)
        case let .symbol(word, arguments)? where arguments.isEmpty && (word == "inf" || word == "nan"):
            return word == "inf" ? .infinity : .nan
        case nil: if let value { return value }; throw TypeRuleError("missing attribute '\(name)'")
        case let other?: throw TypeRuleError("attribute '\(name)' must be a number, found \(other)")
        }
    }

    mutating func bool(_ name: String, default value: Bool) throws(TypeRuleError) -> Bool {
        used.insert(name)
        switch attributes[name] {
        case let .bool(flag)?: return flag
        case nil: return value
        case let other?: throw TypeRuleError("attribute '\(name)' must be true or false, found \(other)")
        }
    }

    mutating func string(_ name: String, default value: String) throws(TypeRuleError) -> String {
        used.insert(name)
        switch attributes[name] {
        case let .string(text)?: return text
        case nil: return value
        case let other?: throw TypeRuleError("attribute '\(name)' must be a string, found \(other)")
        }
    }

    /// A bare word such as `rows` or `memory`.
    mutating func word(_ name: String, default value: String? = nil) throws(TypeRuleError) -> String {
        used.insert(name)
        switch attributes[name] {
        case let .symbol(word, arguments)? where arguments.isEmpty: return word
        case nil: if let value { return value }; throw TypeRuleError("missing attribute '\(name)'")
        case let other?: throw TypeRuleError("attribute '\(name)' must be a word, found \(other)")
        }
    }

    mutating func ints(_ name: String, default value: [Int]? = nil) throws(TypeRuleError) -> [Int] {
        used.insert(name)
        switch attributes[name] {
        case let .list(items)?:
            var numbers: [Int] = []
            for item in items {
                guard case let .int(number) = item else {
                    throw TypeRuleError("attribute '\(name)' must be a list of integers, found \(item)")
                }
                numbers.append(number)
            }
            return numbers
        case nil: if let value { return value }; throw TypeRuleError("missing attribute '\(name)'")
        case let other?: throw TypeRuleError("attribute '\(name)' must be a list of integers, found \(other)")
        }
    }

    mutating func floats(_ name: String, default value: [Float]? = nil) throws(TypeRuleError) -> [Float] {
        used.insert(name)
        switch attributes[name] {
        case let .list(items)?:
            var numbers: [Float] = []
            for item in items {
                switch item {
                case let .float(number): numbers.append(number)
                case let .int(number): numbers.append(Float(number))
                default: throw TypeRuleError("attribute '\(name)' must be a list of numbers, found \(item)")
                }
            }
            return numbers
        case nil: if let value { return value }; throw TypeRuleError("missing attribute '\(name)'")
        case let other?: throw TypeRuleError("attribute '\(name)' must be a list of numbers, found \(other)")
        }
    }

    mutating func list(_ name: String) throws(TypeRuleError) -> [AttributeValue] {
        used.insert(name)
        switch attributes[name] {
        case let .list(items)?: return items
        case nil: throw TypeRuleError("missing attribute '\(name)'")
        case let other?: throw TypeRuleError("attribute '\(name)' must be a list, found \(other)")
        }
    }

    func finish(_ mnemonic: String) throws(TypeRuleError) {
        if let unknown = attributes.keys.sorted().first(where: { !used.contains($0) }) {
            throw TypeRuleError("'\(mnemonic)' has no attribute '\(unknown)'")
        }
    }
}

extension UnaryFunction {
    /// The function as an epilogue symbol: `relu`, `gelu_tanh`, `leaky_relu(0.1)`, `clip(0.0, 6.0)`.
    var epilogueSymbol: AttributeValue {
        if case .gelu(approximateTanh: true) = self { return .symbol("gelu_tanh", arguments: []) }
        return .symbol(mnemonic, arguments: parameters.map(\.value))
    }
}

extension EpilogueStep {
    var symbol: AttributeValue {
        switch self {
        case .bias: return .symbol("bias", arguments: [])
        case .residualAdd: return .symbol("residual_add", arguments: [])
        case .quantize: return .symbol("quantize", arguments: [])
        case .requantize: return .symbol("requantize", arguments: [])
        case let .activation(function): return function.epilogueSymbol
        }
    }

    static func parse(_ value: AttributeValue) throws(TypeRuleError) -> EpilogueStep {
        guard case let .symbol(name, arguments) = value else {
            throw TypeRuleError("epilogue steps are words such as bias, relu or residual_add, found \(value)")
        }
        switch name {
        case "bias", "residual_add", "quantize", "requantize":
            guard arguments.isEmpty else {
                throw TypeRuleError("epilogue step '\(name)' takes 0 arguments, found \(arguments.count)")
            }
            switch name {
            case "bias": return .bias
            case "quantize": return .quantize
            case "requantize": return .requantize
            default: return .residualAdd
            }
        case "gelu", "gelu_tanh":
            guard arguments.isEmpty else {
                throw TypeRuleError("epilogue step '\(name)' takes 0 arguments, found \(arguments.count)")
            }
            return .activation(.gelu(approximateTanh: name == "gelu_tanh"))
        default:
            guard let entry = UnaryFunction.declarations[name], entry.make(Array(repeating: 0, count: entry.parameters.count)).isActivation else {
                let activations = (UnaryFunction.declarations.filter { $0.value.make(Array(repeating: 0, count: $0.value.parameters.count)).isActivation }
                    .map { $0.value.parameters.isEmpty ? $0.key : "\($0.key)(\($0.value.parameters.joined(separator: ", ")))" } + ["gelu", "gelu_tanh"]).sorted()
                throw TypeRuleError("unknown epilogue step '\(name)'; expected bias, residual_add, quantize or an activation: \(activations.joined(separator: ", "))")
            }
            guard arguments.count == entry.parameters.count else {
                throw TypeRuleError("epilogue step '\(name)' takes \(entry.parameters.count) arguments, found \(arguments.count)")
            }
            return .activation(entry.make(arguments))
        }
    }
}

extension OpKind {
    /// Every mnemonic the text format knows, for the parser's "expected" messages.
    public static let mnemonics: [String] = [
        "const", "matmul", "gemm", "fused_matmul", "conv2d",
    ] + BinaryFunction.allCases.map(\.mnemonic) + (UnaryFunction.declarations.keys.sorted() + ["gelu"]).sorted() + [
        "softmax", "layer_norm", "batch_norm", "reshape", "transpose", "flatten", "squeeze", "unsqueeze",
        "expand", "concat", "gather", "slice", "cast", "where", "max_pool", "average_pool",
        "global_average_pool", "global_max_pool", "quantize", "dequantize",
        "pad", "resize", "gather_elements", "gather_nd", "scatter_elements", "scatter_nd",
    ] + ReduceFunction.allCases.map(\.mnemonic) + [
        "arg_max", "arg_min", "cum_sum", "top_k_values", "top_k_indices", "log_softmax", "conv_transpose2d",
    ]

    /// The op's name in the text format.
    public var mnemonic: String {
        switch self {
        case .constant: return "const"
        case .matmul: return "matmul"
        case .gemm: return "gemm"
        case .fusedMatmul: return "fused_matmul"
        case .conv2d: return "conv2d"
        case let .binary(function): return function.mnemonic
        case let .unary(function): return function.mnemonic
        case .softmax: return "softmax"
        case .layerNorm: return "layer_norm"
        case .batchNorm: return "batch_norm"
        case let .reduce(function, _, _): return function.mnemonic
        case let .argExtreme(largest, _, _, _): return largest ? "arg_max" : "arg_min"
        case .cumSum: return "cum_sum"
        case let .topK(_, _, _, output): return "top_k_" + output.rawValue
        case .logSoftmax: return "log_softmax"
        case .convTranspose2d: return "conv_transpose2d"
        case .reshape: return "reshape"
        case .transpose: return "transpose"
        case .flatten: return "flatten"
        case .squeeze: return "squeeze"
        case .unsqueeze: return "unsqueeze"
        case .expand: return "expand"
        case .concat: return "concat"
        case .gather: return "gather"
        case .slice: return "slice"
        case .cast: return "cast"
        case .where: return "where"
        case .maxPool: return "max_pool"
        case .averagePool: return "average_pool"
        case .globalAveragePool: return "global_average_pool"
        case .globalMaxPool: return "global_max_pool"
        case .quantize: return "quantize"
        case .dequantize: return "dequantize"
        case .pad: return "pad"
        case .resize: return "resize"
        case .gatherElements: return "gather_elements"
        case .gatherND: return "gather_nd"
        case .scatterElements: return "scatter_elements"
        case .scatterND: return "scatter_nd"
        }
    }

    /// The attributes the printer writes, in canonical order; attributes at their default are left out.
    public var attributes: [(String, AttributeValue)] {
        func ints(_ values: [Int]) -> AttributeValue { .list(values.map(AttributeValue.int)) }
        func pool(_ a: Pool2DAttributes, average: Bool) -> [(String, AttributeValue)] {
            var result: [(String, AttributeValue)] = [("kernel", ints(a.kernel))]
            if a.strides != [1, 1] { result.append(("strides", ints(a.strides))) }
            if a.pads != [0, 0, 0, 0] { result.append(("pads", ints(a.pads))) }
            if !average && a.dilations != [1, 1] { result.append(("dilations", ints(a.dilations))) }
            if a.ceilMode { result.append(("ceil_mode", .bool(true))) }
            if average && a.countIncludePad { result.append(("count_include_pad", .bool(true))) }
            return result
        }
        switch self {
        case .constant, .binary, .reshape, .expand, .cast, .where, .globalAveragePool, .globalMaxPool, .quantize, .dequantize:
            return []
        case .unary(.gelu(approximateTanh: true)):
            return [("approximate", .string("tanh"))]
        case let .unary(function):
            return function.parameters.map { ($0.name, .float($0.value)) }
        case let .matmul(transposeB):
            return transposeB ? [("transpose_b", .bool(true))] : []
        case let .gemm(alpha, beta, transposeA, transposeB):
            var result: [(String, AttributeValue)] = []
            if alpha != 1 { result.append(("alpha", .float(alpha))) }
            if beta != 1 { result.append(("beta", .float(beta))) }
            if transposeA { result.append(("transpose_a", .bool(true))) }
            if transposeB { result.append(("transpose_b", .bool(true))) }
            return result
        case let .fusedMatmul(transposeB, epilogue, activations):
            var result: [(String, AttributeValue)] = []
            if transposeB { result.append(("transpose_b", .bool(true))) }
            result.append(("epilogue", .list(epilogue.map(\.symbol))))
            if activations != .perRow { result.append(("activations", .string(activations.rawValue))) }
            return result
        case let .conv2d(a):
            var result: [(String, AttributeValue)] = []
            if a.strides != [1, 1] { result.append(("strides", ints(a.strides))) }
            if a.pads != [0, 0, 0, 0] { result.append(("pads", ints(a.pads))) }
            if a.dilations != [1, 1] { result.append(("dilations", ints(a.dilations))) }
            if a.groups != 1 { result.append(("groups", .int(a.groups))) }
            return result
        case let .softmax(axis):
            return [("axis", .int(axis))]
        case let .layerNorm(axis, epsilon):
            return [("axis", .int(axis)), ("epsilon", .float(epsilon))]
        case let .batchNorm(epsilon):
            return [("epsilon", .float(epsilon))]
        case let .reduce(_, axes, keepDims):
            return keepDims ? [("axes", ints(axes))] : [("axes", ints(axes)), ("keep_dims", .bool(false))]
        case let .argExtreme(_, axis, keepDims, selectLastIndex):
            var result: [(String, AttributeValue)] = [("axis", .int(axis))]
            if !keepDims { result.append(("keep_dims", .bool(false))) }
            if selectLastIndex { result.append(("select_last_index", .bool(true))) }
            return result
        case let .cumSum(axis, exclusive, reverse):
            var result: [(String, AttributeValue)] = [("axis", .int(axis))]
            if exclusive { result.append(("exclusive", .bool(true))) }
            if reverse { result.append(("reverse", .bool(true))) }
            return result
        case let .topK(k, axis, largest, _):
            return largest ? [("k", .int(k)), ("axis", .int(axis))] : [("k", .int(k)), ("axis", .int(axis)), ("largest", .bool(false))]
        case let .logSoftmax(axis):
            return [("axis", .int(axis))]
        case let .convTranspose2d(a):
            var result: [(String, AttributeValue)] = []
            if a.strides != [1, 1] { result.append(("strides", ints(a.strides))) }
            if a.pads != [0, 0, 0, 0] { result.append(("pads", ints(a.pads))) }
            if a.dilations != [1, 1] { result.append(("dilations", ints(a.dilations))) }
            if a.outputPadding != [0, 0] { result.append(("output_padding", ints(a.outputPadding))) }
            if a.groups != 1 { result.append(("groups", .int(a.groups))) }
            return result
        case let .transpose(permutation):
            return [("permutation", ints(permutation))]
        case let .flatten(axis):
            return [("axis", .int(axis))]
        case let .squeeze(axes), let .unsqueeze(axes):
            return [("axes", ints(axes))]
        case let .concat(axis), let .gather(axis):
            return [("axis", .int(axis))]
        case let .slice(starts, ends, axes, steps):
            return [("starts", ints(starts)), ("ends", ints(ends)), ("axes", ints(axes)), ("steps", ints(steps))]
        case let .maxPool(a):
            return pool(a, average: false)
        case let .averagePool(a):
            return pool(a, average: true)
        case let .pad(pads, mode, value):
            var result: [(String, AttributeValue)] = [("pads", ints(pads))]
            if mode != .constant { result.append(("mode", .symbol(mode.rawValue, arguments: []))) }
            if value != 0 { result.append(("value", .float(value))) }
            return result
        case let .resize(a):
            var result: [(String, AttributeValue)] = [("mode", .symbol(a.mode.rawValue, arguments: [])),
                                                      ("coordinates", .symbol(a.coordinateTransformation.rawValue, arguments: []))]
            // Linear ignores the nearest mode; it is printed there only when not the default, so parsing gives it back.
            if a.mode == .nearest || a.nearestMode != .roundPreferFloor {
                result.append(("nearest_mode", .symbol(a.nearestMode.rawValue, arguments: [])))
            }
            result.append(("scales", .list(a.scales.map(AttributeValue.float))))
            if !a.roi.isEmpty { result.append(("roi", .list(a.roi.map(AttributeValue.float)))) }
            if a.extrapolationValue != 0 { result.append(("extrapolation_value", .float(a.extrapolationValue))) }
            return result
        case let .gatherElements(axis):
            return [("axis", .int(axis))]
        case let .gatherND(batchDims):
            return batchDims == 0 ? [] : [("batch_dims", .int(batchDims))]
        case let .scatterElements(axis, reduction):
            return reduction == .none ? [("axis", .int(axis))] : [("axis", .int(axis)), ("reduction", .symbol(reduction.rawValue, arguments: []))]
        case let .scatterND(reduction):
            return reduction == .none ? [] : [("reduction", .symbol(reduction.rawValue, arguments: []))]
        }
    }

    /// Builds an op kind from its mnemonic and attributes, the inverse of `mnemonic` and `attributes`.
    /// `const` is spelled differently and is not built here.
    public static func make(mnemonic: String, attributes: [String: AttributeValue]) throws(TypeRuleError) -> OpKind {
        var reader = AttributeReader(attributes: attributes)
        func pool(average: Bool) throws(TypeRuleError) -> Pool2DAttributes {
            Pool2DAttributes(
                kernel: try reader.ints("kernel"),
                strides: try reader.ints("strides", default: [1, 1]),
                pads: try reader.ints("pads", default: [0, 0, 0, 0]),
                dilations: average ? [1, 1] : try reader.ints("dilations", default: [1, 1]),
                ceilMode: try reader.bool("ceil_mode", default: false),
                countIncludePad: average ? try reader.bool("count_include_pad", default: false) : false)
        }
        let kind: OpKind
        switch mnemonic {
        case "matmul": kind = .matmul(transposeB: try reader.bool("transpose_b", default: false))
        case "gemm":
            kind = .gemm(alpha: try reader.float("alpha", default: 1), beta: try reader.float("beta", default: 1),
                         transposeA: try reader.bool("transpose_a", default: false),
                         transposeB: try reader.bool("transpose_b", default: false))
        case "fused_matmul":
            let transposeB = try reader.bool("transpose_b", default: false)
            var steps: [EpilogueStep] = []
            for item in try reader.list("epilogue") { steps.append(try EpilogueStep.parse(item)) }
            let scheme = try reader.string("activations", default: ActivationQuantization.perRow.rawValue)
            guard let activations = ActivationQuantization(rawValue: scheme) else {
                throw TypeRuleError("unknown activations '\(scheme)' (expected per_row or per_tensor)")
            }
            kind = .fusedMatmul(transposeB: transposeB, epilogue: steps, activations: activations)
        case "conv2d":
            kind = .conv2d(Conv2DAttributes(
                strides: try reader.ints("strides", default: [1, 1]),
                pads: try reader.ints("pads", default: [0, 0, 0, 0]),
                dilations: try reader.ints("dilations", default: [1, 1]),
                groups: try reader.int("groups", default: 1)))
        case "gelu":
            let approximate = try reader.string("approximate", default: "none")
            guard approximate == "none" || approximate == "tanh" else {
                throw TypeRuleError("gelu approximate must be \"none\" or \"tanh\", found \(quoteString(approximate))")
            }
            kind = .unary(.gelu(approximateTanh: approximate == "tanh"))
        case "softmax": kind = .softmax(axis: try reader.int("axis"))
        case "layer_norm": kind = .layerNorm(axis: try reader.int("axis"), epsilon: try reader.float("epsilon"))
        case "batch_norm": kind = .batchNorm(epsilon: try reader.float("epsilon"))
        case "arg_max", "arg_min":
            kind = .argExtreme(largest: mnemonic == "arg_max", axis: try reader.int("axis"),
                               keepDims: try reader.bool("keep_dims", default: true),
                               selectLastIndex: try reader.bool("select_last_index", default: false))
        case "cum_sum":
            kind = .cumSum(axis: try reader.int("axis"), exclusive: try reader.bool("exclusive", default: false),
                           reverse: try reader.bool("reverse", default: false))
        case "top_k_values", "top_k_indices":
            kind = .topK(k: try reader.int("k"), axis: try reader.int("axis"), largest: try reader.bool("largest", default: true),
                         output: mnemonic == "top_k_values" ? .values : .indices)
        case "log_softmax": kind = .logSoftmax(axis: try reader.int("axis"))
        case "conv_transpose2d":
            kind = .convTranspose2d(ConvTranspose2DAttributes(
                strides: try reader.ints("strides", default: [1, 1]),
                pads: try reader.ints("pads", default: [0, 0, 0, 0]),
                dilations: try reader.ints("dilations", default: [1, 1]),
                outputPadding: try reader.ints("output_padding", default: [0, 0]),
                groups: try reader.int("groups", default: 1)))
        case "reshape": kind = .reshape
        case "transpose": kind = .transpose(permutation: try reader.ints("permutation"))
        case "flatten": kind = .flatten(axis: try reader.int("axis"))
        case "squeeze": kind = .squeeze(axes: try reader.ints("axes"))
        case "unsqueeze": kind = .unsqueeze(axes: try reader.ints("axes"))
        case "expand": kind = .expand
        case "concat": kind = .concat(axis: try reader.int("axis"))
        case "gather": kind = .gather(axis: try reader.int("axis"))
        case "slice":
            kind = .slice(starts: try reader.ints("starts"), ends: try reader.ints("ends"),
                          axes: try reader.ints("axes"), steps: try reader.ints("steps"))
        case "cast": kind = .cast
        case "where": kind = .where
        case "max_pool": kind = .maxPool(try pool(average: false))
        case "average_pool": kind = .averagePool(try pool(average: true))
        case "global_average_pool": kind = .globalAveragePool
        case "global_max_pool": kind = .globalMaxPool
        case "quantize": kind = .quantize
        case "dequantize": kind = .dequantize
        case "pad":
            let mode = try reader.word("mode", default: PadMode.constant.rawValue)
            guard let padMode = PadMode(rawValue: mode) else {
                throw TypeRuleError("pad mode must be one of \(PadMode.allCases.map(\.rawValue).joined(separator: ", ")), found \(mode)")
            }
            kind = .pad(pads: try reader.ints("pads"), mode: padMode, value: try reader.float("value", default: 0))
        case "resize":
            func choice<T: RawRepresentable & CaseIterable>(_ name: String, _ fallback: String?) throws(TypeRuleError) -> T where T.RawValue == String {
                let word = try reader.word(name, default: fallback)
                guard let value = T(rawValue: word) else {
                    throw TypeRuleError("resize \(name) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), found \(word)")
                }
                return value
            }
            let mode: ResizeMode = try choice("mode", nil)
            let coordinates: CoordinateTransformation = try choice("coordinates", nil)
            let nearest: NearestMode = try choice("nearest_mode", mode == .nearest ? nil : NearestMode.roundPreferFloor.rawValue)
            kind = .resize(ResizeAttributes(mode: mode, coordinateTransformation: coordinates, nearestMode: nearest,
                                            scales: try reader.floats("scales"), roi: try reader.floats("roi", default: []),
                                            extrapolationValue: try reader.float("extrapolation_value", default: 0)))
        case "gather_elements": kind = .gatherElements(axis: try reader.int("axis"))
        case "gather_nd": kind = .gatherND(batchDims: try reader.int("batch_dims", default: 0))
        case "scatter_elements", "scatter_nd":
            let word = try reader.word("reduction", default: ScatterReduction.none.rawValue)
            guard let reduction = ScatterReduction(rawValue: word) else {
                throw TypeRuleError("\(mnemonic) reduction must be one of none, add, mul, max, min, found \(word)")
            }
            kind = mnemonic == "scatter_nd" ? .scatterND(reduction: reduction)
                : .scatterElements(axis: try reader.int("axis"), reduction: reduction)
        default:
            if let function = BinaryFunction(rawValue: mnemonic) {
                kind = .binary(function)
            } else if let function = ReduceFunction.declarations[mnemonic] {
                kind = .reduce(function, axes: try reader.ints("axes"), keepDims: try reader.bool("keep_dims", default: true))
            } else if let entry = UnaryFunction.declarations[mnemonic] {
                var values: [Float] = []
                for name in entry.parameters { values.append(try reader.float(name)) }
                kind = .unary(entry.make(values))
            } else {
                throw TypeRuleError("unknown op '\(mnemonic)'")
            }
        }
        try reader.finish(mnemonic)
        return kind
    }
}
