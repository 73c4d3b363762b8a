// SieveJIT: the in-process JIT as a Swift library. A program loads an ONNX (or textual IR) model, Sieve compiles it
// into the process with the LLVM backend (no files written, no C compiler), and the program calls it on arrays.
//
//     let model = try Model(contentsOf: url, options: Options(inputShapes: ["input": [1, 64]]))
//     let outputs = try model.run(["input": try Tensor(shape: [1, 64], elements: pixels)])
//     let probabilities = try outputs["probabilities"]!.elements(as: Float.self)

import Foundation
import SieveDriver
import SieveFormats
import SieveIR
import SieveInterpreter
import SieveKernel

/// An element type a tensor holds, as ONNX names them.
public enum DataType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float16, bfloat16, int8, uint8, int32, int64, bool
    case int16, uint16
    /// The narrow types, one element per byte: int4 and int2 sign-extended, float8 as raw bits, float4 in the low nibble.
    case int4, uint4, int2, uint2, float8e4m3fn, float8e5m2, float4e2m1

    /// Bytes one element takes.
    public var byteSize: Int { elementType.byteSize }

    public var description: String { rawValue }

    var elementType: ElementType {
        switch self {
        case .float32: return .f32
        case .float16: return .f16
        case .bfloat16: return .bf16
        case .int8: return .i8
        case .uint8: return .u8
        case .int32: return .i32
        case .int64: return .i64
        case .bool: return .bool
        case .int16: return .i16
        case .uint16: return .u16
        case .int4: return .i4
        case .uint4: return .u4
        case .int2: return .i2
        case .uint2: return .u2
        case .float8e4m3fn: return .f8e4m3fn
        case .float8e5m2: return .f8e5m2
        case .float4e2m1: return .f4e2m1
        }
    }

    init(_ elementType: ElementType) {
        switch elementType {
        case .f32: self = .float32
        case .f16: self = .float16
        case .bf16: self = .bfloat16
        case .i8: self = .int8
        case .u8: self = .uint8
        case .i32: self = .int32
        case .i64: self = .int64
        case .bool: self = .bool
        case .i16: self = .int16
        case .u16: self = .uint16
        case .i4: self = .int4
        case .u4: self = .uint4
        case .i2: self = .int2
        case .u2: self = .uint2
        case .f8e4m3fn: self = .float8e4m3fn
        case .f8e5m2: self = .float8e5m2
        case .f4e2m1: self = .float4e2m1
        }
    }
}

/// A Swift type whose values a tensor can hold (`Float`, `Int64`, `Int32`, `Int8`, `UInt8`, `Bool`); `float16` and
/// `bfloat16` tensors are made from and read as bytes.
public protocol TensorElement: Sendable {
    /// The tensor element type the Swift type stands for.
    static var dataType: DataType { get }
}

extension Float: TensorElement { public static var dataType: DataType { .float32 } }
extension Int64: TensorElement { public static var dataType: DataType { .int64 } }
extension Int32: TensorElement { public static var dataType: DataType { .int32 } }
extension Int8: TensorElement { public static var dataType: DataType { .int8 } }
extension UInt8: TensorElement { public static var dataType: DataType { .uint8 } }
extension Bool: TensorElement { public static var dataType: DataType { .bool } }

/// What went wrong, in words: the diagnostic names the input, the file or the option and says what to do.
public struct JITError: Error, Sendable, CustomStringConvertible {
    /// The diagnostic text (one line per problem).
    public var message: String
    public var description: String { message }

    init(_ message: String) { self.message = message }
    init(_ error: DiagnosticError) { message = error.description }
}

/// A dense array: a shape, an element type and the elements' bytes (little-endian, row-major).
public struct Tensor: Sendable, Equatable {
    /// The dimension sizes (empty for a scalar).
    public let shape: [Int]
    /// The element type.
    public let dataType: DataType
    /// The elements' bytes, `elementCount × dataType.byteSize` of them.
    public let bytes: [UInt8]

    /// The number of elements the shape holds.
    public var elementCount: Int { shape.reduce(1, *) }

    /// Makes a tensor from its bytes; the count must be what the shape and type need.
    public init(shape: [Int], dataType: DataType, bytes: [UInt8]) throws(JITError) {
        let count = try Tensor.elementCount(shape)
        let (size, overflow) = count.multipliedReportingOverflow(by: dataType.byteSize)
        guard !overflow, size == bytes.count else {
            throw JITError("a \(dataType) tensor of shape \(Tensor.text(shape)) needs \(count) elements (\(overflow ? "too many" : String(size)) bytes), \(bytes.count) bytes were given")
        }
        self.shape = shape
        self.dataType = dataType
        self.bytes = bytes
    }

