// The kernel IR: loops, scalar and vector expressions, loads and stores over typed buffers.
// Lowering builds it from graph IR; the C backend (and later an LLVM backend) emit code from it.

import SieveIR

/// Identifies a buffer of a kernel program; prints as `%bN`.
public struct BufferID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Index into `KernelProgram.buffers`.
    public var index: Int
    /// Makes an ID from an index.
    public init(_ index: Int) { self.index = index }
    public static func < (lhs: BufferID, rhs: BufferID) -> Bool { lhs.index < rhs.index }
    public var description: String { "%b\(index)" }
}

/// Identifies a local variable (loop index or scalar/vector temporary) of one kernel; prints as `%vN`.
public struct VariableID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Index into `Kernel.variables`.
    public var index: Int
    /// Makes an ID from an index.
    public init(_ index: Int) { self.index = index }
    public static func < (lhs: VariableID, rhs: VariableID) -> Bool { lhs.index < rhs.index }
    public var description: String { "%v\(index)" }
}

/// Where a buffer's memory comes from.
public enum BufferStorage: Hashable, Sendable {
    /// The caller's input tensor number `k` (read only).
    case input(Int)
    /// The caller's output tensor number `k`.
    case output(Int)
    /// A slice of the arena starting at a byte offset (a multiple of 64).
    case arena(offset: Int)
    /// A slice of the weights blob starting at a byte offset (a multiple of 64), read only.
    case constant(offset: Int)
}

/// A typed, statically sized region of memory that kernels read and write.
///
/// Elements are stored with the width of `elementType`; `packed` buffers hold raw bytes of
/// packed N:M indices (element type u8) that `nmIndex` and `nmDot` read (and byte loads where fields do not straddle bytes).
public struct Buffer: Hashable, Sendable {
    /// A readable name (the graph value or constant it holds).
    public var name: String
    /// Where its memory lives.
    public var storage: BufferStorage
    /// The element type in memory.
    public var elementType: ElementType
    /// The number of elements.
    public var count: Int

    /// Makes a buffer.
    public init(name: String, storage: BufferStorage, elementType: ElementType, count: Int) {
        self.name = name
        self.storage = storage
        self.elementType = elementType
        self.count = count
    }

    /// Bytes the buffer occupies.
    public var byteCount: Int { count * elementType.byteSize }

    /// Whether kernels may store into it.
    public var isWritable: Bool {
        switch storage {
        case .output, .arena: return true
        case .input, .constant: return false
        }
    }

    /// The type a scalar load produces and a scalar store takes: f32 for float elements, i64 otherwise.
    public var computeType: ValueType { elementType.isFloat ? .f32 : .i64 }
}

/// The type of an expression or variable.
public enum ValueType: Hashable, Sendable, CustomStringConvertible {
    /// A 64-bit signed integer: indices, and integer and bool tensor elements.
    case i64
    /// A 32-bit float.
    case f32
    /// A 64-bit float, for accumulations the reference computes in double precision.
    case f64
    /// A vector of `width` f32 lanes.
    case f32x(Int)

    public var description: String {
        switch self {
        case .i64: return "i64"
        case .f32: return "f32"
        case .f64: return "f64"
        case let .f32x(width): return "f32x\(width)"
        }
    }

    /// Whether it is a scalar float type.
    public var isScalarFloat: Bool { self == .f32 || self == .f64 }
}

