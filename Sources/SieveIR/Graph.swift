// The graph IR: SSA values with typed IDs, operations stored in an array, and a constant table.
// A graph is a value; passes take it `inout` and the verifier checks every invariant listed in Verifier.swift.

/// Identifies a value within one graph; prints as `%N` (or `%name` when the value is named).
public struct ValueID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Index into `Graph.values`.
    public var index: Int
    /// Makes an ID from an index.
    public init(_ index: Int) { self.index = index }
    public static func < (lhs: ValueID, rhs: ValueID) -> Bool { lhs.index < rhs.index }
    public var description: String { "%\(index)" }
}

/// Identifies a constant within one graph's constant table; prints as `@name`.
public struct ConstantID: Hashable, Comparable, Sendable {
    /// Index into `ConstantTable.entries`.
    public var index: Int
    /// Makes an ID from an index.
    public init(_ index: Int) { self.index = index }
    public static func < (lhs: ConstantID, rhs: ConstantID) -> Bool { lhs.index < rhs.index }
}

/// Where an operation came from, for diagnostics.
public enum Location: Hashable, Sendable, CustomStringConvertible {
    case unknown
    /// A position in a textual IR file (1-based line and column); line 0 means the file as a whole.
    case file(path: String, line: Int, column: Int)
    /// A node of an ONNX model.
    case onnxNode(model: String, index: Int, name: String)

    public var description: String {
        switch self {
        case .unknown: return "<unknown>"
        case let .file(path, line, column): return line > 0 ? "\(path):\(line):\(column)" : path
        case let .onnxNode(model, index, name):
            return name.isEmpty ? "\(model): node #\(index)" : "\(model): node #\(index) '\(name)'"
        }
    }
}

/// A value's static facts: its type and an optional name kept from the source model.
public struct ValueInfo: Hashable, Sendable {
    /// The value's type.
    public var type: TensorType
    /// A name from the source (an ONNX tensor name), printed instead of the number.
    public var name: String?

    /// Makes value facts.
    public init(type: TensorType, name: String? = nil) {
        self.type = type
        self.name = name
    }
}

/// One operation: a kind with attributes, operand and result values, and a location.
///
/// Equality ignores the location, so that a parsed graph equals the graph it was printed from.
public struct Operation: Hashable, Sendable {
    /// What the op computes.
    public var kind: OpKind
    /// Values the op reads.
    public var operands: [ValueID]
    /// Values the op defines.
    public var results: [ValueID]
    /// Where the op came from.
    public var location: Location
    /// How a kernel-bearing op is computed, as the `schedule` pass decided; nil leaves it to lowering's defaults.
    public var schedule: KernelSchedule?

    /// Makes an operation.
    public init(_ kind: OpKind, operands: [ValueID], results: [ValueID], location: Location = .unknown,
                schedule: KernelSchedule? = nil) {
        self.kind = kind
        self.operands = operands
        self.results = results
        self.location = location
        self.schedule = schedule
    }

    public static func == (lhs: Operation, rhs: Operation) -> Bool {
        lhs.kind == rhs.kind && lhs.operands == rhs.operands && lhs.results == rhs.results && lhs.schedule == rhs.schedule
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(operands)
        hasher.combine(results)
        hasher.combine(schedule)
    }
}

/// A constant's type and its raw little-endian bytes, held out of line from the ops.
public struct Constant: Hashable, Sendable {
    /// The handle name, printed as `@name`.
    public var name: String
    /// The constant's type.
    public var type: TensorType
    /// Raw storage, little-endian, `type.elementCount * elementType.byteSize` bytes for dense layouts.
    public var bytes: [UInt8]
    /// The N:M pattern this dense weight is to be legalised into, as `sparsity-allocation` decided
    /// (printed on the const op as `{sparsity = "2:4"}`); `nm-legalize` consumes it. Nil: leave as is.
    public var sparsityRequest: NMPattern?

    /// Makes a constant.
    public init(name: String, type: TensorType, bytes: [UInt8], sparsityRequest: NMPattern? = nil) {
        self.name = name
        self.type = type
        self.bytes = bytes
        self.sparsityRequest = sparsityRequest
    }
}

/// The constants (weights) of a graph, referenced by handle from `const` ops.
public struct ConstantTable: Hashable, Sendable {
    /// The constants in handle order.
    public var entries: [Constant] = []

    /// Makes an empty table.
    public init() {}