    /// Makes a tensor from elements in row-major order; the count must be the shape's.
    public init<Element: TensorElement>(shape: [Int], elements: [Element]) throws(JITError) {
        let count = try Tensor.elementCount(shape)
        guard count == elements.count else {
            throw JITError("shape \(Tensor.text(shape)) holds \(count) elements, \(elements.count) were given")
        }
        let bytes: [UInt8]
        if Element.self == Bool.self {
            bytes = elements.map { ($0 as? Bool) == true ? 1 : 0 }
        } else {
            bytes = elements.withUnsafeBytes { Array($0) }
        }
        self.shape = shape
        self.dataType = Element.dataType
        self.bytes = bytes
    }

    /// Reads a NumPy `.npy` file (little-endian, C order, of one of the element types above).
    public init(numPyFile url: URL) throws(JITError) {
        guard url.isFileURL else { throw JITError("\(url): only file URLs can be read") }
        do {
            let constant = try NumPyFile.read(path: url.path)
            try self.init(shape: constant.type.shape, dataType: DataType(constant.type.elementType), bytes: constant.bytes)
        } catch let error as DiagnosticError {
            throw JITError(error)
        } catch {
            throw JITError("\(error)")
        }
    }

    /// The elements in row-major order; `Element` must be the tensor's type (`Float` for `float32`, and so on).
    public func elements<Element: TensorElement>(as type: Element.Type) throws(JITError) -> [Element] {
        guard Element.dataType == dataType else {
            throw JITError("the tensor holds \(dataType), not \(Element.dataType) (\(Element.self))")
        }
        if Element.self == Bool.self {
            return bytes.map { ($0 != 0) as? Element }.compactMap { $0 }
        }
        return [Element](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
            }
            initialized = elementCount
        }
    }

    private static func elementCount(_ shape: [Int]) throws(JITError) -> Int {
        var count = 1
        for size in shape {
            guard size >= 0 else { throw JITError("shape \(text(shape)) has a negative dimension") }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw JITError("shape \(text(shape)) holds too many elements") }
            count = product
        }
        return count
    }

    static func text(_ shape: [Int]) -> String {
        shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x")
    }
}

/// A tensor a model takes or returns: its name in the model, its shape and its element type.
public struct TensorDescription: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var shape: [Int]
    public var dataType: DataType

    public var description: String { "\(name): \(dataType) \(Tensor.text(shape))" }

    public init(name: String, shape: [Int], dataType: DataType) {
        self.name = name
        self.shape = shape
        self.dataType = dataType
    }
}

/// How a model is compiled.
public struct Options: Sendable {
    /// Sizes of the inputs' symbolic dimensions, by input name (an ONNX batch dimension left open becomes 1).
    public var inputShapes: [String: [Int]]
    /// `"N:M"` (for example `"2:4"`) to prune the weights to N:M sparsity by magnitude before compiling, or nil to keep
    /// them dense.
    public var sparsity: String?
    /// The CPU to compile for, as `sieve targets` names them: `native` (this machine) or a named x86-64 target.
    public var target: String
    /// Threads each run uses (the model keeps one runtime context with that many threads).
    public var threads: Int

    public init(inputShapes: [String: [Int]] = [:], sparsity: String? = nil, target: String = "native", threads: Int = 1) {
        self.inputShapes = inputShapes
        self.sparsity = sparsity
        self.target = target
        self.threads = threads
    }
}

/// A model compiled into this process. Runs are serialised on the model's one runtime context, so a model may be
/// shared between threads.
public final class Model: @unchecked Sendable {
    /// The inputs `run` takes, in the model's order.
    public let inputs: [TensorDescription]
    /// The outputs `run` returns, in the model's order.
    public let outputs: [TensorDescription]
    /// Notes from loading and compiling (for example a batch dimension fixed to 1).
    public let notes: [String]

    private let artifact: NativeArtifact
    private let context: OpaquePointer
    private let lock = NSLock()

    /// Loads an ONNX (`.onnx`) or textual IR (`.sir`) file and compiles it into this process.
    public convenience init(contentsOf url: URL, options: Options = Options()) throws(JITError) {
        guard url.isFileURL else { throw JITError("\(url): only file URLs can be loaded") }
        try self.init(path: url.path, options: options)
    }