/// Unary operations on scalars (and, where noted, f32 vectors).
public enum UnaryOperator: String, Hashable, Sendable, CaseIterable {
    /// Negation (wrapping for i64); also on vectors.
    case neg
    /// Square root (f32 computed in double, as the reference does; f64).
    case sqrt
    /// e^x: scalars computed in double; on f32 vectors a polynomial within 2 ulp of e^x for x in
    /// [-87.33, 88.37], 0 below (where e^x is under FLT_MIN), e^88.37 above, NaN for NaN (softmax's fast path).
    case exp
    /// The error function, computed in double.
    case erf
    /// Hyperbolic tangent, computed in double.
    case tanh
    /// 1 / (1 + e^-x): scalars computed in double without overflow; on f32 vectors from the vector exp of -|x|
    /// (within 6 × 2^-24 relative where the result is at least FLT_MIN, 0 below x = -87.33, NaN kept), for
    /// elementwise chains.
    case sigmoid
    /// Exact GELU: scalars computed in double; on f32 vectors from a fitted erfc (within 16 ulp with FMA,
    /// NaN kept), for product epilogues.
    case gelu
    /// GELU with the tanh approximation, computed in double.
    case geluTanh = "gelu_tanh"
    /// 1 when the float is NaN, else 0 (gives i64).
    case isNaN = "is_nan"
    /// Logical not of an i64 (gives 0 or 1).
    case not
    // Math functions of the elementwise group (#12); scalar floats.
    /// Absolute value (clears the sign bit).
    case abs
    /// Natural logarithm, computed in double (also log_softmax, reduce_log_sum, reduce_log_sum_exp).
    case log
    /// Round toward negative infinity.
    case floor
    /// Round toward positive infinity.
    case ceil
    /// Round to nearest, halves to even.
    case roundEven = "round_even"
    /// Sine, computed in double.
    case sin
    /// Cosine, computed in double.
    case cos
    /// ln(1 + e^x), computed in double as max(x, 0) + log1p(e^-|x|) (no overflow).
    case softplus
}

/// Binary operations; both operands have one type unless noted.
public enum BinaryOperator: String, Hashable, Sendable, CaseIterable {
    /// Arithmetic for index math and floats (f32 vectors too); i64 index math must not overflow.
    case add, sub, mul
    /// Division: floats, or i64 index math on non-negative operands.
    case div
    /// Remainder of i64 index math on non-negative operands.
    case rem
    /// Wrapping two's-complement i64 arithmetic, for integer tensor elements.
    case wrappingAdd = "wrapping_add", wrappingSub = "wrapping_sub", wrappingMul = "wrapping_mul"
    /// Truncating i64 division of tensor elements; a zero divisor must be checked before, and
    /// the one overflowing case (minimum / -1) wraps.
    case wrappingDiv = "wrapping_div"
    /// Power: floats computed in double; i64 by repeated wrapping multiplication.
    case pow
    /// Minimum and maximum (ordered compare, the first operand wins ties and NaN).
    case min, max
    /// Comparisons giving i64 0 or 1.
    case lt, le, gt, ge, eq, ne
    /// Logical and / or of i64 truth values giving 0 or 1.
    case and, or
    /// Truncated remainder of i64 tensor elements (sign of the dividend); a zero divisor must be
    /// checked before, and minimum % -1 gives 0.
    case wrappingRem = "wrapping_rem"
    /// Truncated remainder of floats, exact (C's fmod).
    case fmod
}

/// Operations with their own fixed signatures, kept few and named.
public enum Intrinsic: String, Hashable, Sendable, CaseIterable {
    /// (x: f32, scale: f32, zeroPoint: i64, low: i64, high: i64) -> i64:
    /// saturate(round-half-even(x / scale) + zeroPoint), NaN giving the zero point clamped.
    case quantize
    /// (x: f32 or f64) -> i64: truncation toward zero, saturating, NaN giving 0.
    case truncateToI64 = "truncate_to_i64"
}

/// An expression; every expression has one `ValueType` that the verifier computes.
public indirect enum KernelExpression: Hashable, Sendable {
    /// An i64 literal.
    case int(Int64)
    /// An f32 literal.
    case float(Float)
    /// An f64 literal.
    case double(Double)
    /// The current value of a variable.
    case variable(VariableID)
    /// A scalar load of element `index` (converted to the buffer's compute type).
    case load(BufferID, index: KernelExpression)
    /// `width` consecutive f32 elements starting at element `index` (no alignment needed).
    case vectorLoad(BufferID, index: KernelExpression, width: Int)
    /// An f32 scalar in every lane of a `width`-lane vector.
    case broadcast(KernelExpression, width: Int)
    /// The sum of a vector's lanes, in lane order.
    case reduceAdd(KernelExpression)
    /// Lane `lane` of an f32 vector in every lane of a vector of the same width (a register splat, no memory access).
    case broadcastLane(KernelExpression, lane: Int)
    /// A unary operation.
    case unary(UnaryOperator, KernelExpression)
    /// A binary operation.
    case binary(BinaryOperator, KernelExpression, KernelExpression)
    /// `a * b + c` for f32 scalars or vectors (the C compiler may contract or not).
    case fma(KernelExpression, KernelExpression, KernelExpression)
    /// `condition != 0 ? a : b`; condition is i64, a and b have one type.
    case select(KernelExpression, KernelExpression, KernelExpression)
    /// Converts between i64, f32 and f64 (f -> i64 goes through `truncateToI64`).
    case convert(KernelExpression, to: ValueType)
    /// Decodes the `element`-th packed N:M index (`bits` wide, little-endian bit order) of a packed buffer.
    case nmIndex(BufferID, element: KernelExpression, bits: Int)
    /// One compressed N:M row times a contiguous vector: f32 values and activations give an f32, i8 values and u8
    /// activations an exact i64 (see `NMDot`).
    case nmDot(NMDot)
    /// The exact dot product of u8 and i8 elements (an i64): see `IntegerDot`.
    case dot(IntegerDot)
    /// A named intrinsic.
    case intrinsic(Intrinsic, [KernelExpression])
}