    /// Looks up a constant, or nil when the ID is out of range.
    public subscript(id: ConstantID) -> Constant? {
        entries.indices.contains(id.index) ? entries[id.index] : nil
    }

    /// Adds a constant, giving it a fresh name based on `name` if that is taken.
    public mutating func add(_ constant: Constant) -> ConstantID {
        var constant = constant
        let taken = Set(entries.map(\.name))
        if taken.contains(constant.name) {
            var suffix = 1
            while taken.contains("\(constant.name)_\(suffix)") { suffix += 1 }
            constant.name = "\(constant.name)_\(suffix)"
        }
        entries.append(constant)
        return ConstantID(entries.count - 1)
    }

    /// A name not yet used in the table, built from a prefix.
    public func freshName(_ prefix: String = "c") -> String {
        let taken = Set(entries.map(\.name))
        var index = entries.count
        while taken.contains("\(prefix)\(index)") { index += 1 }
        return "\(prefix)\(index)"
    }
}

/// A computation graph: inputs, operations in definition order, outputs, constants.
public struct Graph: Hashable, Sendable {
    /// The graph's symbol name, printed as `@name`.
    public var name: String
    /// Facts for every value, indexed by `ValueID.index`.
    public var values: [ValueInfo]
    /// The graph inputs (block arguments), in signature order.
    public var inputs: [ValueID]
    /// Operations in definition order.
    public var operations: [Operation]
    /// The values the graph returns.
    public var outputs: [ValueID]
    /// Weights and other constants.
    public var constants: ConstantTable
    /// Where the graph was defined.
    public var location: Location

    /// Makes an empty graph.
    public init(name: String, location: Location = .unknown) {
        self.name = name
        self.values = []
        self.inputs = []
        self.operations = []
        self.outputs = []
        self.constants = ConstantTable()
        self.location = location
    }

    public static func == (lhs: Graph, rhs: Graph) -> Bool {
        lhs.name == rhs.name && lhs.values == rhs.values && lhs.inputs == rhs.inputs
            && lhs.operations == rhs.operations && lhs.outputs == rhs.outputs && lhs.constants == rhs.constants
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(operations)
    }

    /// The type of a value, or nil for an ID outside the graph.
    public func type(of value: ValueID) -> TensorType? {
        values.indices.contains(value.index) ? values[value.index].type : nil
    }

    /// Adds a new value and returns its ID.
    public mutating func addValue(_ type: TensorType, name: String? = nil) -> ValueID {
        values.append(ValueInfo(type: type, name: name))
        return ValueID(values.count - 1)
    }

    /// Adds a graph input of the given type.
    public mutating func addInput(_ type: TensorType, name: String? = nil) -> ValueID {
        let id = addValue(type, name: name)
        inputs.append(id)
        return id
    }

    /// Appends an operation with one result of the given type and returns the result.
    @discardableResult
    public mutating func append(_ kind: OpKind, _ operands: [ValueID], _ resultType: TensorType,
                                name: String? = nil, location: Location = .unknown) -> ValueID {
        let result = addValue(resultType, name: name)
        operations.append(Operation(kind, operands: operands, results: [result], location: location))
        return result
    }

    /// Appends a `const` op for a new constant and returns its result.
    public mutating func appendConstant(_ constant: Constant, location: Location = .unknown) -> ValueID {
        let id = constants.add(constant)
        return append(.constant(id), [], constant.type, location: location)
    }

    /// For each value, the index of the op defining it, or nil for inputs and undefined values.
    public func definingOps() -> [Int?] {
        var defining = [Int?](repeating: nil, count: values.count)
        for (index, op) in operations.enumerated() {
            for result in op.results where values.indices.contains(result.index) {
                defining[result.index] = index
            }
        }
        return defining
    }

