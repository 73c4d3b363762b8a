// Lowering of data movement: transpose, expand and slice as strided copies, concat, and gather.
// Reshape, flatten, squeeze and unsqueeze need no kernel: plan-memory makes them views of their operand.

import SieveIR

extension Lowerer {
    /// Copies `source` into the result, reading result element (i0, i1, ...) from `offset + sum(ik * strides[k])`.
    mutating func lowerStridedCopy(from source: ValueID, offset: Int, strides: [Int], result: ValueID, pattern: String) throws {
        let shape = type(result).shape
        let input = try buffer(source)
        let target = try buffer(result)
        let resultStrides = rowMajorStrides(shape)
        let count = type(result).elementCount ?? 0
        var builder = KernelBuilder()
        builder.loopNest(shape, parallel: isParallel(count)) { body, indices in
            body.store(target, flatIndex(indices, strides: resultStrides),
                       .load(input, index: .index(offset) + flatIndex(indices, strides: strides)))
        }
        addKernel(builder, pattern: pattern)
    }

    mutating func lowerConcat(_ op: Operation, result: ValueID, axis: Int) throws {
        let shape = type(result).shape
        let target = try buffer(result)
        let resultStrides = rowMajorStrides(shape)
        var builder = KernelBuilder()
        var start = 0
        for operand in op.operands {
            let operandShape = type(operand).shape
            let source = try buffer(operand)
            let sourceStrides = rowMajorStrides(operandShape)
            let base = start * resultStrides[axis]
            builder.loopNest(operandShape, parallel: isParallel(type(operand).elementCount ?? 0)) { body, indices in
                body.store(target, .index(base) + flatIndex(indices, strides: resultStrides),
                           .load(source, index: flatIndex(indices, strides: sourceStrides)))
            }
            start += operandShape[axis]
        }
        addKernel(builder, pattern: "concat, one copy per operand")
    }

    mutating func lowerGather(_ op: Operation, result: ValueID, axis: Int) throws {
        let dataShape = type(op.operands[0]).shape
        let indexCount = type(op.operands[1]).elementCount ?? 0
        let data = try buffer(op.operands[0])
        let indices = try buffer(op.operands[1])
        let target = try buffer(result)
        let size = dataShape[axis]
        let outer = dataShape[..<axis].reduce(1, *), inner = dataShape[(axis + 1)...].reduce(1, *)
        var builder = KernelBuilder()
        // Indices are checked first, so a bad index stops the run before anything is written.
        builder.loop("p", to: .index(indexCount)) { body, p in
            let index = body.declare("index", .i64, .load(indices, index: p))
            body.branch(.binary(.or, .binary(.lt, index, .index(-size)), .binary(.ge, index, .index(size)))) {
                $0.emit(.trap(.indexOutOfRange))
            }
        }
        builder.loop("o", to: .index(outer)) { body, o in
            body.loop("p", to: .index(indexCount)) { body, p in
                let raw = body.declare("index", .i64, .load(indices, index: p))
                let index = body.declare("row", .i64, .select(.binary(.lt, raw, 0), raw + .index(size), raw))
                body.loop("i", to: .index(inner)) { body, i in
                    body.store(target, (o * .index(indexCount) + p) * .index(inner) + i,
                               .load(data, index: (o * .index(size) + index) * .index(inner) + i))
                }
            }
        }
        addKernel(builder, pattern: "gather with index check")
    }
}