/// `sum over i in 0 ..< length of a[aStart + i] * b[bStart + i]` for u8 `a` and i8 `b`, exact, as an i64. Sums are kept
/// in int32 lanes, so `length` is at most `maxLength` (255 · 128 · length < 2^31), which the verifier checks. The C
/// backend emits `sieve_dot_u8i8`: `vpdpbusd` with AVX-512 VNNI, operands widened to int16 and `vpmaddwd` with AVX2
/// (`vpmaddubsw` would saturate), a scalar loop elsewhere; the summation order is unspecified (the sum is exact).
public struct IntegerDot: Hashable, Sendable {
    public var a: BufferID, aStart: KernelExpression
    public var b: BufferID, bStart: KernelExpression
    public var length: Int

    /// The longest exact dot product (the dynamic int8 product's largest reduction).
    public static let maxLength = DynamicInt8.maxReduction

    public init(a: BufferID, aStart: KernelExpression, b: BufferID, bStart: KernelExpression, length: Int) {
        self.a = a
        self.aStart = aStart
        self.b = b
        self.bStart = bStart
        self.length = length
    }
}

/// A counted loop `for variable in lower..<upper step step`.
/// The dot product of one compressed N:M row with a contiguous f32 vector:
/// the sum over kept entries p in `first ..< first + groups * n` of
/// `values[p] * dense[denseStart + ((p - first) / n) * m + index(p)]`, index(p) read like `nmIndex`.
/// The C backend emits it as `sieve_nm_dot_f32`, whose 2:4 path decodes indices in registers and gathers
/// activations with a two-source permute on AVX-512 (a scalar loop elsewhere); the summation order is unspecified.
///
/// With i8 values and u8 activations (the dynamic int8 product) the sum is exact, an i64; the kernel verifier limits
/// such a row to `IntegerDot.maxLength` kept values so that int32 lanes hold it. The C backend emits
/// `sieve_nm_dot_u8i8` (2:4: VBMI byte permutes and VNNI `vpdpbusd` on AVX-512, byte shuffles and `vpmaddwd` on AVX2).
public struct NMDot: Hashable, Sendable {
    public var values: BufferID, indices: BufferID, dense: BufferID
    public var first: KernelExpression, denseStart: KernelExpression
    public var groups: Int, n: Int, m: Int

    public init(values: BufferID, indices: BufferID, dense: BufferID, first: KernelExpression, denseStart: KernelExpression,
                groups: Int, n: Int, m: Int) {
        self.values = values
        self.indices = indices
        self.dense = dense
        self.first = first
        self.denseStart = denseStart
        self.groups = groups
        self.n = n
        self.m = m
    }
}

public struct Loop: Hashable, Sendable {
    /// The induction variable (i64).
    public var variable: VariableID
    /// The first value.
    public var lower: KernelExpression
    /// One past the last value (exclusive bound).
    public var upper: KernelExpression
    /// The increment, positive.
    public var step: Int
    /// Whether iterations are independent and may run on different threads.
    public var parallel: Bool
    /// The loop body.
    public var body: [Statement]

    /// Makes a loop.
    public init(variable: VariableID, lower: KernelExpression, upper: KernelExpression, step: Int = 1, parallel: Bool = false,
                body: [Statement]) {
        self.variable = variable
        self.lower = lower
        self.upper = upper
        self.step = step
        self.parallel = parallel
        self.body = body
    }
}