    /// How many times each value is read (by ops and as an output).
    public func useCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: values.count)
        for op in operations {
            for operand in op.operands where counts.indices.contains(operand.index) { counts[operand.index] += 1 }
        }
        for output in outputs where counts.indices.contains(output.index) { counts[output.index] += 1 }
        return counts
    }

    /// Replaces every read of `old` (by ops and outputs) with `new`.
    public mutating func replaceAllUses(of old: ValueID, with new: ValueID) {
        guard old != new else { return }
        for index in operations.indices {
            for slot in operations[index].operands.indices where operations[index].operands[slot] == old {
                operations[index].operands[slot] = new
            }
        }
        for slot in outputs.indices where outputs[slot] == old {
            outputs[slot] = new
        }
        // An output keeps the name the model gave it.
        if let name = values[old.index].name, values[new.index].name == nil, outputs.contains(new) {
            values[new.index].name = name
            values[old.index].name = nil
        }
    }

    /// Renumbers values in definition order (inputs first, then op results) and drops values
    /// nothing defines; keeps only constants some op references, numbered in order of first use.
    /// This is the canonical form the printer's `%N` numbering and the parser's constant order
    /// assume; the pass manager applies it after every pass.
    public mutating func compact() {
        var newIndex = [Int?](repeating: nil, count: values.count)
        var newValues: [ValueInfo] = []
        func assign(_ id: ValueID) {
            guard values.indices.contains(id.index), newIndex[id.index] == nil else { return }
            newIndex[id.index] = newValues.count
            newValues.append(values[id.index])
        }
        inputs.forEach(assign)
        for op in operations { op.results.forEach(assign) }
        func remap(_ id: ValueID) -> ValueID {
            guard values.indices.contains(id.index), let mapped = newIndex[id.index] else { return id }
            return ValueID(mapped)
        }
        // Ops that read an undefined value keep an out-of-range ID so the verifier still reports it.
        let undefined = ValueID(Int.max)
        func remapUse(_ id: ValueID) -> ValueID {
            guard values.indices.contains(id.index), let mapped = newIndex[id.index] else { return undefined }
            return ValueID(mapped)
        }
        if newValues.count == values.count && newIndex.enumerated().allSatisfy({ $0.element == $0.offset }) {
            // Already canonical.
        } else {
            inputs = inputs.map(remap)
            for index in operations.indices {
                operations[index].results = operations[index].results.map(remap)
                operations[index].operands = operations[index].operands.map(remapUse)
            }
            outputs = outputs.map(remapUse)
            values = newValues
        }
        compactConstants()
    }

    /// Drops constants no op refers to and numbers the rest in order of first use, the order the
    /// parser assigns, so that a compacted graph round-trips through text unchanged.
    private mutating func compactConstants() {
        var newIndex = [Int](repeating: -1, count: constants.entries.count)
        var kept: [Constant] = []
        for op in operations {
            if case let .constant(id) = op.kind, newIndex.indices.contains(id.index), newIndex[id.index] < 0 {
                newIndex[id.index] = kept.count
                kept.append(constants.entries[id.index])
            }
        }
        if kept.count == constants.entries.count && newIndex.enumerated().allSatisfy({ $0.element == $0.offset }) {
            return
        }
        constants.entries = kept
        for index in operations.indices {
            if case let .constant(id) = operations[index].kind, newIndex.indices.contains(id.index) {
                operations[index].kind = .constant(ConstantID(newIndex[id.index]))
            }
        }
    }
}

/// A textual IR file: one or more graphs.
public struct Module: Hashable, Sendable {
    /// The graphs in file order.
    public var graphs: [Graph]
    /// Makes a module.
    public init(graphs: [Graph]) { self.graphs = graphs }
}

extension Graph {
    /// Joins independent graphs into one: their inputs, outputs, ops and constants side by side, in
    /// order, with value and constant names prefixed `g<index>_`. Tests use it to compile and run many
    /// small graphs as one artifact.
    public static func sideBySide(_ graphs: [Graph], name: String) -> Graph {
        var result = Graph(name: name)
        for (graphIndex, graph) in graphs.enumerated() {
            let valueOffset = result.values.count
            let constantOffset = result.constants.entries.count
            for info in graph.values {
                result.values.append(ValueInfo(type: info.type, name: info.name.map { "g\(graphIndex)_\($0)" }))
            }
            for constant in graph.constants.entries {
                var renamed = constant
                renamed.name = "g\(graphIndex)_\(constant.name)"
                result.constants.entries.append(renamed)
            }
            func shift(_ id: ValueID) -> ValueID { ValueID(id.index + valueOffset) }
            result.inputs += graph.inputs.map(shift)
            result.outputs += graph.outputs.map(shift)
            for op in graph.operations {
                var moved = Operation(op.kind, operands: op.operands.map(shift), results: op.results.map(shift), location: op.location)
                if case let .constant(id) = op.kind { moved.kind = .constant(ConstantID(id.index + constantOffset)) }
                result.operations.append(moved)
            }
        }
        result.compact()
        return result
    }
}
