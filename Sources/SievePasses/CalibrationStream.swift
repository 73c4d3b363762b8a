// The calibration set carried through a graph op by op, every batch at once, so that a layer's input
// can be measured, the layer pruned, and the walk continue on the pruned weight without re-running.
//
// nm-legalize's sequential statistics need each layer's input on the model pruned up to that layer.
// Running the whole model again for every layer costs a forward pass per layer; the stream instead
// holds every batch's live values (freed after their last use, as the interpreter does) and evaluates
// each op once per batch, with the weights as they are when the walk reaches it.

import Dispatch
import SieveFormats
import SieveIR
import SieveInterpreter

/// Every calibration batch's live values at one point of a graph walked in op order.
///
/// Constants are not held: a const op is evaluated from the graph each time an op reads it, so a
/// weight replaced behind the walk (a layer just pruned, with the op now reading it transposed) is
/// read as it is now. Ops before `position` must not change after they were evaluated, except for the
/// kind of a product whose weight was replaced (it reads its weight when evaluated, not before).
struct CalibrationStream {
    /// Index of the next op to evaluate.
    private(set) var position = 0
    /// Per batch, per value index, the live tensor (nil when not computed yet, dead, or a constant).
    private var live: [[Tensor?]]
    /// Per value index, the last op that reads it (-1 when none).
    private let lastUse: [Int]
    /// Per value index, whether a const op defines it (such values are evaluated at every use).
    private let isConstant: [Bool]
    /// Per value index, the op that defines it.
    private let defining: [Int?]
    /// Threads that evaluate batches side by side.
    let workers: Int
    /// Samples the batches hold.
    let summary: CalibrationSummary

    /// Batches the stream holds.
    var batches: Int { live.count }

    /// Why a stream was not made: the calibration set would not fit in `budgetBytes`.
    struct TooLarge: Error {}

    /// Reads the calibration set's batches (at most `maxSamples` samples) as the graph's inputs.
    ///
    /// - Throws: `TooLarge` when holding the live values of every batch at the graph's widest point
    ///   would take more than `budgetBytes`; a diagnostic when the data does not fit the graph.
    init(graph: Graph, calibration: CalibrationSet, maxSamples: Int?, budgetBytes: Int, workers: Int = 2) throws {
        self.workers = max(1, workers)
        defining = graph.definingOps()
        var uses = [Int](repeating: -1, count: graph.values.count)
        var constant = [Bool](repeating: false, count: graph.values.count)
        for (index, op) in graph.operations.enumerated() {
            for operand in op.operands where uses.indices.contains(operand.index) { uses[operand.index] = index }
            if case .constant = op.kind { for result in op.results where constant.indices.contains(result.index) { constant[result.index] = true } }
        }
        lastUse = uses
        isConstant = constant
        let perBatch = CalibrationStream.peakBytes(graph, lastUse: uses, isConstant: constant)
        let allowed = perBatch > 0 ? max(1, budgetBytes / perBatch) : Int.max
        var inputs: [[Tensor]] = []
        var quiet = calibration
        quiet.progress = nil
        summary = try quiet.forEachTensorBatch(for: graph, maxSamples: maxSamples, stage: "calibration inputs") { batch in
            guard inputs.count < allowed else { throw TooLarge() }
            inputs.append(batch)
        }
        var values: [[Tensor?]] = []
        values.reserveCapacity(inputs.count)
        for batch in inputs {
            var row = [Tensor?](repeating: nil, count: graph.values.count)
            for (id, tensor) in zip(graph.inputs, batch) {
                guard let declared = graph.type(of: id) else { continue }
                row[id.index] = tensor.retyped(declared)
            }
            values.append(row)
        }
        live = values
    }