/// Why a kernel stops the run with an error.
public enum TrapReason: String, Hashable, Sendable {
    /// A gather index outside the axis.
    case indexOutOfRange = "index_out_of_range"
    /// An integer division by zero.
    case divisionByZero = "division_by_zero"
}

/// A statement of a kernel body.
public indirect enum Statement: Hashable, Sendable {
    /// A counted loop.
    case loop(Loop)
    /// Declares a variable with an initial value (visible to the following statements of its block).
    case declare(VariableID, KernelExpression)
    /// Assigns a new value to a declared variable.
    case assign(VariableID, KernelExpression)
    /// Stores a scalar (converted to the element type: floats rounded, integers wrapped, bool as 0/1).
    case store(BufferID, index: KernelExpression, value: KernelExpression)
    /// Stores an f32 vector to consecutive f32 elements.
    case vectorStore(BufferID, index: KernelExpression, value: KernelExpression)
    /// Runs one block or the other.
    case branch(KernelExpression, then: [Statement], else: [Statement])
    /// Stops the run with an error code.
    case trap(TrapReason)
    /// A hint that element `index` of the buffer will be read soon (no effect on results; C: `__builtin_prefetch`).
    case prefetch(BufferID, index: KernelExpression)
    /// Four rows of a row-block packed N:M weight times a contiguous f32 vector, stored to `out`: see `NMRowBlock`.
    case nmRowBlock(NMRowBlock)
    /// A square block of f32 elements copied transposed: see `TransposeTile`.
    case transposeTile(TransposeTile)
    /// Exact int32 sums of a block of u8 activation rows times panels of an int8 weight: see `Int8Tile`.
    case int8Tile(Int8Tile)
    /// One f32 row quantized to u8 with its own scale and zero point (the dynamic int8 product's prologue): see `QuantizeRow`.
    case quantizeRow(QuantizeRow)
}

/// The dynamic int8 product's quantization of one activation row (`DynamicInt8.rowParameters` and `quantize`):
/// over the `length` f32 elements of `source` from `sourceStart`, low = min(0, min x) and high = max(0, max x) with
/// NaN ignored, scale = (high − low) / 255 (1 when that is 0), zero point = quantize(−low), stored to
/// `scales[scaleIndex]` (f32) and `zeroPoints[scaleIndex]` (i32), and every element quantize(x, scale, zero point)
/// to u8 at `out[outStart + i]` (round half to even, saturated to 0…255, NaN giving the zero point). The C backend
/// emits `sieve_quantize_row_u8`, vectorised (AVX-512, AVX2) and bit for bit the scalar definition.
public struct QuantizeRow: Hashable, Sendable {
    /// The u8 result and where the row starts.
    public var out: BufferID, outStart: KernelExpression
    /// The f32 scale and i32 zero point buffers and the element both go to.
    public var scales: BufferID, zeroPoints: BufferID, scaleIndex: KernelExpression
    /// The f32 row and its length.
    public var source: BufferID, sourceStart: KernelExpression, length: Int

    public init(out: BufferID, outStart: KernelExpression, scales: BufferID, zeroPoints: BufferID, scaleIndex: KernelExpression,
                source: BufferID, sourceStart: KernelExpression, length: Int) {
        self.out = out
        self.outStart = outStart
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.scaleIndex = scaleIndex
        self.source = source
        self.sourceStart = sourceStart
        self.length = length
    }
}

/// How an int8 weight is stored in the panels of `int8_tile`: 16 output columns per panel, read along the reduction.
public enum Int8PanelLayout: String, Hashable, Sendable, CaseIterable {
    /// Every 4 elements of the reduction q: the 16 columns' 4 weights, byte `(q * 16 + c) * 4 + t` = `w[c][4q + t]`;
    /// 16 · k bytes per panel, k a multiple of 4.
    case dense
    /// 2:4, every 8 elements of the reduction s (two groups): the 16 columns' 4 kept values (64 bytes, column after
    /// column), then one byte per column holding the four 2-bit indices (kept value t in bits 2t, 2t + 1), 80 bytes
    /// per step; 10 · k bytes per panel, k a multiple of 8.
    case sparse24 = "2:4"

    /// Output columns per panel.
    public static let columns = 16

    /// Bytes of one panel for a reduction of `k`.
    public func panelBytes(k: Int) -> Int { self == .dense ? 16 * k : 10 * k }