    /// Loads a model file by path and compiles it into this process.
    public init(path: String, options: Options = Options()) throws(JITError) {
        do {
            let target = try TargetDescription.named(options.target)
            guard options.threads >= 1 else { throw DiagnosticError(.error(.unknown, "threads must be at least 1, found \(options.threads)")) }
            var sparsity: SparsityOptions?
            if let pattern = options.sparsity {
                sparsity = SparsityOptions(sparsity: try SparsityOptions.mode(pattern, maxError: nil, targetDensity: nil))
            }
            let model = try loadModel(path: path, inputShapes: options.inputShapes)
            var prepared = try prepareGraph(model.graph, target: target, sparsity: sparsity, calibration: nil,
                                            passManager: PassManagerOptions())
            nameInterface(&prepared.graph, inputNames: model.inputNames, outputNames: model.outputNames)
            let program = try lowerToKernels(prepared.graph, options: LoweringOptions(name: "model", vectorWidth: target.f32Lanes))
            artifact = try NativeArtifact(jit: program, target: target)
            context = try artifact.createContext(threads: options.threads)
            notes = (model.diagnostics + prepared.diagnostics).map(\.description)
        } catch let error as DiagnosticError {
            throw JITError(error)
        } catch {
            throw JITError("cannot compile \(path): \(error)")
        }
        func describe(_ tensor: ArtifactTensor) -> TensorDescription {
            TensorDescription(name: tensor.name, shape: tensor.type.shape, dataType: DataType(tensor.type.elementType))
        }
        inputs = artifact.inputs.map(describe)
        outputs = artifact.outputs.map(describe)
    }

    deinit {
        artifact.destroyContext(context)
    }

    /// Runs the model on one tensor per input, by input name; returns every output by name. Each input's shape and
    /// element type must be the model's (see `inputs`).
    public func run(_ values: [String: Tensor]) throws(JITError) -> [String: Tensor] {
        var problems: [String] = []
        for name in values.keys.sorted() where !inputs.contains(where: { $0.name == name }) {
            problems.append("'\(name)' is not an input of the model (inputs: \(inputs.map(\.name).joined(separator: ", ")))")
        }
        var ordered: [Tensor] = []
        for input in inputs {
            guard let value = values[input.name] else {
                problems.append("input '\(input.name)' (\(input.dataType) \(Tensor.text(input.shape))) is missing")
                continue
            }
            ordered.append(value)
        }
        guard problems.isEmpty else { throw JITError(problems.joined(separator: "\n")) }
        let results = try run(ordered)
        return Dictionary(zip(outputs.map(\.name), results), uniquingKeysWith: { first, _ in first })
    }

    /// Runs the model on one tensor per input, in the order of `inputs`; returns the outputs in the order of `outputs`.
    public func run(_ values: [Tensor]) throws(JITError) -> [Tensor] {
        guard values.count == inputs.count else {
            throw JITError("the model takes \(inputs.count) inputs (\(inputs.map(\.name).joined(separator: ", "))), \(values.count) were given")
        }
        var problems: [String] = []
        for (value, input) in zip(values, inputs) where value.shape != input.shape || value.dataType != input.dataType {
            problems.append("input '\(input.name)' must be \(input.dataType) \(Tensor.text(input.shape)), found \(value.dataType) \(Tensor.text(value.shape))")
        }
        guard problems.isEmpty else { throw JITError(problems.joined(separator: "\n")) }
        do {
            var tensors: [SieveInterpreter.Tensor] = []
            for value in values {
                let type = TensorType(value.shape, value.dataType.elementType)
                tensors.append(try SieveInterpreter.Tensor(Constant(name: "input", type: type, bytes: value.bytes)))
            }
            let (status, results) = try lock.withLock { try artifact.execute(on: context, tensors) }
            guard status == 0 else { throw JITError("the compiled model failed: \(artifact.message(status))") }
            var converted: [Tensor] = []
            for result in results {
                converted.append(try Tensor(shape: result.shape, dataType: DataType(result.elementType),
                                            bytes: result.constant(name: "output").bytes))
            }
            return converted
        } catch let error as JITError {
            throw error
        } catch let error as DiagnosticError {
            throw JITError(error)
        } catch {
            throw JITError("\(error)")
        }
    }
}