    /// The largest sum of the byte sizes of live non-constant values at any op, for one batch.
    static func peakBytes(_ graph: Graph, lastUse: [Int], isConstant: [Bool]) -> Int {
        func bytes(_ id: ValueID) -> Int {
            guard graph.values.indices.contains(id.index), !isConstant[id.index] else { return 0 }
            let type = graph.values[id.index].type
            return (type.elementCount ?? 0) * type.elementType.byteSize
        }
        var held = graph.inputs.reduce(0) { $0 + bytes($1) }
        var peak = held
        for (index, op) in graph.operations.enumerated() {
            held += op.results.reduce(0) { $0 + bytes($1) }
            peak = max(peak, held)
            for id in Set(op.operands + op.results) where lastUse.indices.contains(id.index) && lastUse[id.index] <= index {
                held -= bytes(id)
            }
        }
        return peak
    }

    /// Evaluates ops up to (not including) `end` on every batch, with the graph's current constants;
    /// both cores share the batches.
    mutating func advance(to end: Int, in graph: Graph) throws {
        while position < end {
            let index = position
            let op = graph.operations[index]
            position += 1
            guard let result = op.results.first, op.results.count == 1, graph.values.indices.contains(result.index) else {
                throw DiagnosticError(.error(op.location, "op #\(index) must define exactly one value of the graph"))
            }
            // A const op's value is made where it is read.
            if case .constant = op.kind { continue }
            let constants = try op.operands.map { operand throws -> Tensor? in
                guard isConstant.indices.contains(operand.index), isConstant[operand.index] else { return nil }
                return try constantValue(operand, in: graph)
            }
            let resultType = graph.values[result.index].type
            let count = live.count, workers = self.workers
            var results = [Result<Tensor, any Error>?](repeating: nil, count: count)
            let snapshot = live
            results.withUnsafeMutableBufferPointer { slots in
                let base = ResultSlots(base: slots.baseAddress)
                DispatchQueue.concurrentPerform(iterations: min(workers, count)) { worker in
                    var batch = worker
                    while batch < count {
                        let row = snapshot[batch]
                        var operands: [Tensor] = []
                        var missing: ValueID?
                        for (slot, operand) in op.operands.enumerated() {
                            if let constant = constants[slot] {
                                operands.append(constant)
                            } else if row.indices.contains(operand.index), let tensor = row[operand.index] {
                                operands.append(tensor)
                            } else {
                                missing = operand
                                break
                            }
                        }
                        if let missing {
                            base.base?[batch] = .failure(DiagnosticError(.error(op.location, "operand \(missing) of op #\(index) is not computed before the op")))
                        } else {
                            base.base?[batch] = Result {
                                try Interpreter.evaluate(op.kind, operands: operands, resultType: resultType,
                                                         constants: graph.constants, location: op.location)
                            }
                        }
                        batch += workers
                    }
                }
            }
            for batch in 0..<count {
                guard let outcome = results[batch] else { continue }
                live[batch][result.index] = try outcome.get()
                for id in op.operands + [result] where lastUse[id.index] <= index && !graph.outputs.contains(id) {
                    live[batch][id.index] = nil
                }
            }
        }
    }

    /// Calls `body` with a value's tensor in every batch, in batch order.
    func forEachTensor(of value: ValueID, in graph: Graph, _ body: (Tensor) throws -> Void) throws {
        for row in live {
            if isConstant.indices.contains(value.index), isConstant[value.index] {
                try body(try constantValue(value, in: graph))
            } else if row.indices.contains(value.index), let tensor = row[value.index] {
                try body(tensor)
            } else {
                throw DiagnosticError(.error(graph.location, "calibration: \(value) is not live at op #\(position)"))
            }
        }
    }

    /// A const op's value from the graph as it is now.
    private func constantValue(_ id: ValueID, in graph: Graph) throws -> Tensor {
        guard defining.indices.contains(id.index), let index = defining[id.index] else {
            throw DiagnosticError(.error(graph.location, "calibration: \(id) has no defining op"))
        }
        let op = graph.operations[index]
        return try Interpreter.evaluate(op.kind, operands: [], resultType: graph.values[id.index].type,
                                        constants: graph.constants, location: op.location)
    }
}

/// The result array of one op, written by the threads that evaluate batches: each writes only the
/// slots of its own batches, so no two threads touch one slot.
private struct ResultSlots: @unchecked Sendable {
    let base: UnsafeMutablePointer<Result<Tensor, any Error>?>?
}