    /// Elements of the reduction a step of the layout covers; k must be a multiple of it.
    public var step: Int { self == .dense ? 4 : 8 }
}

/// `out[outStart + r * outStride + 16 * j + c] = sum over i < k of a[aStart + r * aStride + i] * w(16 * (panel + j) + c, i)`
/// for r < `rows`, j < `panels`, c < 16: exact int32 sums of u8 activations and i8 weights (k at most
/// `IntegerDot.maxLength`), the weight stored in panels of 16 columns (`Int8PanelLayout`; columns past the weight's
/// rows hold zeros). The C backend emits `sieve_int8_tile`, a register tile that loads each weight vector once per
/// block of rows and broadcasts each activation word once per block of panels: vpdpbusd on AVX-512 VNNI (2:4: the
/// activations of every column gathered from an 8-byte window with vpshufb), int16 and vpmaddwd on AVX2, scalar
/// loops elsewhere.
public struct Int8Tile: Hashable, Sendable {
    /// The u8 activations, row r starting at `aStart + r * aStride`.
    public var a: BufferID, aStart: KernelExpression, aStride: Int
    /// How many activation rows (i64, at least 1).
    public var rows: KernelExpression
    /// The i8 panels, their layout, the first panel (i64) and how many (i64, at least 1).
    public var weights: BufferID, layout: Int8PanelLayout, panel: KernelExpression, panels: KernelExpression
    /// The reduction length.
    public var k: Int
    /// The i32 sums.
    public var out: BufferID, outStart: KernelExpression, outStride: Int

    public init(a: BufferID, aStart: KernelExpression, aStride: Int, rows: KernelExpression, weights: BufferID, layout: Int8PanelLayout,
                panel: KernelExpression, panels: KernelExpression, k: Int, out: BufferID, outStart: KernelExpression, outStride: Int) {
        self.a = a
        self.aStart = aStart
        self.aStride = aStride
        self.rows = rows
        self.weights = weights
        self.layout = layout
        self.panel = panel
        self.panels = panels
        self.k = k
        self.out = out
        self.outStart = outStart
        self.outStride = outStride
    }
}

/// `out[outStart + j * outStride + i] = source[sourceStart + i * sourceStride + j]` for i, j in 0 ..< `size` (4, 8 or
/// 16 f32 elements, the rows of the tile being strided, its columns contiguous). The C backend transposes in
/// registers where the target has the shuffles (SSE for 4, AVX for 8, AVX-512 for 16), element by element elsewhere.
public struct TransposeTile: Hashable, Sendable {
    /// The f32 buffers, and where the tile starts in each.
    public var source: BufferID, sourceStart: KernelExpression
    public var out: BufferID, outStart: KernelExpression
    /// Elements between the starts of consecutive tile rows in each buffer.
    public var sourceStride: Int, outStride: Int
    /// Rows and columns of the tile.
    public var size: Int

    public init(source: BufferID, sourceStart: KernelExpression, sourceStride: Int, out: BufferID, outStart: KernelExpression,
                outStride: Int, size: Int) {
        self.source = source
        self.sourceStart = sourceStart
        self.sourceStride = sourceStride
        self.out = out
        self.outStart = outStart
        self.outStride = outStride
        self.size = size
    }
}

/// One block of a weight in the row-block packing (`NMRowBlockLayout`) times a contiguous f32 vector:
/// for j in 0 ..< `validRows` (1 to 4), `out[outStart + j] = sum over kept p of row 4 * block + j of
/// value(p) * dense[denseStart + k(p)]`. The layout's value order (`NMValueOrder`, printed `order in_lane`)
/// says where each kept value sits; the result does not depend on it. The C backend emits `sieve_nm_rows4_f32`,
/// which decodes indices in registers and gathers activations with permutes on AVX-512 (2:4 in group order) and
/// AVX2 (1:4 and 2:4 in-lane order with in-lane permutes; 2:4 in group order), a scalar loop elsewhere; the
/// summation order is unspecified.
public struct NMRowBlock: Hashable, Sendable {
    /// The packed weight (u8) and its layout.
    public var weights: BufferID, layout: NMRowBlockLayout
    /// The block number (i64).
    public var block: KernelExpression
    /// The f32 activations, contiguous along the reduction from `denseStart`.
    public var dense: BufferID, denseStart: KernelExpression
    /// The f32 output: the block's rows go to consecutive elements from `outStart`.
    public var out: BufferID, outStart: KernelExpression
    /// How many of the block's four rows exist (i64, 1 to 4).
    public var validRows: KernelExpression

