// Builds kernel bodies: variables, nested blocks and loops, with small folding helpers for index math.
// Lowering writes kernels through this so that the produced IR stays compact and readable.

import SieveIR

extension KernelExpression: ExpressibleByIntegerLiteral {
    /// An i64 literal.
    public init(integerLiteral value: Int64) { self = .int(value) }

    /// An i64 literal from an Int.
    public static func index(_ value: Int) -> KernelExpression { .int(Int64(value)) }

    /// Index addition, folding literals and zeros.
    public static func + (lhs: KernelExpression, rhs: KernelExpression) -> KernelExpression {
        switch (lhs, rhs) {
        case let (.int(a), .int(b)): return .int(a + b)
        case (.int(0), _): return rhs
        case (_, .int(0)): return lhs
        default: return .binary(.add, lhs, rhs)
        }
    }

    /// Index subtraction, folding literals and zeros.
    public static func - (lhs: KernelExpression, rhs: KernelExpression) -> KernelExpression {
        switch (lhs, rhs) {
        case let (.int(a), .int(b)): return .int(a - b)
        case (_, .int(0)): return lhs
        default: return .binary(.sub, lhs, rhs)
        }
    }

    /// Index multiplication, folding literals, zeros and ones.
    public static func * (lhs: KernelExpression, rhs: KernelExpression) -> KernelExpression {
        switch (lhs, rhs) {
        case let (.int(a), .int(b)): return .int(a * b)
        case (.int(0), _), (_, .int(0)): return .int(0)
        case (.int(1), _): return rhs
        case (_, .int(1)): return lhs
        default: return .binary(.mul, lhs, rhs)
        }
    }

    /// Index division by a positive literal, folding ones.
    public static func / (lhs: KernelExpression, rhs: KernelExpression) -> KernelExpression {
        switch (lhs, rhs) {
        case let (.int(a), .int(b)) where b != 0: return .int(a / b)
        case (_, .int(1)): return lhs
        default: return .binary(.div, lhs, rhs)
        }
    }

    /// Index remainder by a positive literal.
    public static func % (lhs: KernelExpression, rhs: KernelExpression) -> KernelExpression {
        switch (lhs, rhs) {
        case let (.int(a), .int(b)) where b != 0: return .int(a % b)
        case (_, .int(1)): return .int(0)
        default: return .binary(.rem, lhs, rhs)
        }
    }
}

/// Accumulates the variables and statements of one kernel.
public struct KernelBuilder {
    /// Variables declared so far.
    public private(set) var variables: [Variable] = []
    private var blocks: [[Statement]] = [[]]

    /// Makes an empty builder.
    public init() {}

    /// A fresh variable (not yet declared in the body).
    public mutating func newVariable(_ name: String, _ type: ValueType) -> VariableID {
        variables.append(Variable(name: name, type: type))
        return VariableID(variables.count - 1)
    }

    /// Appends a statement to the current block.
    public mutating func emit(_ statement: Statement) {
        blocks[blocks.count - 1].append(statement)
    }

    /// Declares a variable with an initial value and returns a reference to it.
    @discardableResult
    public mutating func declare(_ name: String, _ type: ValueType, _ value: KernelExpression) -> KernelExpression {
        let id = newVariable(name, type)
        emit(.declare(id, value))
        return .variable(id)
    }

    /// Assigns to a variable made by `declare`.
    public mutating func assign(_ variable: KernelExpression, _ value: KernelExpression) {
        guard case let .variable(id) = variable else { preconditionFailure("assign needs a variable") }
        emit(.assign(id, value))
    }

    /// Emits a scalar store.
    public mutating func store(_ buffer: BufferID, _ index: KernelExpression, _ value: KernelExpression) {
        emit(.store(buffer, index: index, value: value))
    }

    /// Emits a counted loop whose body `body` builds, given the induction variable.
    public mutating func loop(_ name: String, from lower: KernelExpression = 0, to upper: KernelExpression, step: Int = 1,
                              parallel: Bool = false, _ body: (inout KernelBuilder, KernelExpression) -> Void) {
        if case let .int(bound) = upper, case let .int(start) = lower {
            if bound <= start { return }
            // A single iteration needs no loop: the body sees the constant index.
            if bound - start <= Int64(step) {
                body(&self, lower)
                return
            }
        }
        let variable = newVariable(name, .i64)
        blocks.append([])
        body(&self, .variable(variable))
        let statements = blocks.removeLast()
        emit(.loop(Loop(variable: variable, lower: lower, upper: upper, step: step, parallel: parallel, body: statements)))
    }

    /// Emits nested loops over a shape (outermost first); the body gets one index per dimension.
    /// The outermost loop is parallel when asked and the shape is not empty.
    public mutating func loopNest(_ shape: [Int], prefix: String = "i", parallel: Bool = false,
                                  _ body: (inout KernelBuilder, [KernelExpression]) -> Void) {
        func nest(_ builder: inout KernelBuilder, _ axis: Int, _ indices: [KernelExpression]) {
            if axis == shape.count {
                body(&builder, indices)
                return
            }
            if shape[axis] == 1 {
                nest(&builder, axis + 1, indices + [0])
                return
            }
            builder.loop("\(prefix)\(axis)", to: .index(shape[axis]), parallel: parallel && indices.allSatisfy { $0 == 0 }) { inner, index in
                nest(&inner, axis + 1, indices + [index])
            }
        }
        nest(&self, 0, [])
    }

    /// Emits an if/else whose blocks the closures build.
    public mutating func branch(_ condition: KernelExpression, then thenBody: (inout KernelBuilder) -> Void,
                                else elseBody: ((inout KernelBuilder) -> Void)? = nil) {
        blocks.append([])
        thenBody(&self)
        let thenBlock = blocks.removeLast()
        blocks.append([])
        elseBody?(&self)
        let elseBlock = blocks.removeLast()
        emit(.branch(condition, then: thenBlock, else: elseBlock))
    }

    /// The finished kernel.
    public func kernel(name: String, op: String, location: String, pattern: String) -> Kernel {
        Kernel(name: name, op: op, location: location, pattern: pattern, variables: variables, body: blocks[0])
    }
}

/// The flat element offset of a multi-index under given strides (stride 0 drops an axis).
public func flatIndex(_ indices: [KernelExpression], strides: [Int]) -> KernelExpression {
    var result: KernelExpression = 0
    for (index, stride) in zip(indices, strides) { result = result + index * .index(stride) }
    return result
}

/// Row-major strides of a shape.
public func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for axis in shape.indices.reversed() {
        strides[axis] = running
        running *= shape[axis]
    }
    return strides
}

/// Strides that read a tensor of `shape` broadcast (NumPy rules) to `target`: 0 on broadcast axes.
public func broadcastStrides(from shape: [Int], to target: [Int]) -> [Int] {
    let own = rowMajorStrides(shape)
    let lead = target.count - shape.count
    return target.indices.map { axis in
        let source = axis - lead
        guard source >= 0, shape[source] != 1 else { return 0 }
        return own[source]
    }
}