    public init(weights: BufferID, layout: NMRowBlockLayout, block: KernelExpression, dense: BufferID, denseStart: KernelExpression,
                out: BufferID, outStart: KernelExpression, validRows: KernelExpression) {
        self.weights = weights
        self.layout = layout
        self.block = block
        self.dense = dense
        self.denseStart = denseStart
        self.out = out
        self.outStart = outStart
        self.validRows = validRows
    }
}

/// A local variable's facts.
public struct Variable: Hashable, Sendable {
    /// A readable hint used in the emitted code.
    public var name: String
    /// Its type.
    public var type: ValueType
    /// Makes a variable.
    public init(name: String, type: ValueType) {
        self.name = name
        self.type = type
    }
}

/// One kernel: the code for one graph op (or a copy), a straight sequence of statements.
///
/// Top-level loops marked parallel are split across the thread pool; everything else runs on
/// the calling thread in order.
public struct Kernel: Hashable, Sendable {
    /// A symbol-friendly name, unique in the program.
    public var name: String
    /// The graph op it computes (its mnemonic), or "copy".
    public var op: String
    /// Where the op came from.
    public var location: String
    /// The lowering pattern used, e.g. "dense matmul, 4x2 register tile of f32x16".
    public var pattern: String
    /// Local variables, indexed by `VariableID.index`.
    public var variables: [Variable]
    /// The body.
    public var body: [Statement]
    /// The index of the graph op it computes in the lowered graph, so that profiles and reports can join a
    /// kernel to its op's schedule; nil for copies and for kernels parsed from text (the text form omits it).
    public var sourceOp: Int?

    /// Makes a kernel.
    public init(name: String, op: String, location: String, pattern: String, variables: [Variable], body: [Statement]) {
        self.name = name
        self.op = op
        self.location = location
        self.pattern = pattern
        self.variables = variables
        self.body = body
    }
}

/// A graph lowered to kernels over buffers, with its static memory layout.
public struct KernelProgram: Hashable, Sendable {
    /// The program (and artifact) name.
    public var name: String
    /// Every buffer, indexed by `BufferID.index`.
    public var buffers: [Buffer]
    /// The input buffers, in signature order.
    public var inputs: [BufferID]
    /// The output buffers, in signature order.
    public var outputs: [BufferID]
    /// Shapes of the inputs and outputs, for the artifact's tensor tables.
    public var inputShapes: [[Int]], outputShapes: [[Int]]
    /// Names of the inputs and outputs.
    public var inputNames: [String], outputNames: [String]
    /// Kernels in execution order.
    public var kernels: [Kernel]
    /// The arena size in bytes (a multiple of 64).
    public var arenaBytes: Int
    /// The weights blob that `constant` buffers point into.
    public var weights: [UInt8]
    /// The vector width (f32 lanes) the kernels were built for.
    public var vectorWidth: Int

    /// Makes an empty program.
    public init(name: String, vectorWidth: Int) {
        self.name = name
        self.buffers = []
        self.inputs = []
        self.outputs = []
        self.inputShapes = []
        self.outputShapes = []
        self.inputNames = []
        self.outputNames = []
        self.kernels = []
        self.arenaBytes = 0
        self.weights = []
        self.vectorWidth = vectorWidth
    }
}

extension Kernel {
    /// Calls `expression` on every expression node of the body (outer before inner) and `statement` on every
    /// statement (outer before the ones it holds): the one walk analyses and backends share.
    public func forEachNode(expression: (KernelExpression) -> Void, statement: (Statement) -> Void = { _ in }) {
        func visit(_ node: KernelExpression) {
            expression(node)
            switch node {
            case .int, .float, .double, .variable: break
            case let .load(_, index), let .vectorLoad(_, index, _), let .nmIndex(_, index, _): visit(index)
            case let .broadcast(value, _), let .reduceAdd(value), let .unary(_, value), let .convert(value, _), let .broadcastLane(value, _): visit(value)
            case let .binary(_, a, b): visit(a); visit(b)
            case let .fma(a, b, c), let .select(a, b, c): visit(a); visit(b); visit(c)
            case let .intrinsic(_, arguments): arguments.forEach(visit)
            case let .nmDot(dot): visit(dot.first); visit(dot.denseStart)
            case let .dot(dot): visit(dot.aStart); visit(dot.bStart)
            }
        }
        func walk(_ statements: [Statement]) {
            for node in statements {
                statement(node)
                switch node {
                case let .loop(loop): visit(loop.lower); visit(loop.upper); walk(loop.body)
                case let .declare(_, value), let .assign(_, value): visit(value)
                case let .store(_, index, value), let .vectorStore(_, index, value): visit(index); visit(value)
                case let .branch(condition, thenBody, elseBody): visit(condition); walk(thenBody); walk(elseBody)
                case .trap: break
                case let .prefetch(_, index): visit(index)
                case let .nmRowBlock(product): [product.block, product.denseStart, product.outStart, product.validRows].forEach(visit)
                case let .transposeTile(tile): visit(tile.sourceStart); visit(tile.outStart)
                case let .int8Tile(tile): [tile.aStart, tile.rows, tile.panel, tile.panels, tile.outStart].forEach(visit)
                case let .quantizeRow(row): [row.outStart, row.scaleIndex, row.sourceStart].forEach(visit)
                }
            }
        }
        walk(body)
    }

    /// Every buffer the kernel loads from, stores to or prefetches.
    public var touchedBuffers: Set<BufferID> {
        var buffers: Set<BufferID> = []
        forEachNode(expression: { node in
            switch node {
            case let .load(id, _), let .vectorLoad(id, _, _), let .nmIndex(id, _, _): buffers.insert(id)
            case let .nmDot(dot): buffers.formUnion([dot.values, dot.indices, dot.dense])
            case let .dot(dot): buffers.formUnion([dot.a, dot.b])
            default: break
            }
        }, statement: { node in
            switch node {
            case let .store(id, _, _), let .vectorStore(id, _, _), let .prefetch(id, _): buffers.insert(id)
            case let .nmRowBlock(product): buffers.formUnion([product.weights, product.dense, product.out])
            case let .transposeTile(tile): buffers.formUnion([tile.source, tile.out])
            case let .int8Tile(tile): buffers.formUnion([tile.a, tile.weights, tile.out])
            case let .quantizeRow(row): buffers.formUnion([row.out, row.scales, row.zeroPoints, row.source])
            default: break
            }
        })
        return buffers
    }
}

extension Kernel {
    /// The type of an expression in this kernel, for backends; assumes a verified program.
    public func type(of expression: KernelExpression, buffers: [Buffer]) -> ValueType {
        switch expression {
        case .int, .nmIndex, .intrinsic, .dot: return .i64
        case let .nmDot(dot):
            return buffers.indices.contains(dot.values.index) && buffers[dot.values.index].elementType == .i8 ? .i64 : .f32
        case .float, .reduceAdd: return .f32
        case .double: return .f64
        case let .variable(id): return variables.indices.contains(id.index) ? variables[id.index].type : .i64
        case let .load(id, _): return buffers.indices.contains(id.index) ? buffers[id.index].computeType : .f32
        case let .vectorLoad(_, _, width), let .broadcast(_, width): return .f32x(width)
        case let .broadcastLane(value, _): return type(of: value, buffers: buffers)
        case let .unary(op, value):
            switch op {
            case .isNaN, .not: return .i64
            case .neg, .sqrt, .exp, .erf, .tanh, .sigmoid, .gelu, .geluTanh, .abs, .log, .floor, .ceil, .roundEven, .sin, .cos,
                 .softplus:
                return type(of: value, buffers: buffers)
            }
        case let .binary(op, lhs, _):
            switch op {
            case .lt, .le, .gt, .ge, .eq, .ne, .and, .or, .rem, .wrappingAdd, .wrappingSub, .wrappingMul, .wrappingDiv, .wrappingRem:
                return .i64
            case .add, .sub, .mul, .div, .pow, .min, .max, .fmod:
                return type(of: lhs, buffers: buffers)
            }
        case let .fma(a, _, _): return type(of: a, buffers: buffers)
        case let .select(_, a, _): return type(of: a, buffers: buffers)
        case let .convert(_, type): return type
        }
    }
}
