// The textual form of kernel IR, printed by `sieve compile --print-kernel-ir` and read back by KernelParser.
// One buffer per line, then each kernel with its source op, location and pattern, statements indented.

import SieveIR

extension KernelProgram {
    /// The program as text.
    public func print() -> String {
        var lines: [String] = []
        lines.append("program @\(kernelNameText(name)) {vector_width = \(vectorWidth), arena = \(arenaBytes), weights = \(weights.count)}")
        for (index, buffer) in buffers.enumerated() {
            lines.append("  \(BufferID(index)) = \(buffer.storage.text) : \(buffer.elementType)[\(buffer.count)]  // \(bufferNameText(buffer.name))")
        }
        for kernel in kernels {
            lines.append("")
            lines.append(kernel.print())
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension BufferStorage {
    /// How the storage prints: `input 0`, `output 1`, `arena +128`, `constant +64`.
    public var text: String {
        switch self {
        case let .input(index): return "input \(index)"
        case let .output(index): return "output \(index)"
        case let .arena(offset): return "arena +\(offset)"
        case let .constant(offset): return "constant +\(offset)"
        }
    }
}

extension Kernel {
    /// The kernel as text.
    public func print() -> String {
        var lines = ["kernel @\(kernelNameText(name)) {op = \(quoteString(op)), loc = \(quoteString(location)), pattern = \(quoteString(pattern))} {"]
        for statement in body { appendStatement(statement, indent: "  ", to: &lines) }
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    private func variableText(_ id: VariableID) -> String {
        guard variables.indices.contains(id.index) else { return "\(id)" }
        return "\(id)"
    }

    private func appendStatement(_ statement: Statement, indent: String, to lines: inout [String]) {
        switch statement {
        case let .loop(loop):
            let stepText = loop.step == 1 ? "" : " step \(loop.step)"
            lines.append("\(indent)\(loop.parallel ? "parallel " : "")for \(variableText(loop.variable)) = \(text(loop.lower)) to \(text(loop.upper))\(stepText) {")
            for inner in loop.body { appendStatement(inner, indent: indent + "  ", to: &lines) }
            lines.append("\(indent)}")
        case let .declare(id, value):
            let type = variables.indices.contains(id.index) ? "\(variables[id.index].type)" : "?"
            lines.append("\(indent)var \(variableText(id)) : \(type) = \(text(value))")
        case let .assign(id, value):
            lines.append("\(indent)\(variableText(id)) = \(text(value))")
        case let .store(buffer, index, value):
            lines.append("\(indent)store \(buffer)[\(text(index))], \(text(value))")
        case let .vectorStore(buffer, index, value):
            lines.append("\(indent)vstore \(buffer)[\(text(index))], \(text(value))")
        case let .prefetch(buffer, index):
            lines.append("\(indent)prefetch \(buffer)[\(text(index))]")
        case let .nmRowBlock(product):
            let layout = product.layout
            lines.append("\(indent)nm_rows4.\(layout.n):\(layout.m) \(product.out)[\(text(product.outStart))], valid \(text(product.validRows)), "
                         + "weights \(product.weights), block \(text(product.block)), rows \(layout.rows), k \(layout.k), "
                         + "dense \(product.dense)[\(text(product.denseStart))]"
                         + (layout.order == .sequential ? "" : ", order \(layout.order.rawValue)"))
        case let .transposeTile(tile):
            lines.append("\(indent)transpose_tile.\(tile.size) \(tile.out)[\(text(tile.outStart))], stride \(tile.outStride), "
                         + "from \(tile.source)[\(text(tile.sourceStart))], stride \(tile.sourceStride)")
        case let .quantizeRow(row):
            lines.append("\(indent)quantize_row \(row.out)[\(text(row.outStart))], scale \(row.scales)[\(text(row.scaleIndex))], "
                         + "zero_point \(row.zeroPoints), from \(row.source)[\(text(row.sourceStart))], length \(row.length)")
        case let .int8Tile(tile):
            lines.append("\(indent)int8_tile.\(tile.layout.rawValue) \(tile.out)[\(text(tile.outStart))], stride \(tile.outStride), "
                         + "rows \(text(tile.rows)), a \(tile.a)[\(text(tile.aStart))], stride \(tile.aStride), "
                         + "weights \(tile.weights), panel \(text(tile.panel)), panels \(text(tile.panels)), k \(tile.k)")
        case let .branch(condition, thenBody, elseBody):
            lines.append("\(indent)if \(text(condition)) {")
            for inner in thenBody { appendStatement(inner, indent: indent + "  ", to: &lines) }
            if !elseBody.isEmpty {
                lines.append("\(indent)} else {")
                for inner in elseBody { appendStatement(inner, indent: indent + "  ", to: &lines) }
            }
            lines.append("\(indent)}")
        case let .trap(reason):
            lines.append("\(indent)trap \(reason.rawValue)")
        }
    }

    /// The right operand of `*`, `/` or `%`: parenthesised when it is itself one of those, because
    /// they print without parentheses and read left to right (`a / (b * c)` is not `a / b * c`).
    private func rightOperandText(_ expression: KernelExpression) -> String {
        if case let .binary(op, _, _) = expression, op == .mul || op == .div || op == .rem { return "(\(text(expression)))" }
        return text(expression)
    }

    /// An expression as text: calls in prefix form, index arithmetic infix.
    public func text(_ expression: KernelExpression) -> String {
        switch expression {
        case let .int(value): return "\(value)"
        case let .float(value): return "\(value)f"
        case let .double(value): return "\(value)d"
        case let .variable(id): return variableText(id)
        case let .load(buffer, index): return "load \(buffer)[\(text(index))]"
        case let .vectorLoad(buffer, index, width): return "vload.\(width) \(buffer)[\(text(index))]"
        case let .broadcast(value, width): return "broadcast.\(width)(\(text(value)))"
        case let .reduceAdd(value): return "reduce_add(\(text(value)))"
        case let .broadcastLane(value, lane): return "broadcast_lane(\(text(value)), \(lane))"
        case let .unary(op, value): return "\(op.rawValue)(\(text(value)))"
        case let .binary(op, lhs, rhs):
            switch op {
            case .add: return "(\(text(lhs)) + \(text(rhs)))"
            case .sub: return "(\(text(lhs)) - \(text(rhs)))"
            case .mul: return "\(text(lhs)) * \(rightOperandText(rhs))"
            case .div: return "\(text(lhs)) / \(rightOperandText(rhs))"
            case .rem: return "\(text(lhs)) % \(rightOperandText(rhs))"
            case .wrappingAdd, .wrappingSub, .wrappingMul, .wrappingDiv, .pow, .min, .max, .lt, .le, .gt, .ge,
                 .eq, .ne, .and, .or, .wrappingRem, .fmod:
                return "\(op.rawValue)(\(text(lhs)), \(text(rhs)))"
            }
        case let .fma(a, b, c): return "fma(\(text(a)), \(text(b)), \(text(c)))"
        case let .select(condition, a, b): return "select(\(text(condition)), \(text(a)), \(text(b)))"
        case let .convert(value, type): return "convert.\(type)(\(text(value)))"
        case let .nmIndex(buffer, element, bits): return "nm_index.\(bits) \(buffer)[\(text(element))]"
        case let .nmDot(dot):
            return "nm_dot.\(dot.n):\(dot.m)(values \(dot.values), indices \(dot.indices), first \(text(dot.first)), kept \(dot.groups * dot.n), "
                + "dense \(dot.dense)[\(text(dot.denseStart))])"
        case let .dot(dot):
            return "dot(\(dot.a)[\(text(dot.aStart))], \(dot.b)[\(text(dot.bStart))], length \(dot.length))"
        case let .intrinsic(intrinsic, arguments):
            return "\(intrinsic.rawValue)(\(arguments.map { text($0) }.joined(separator: ", ")))"
        }
    }
}

/// A program or kernel name after `@`: bare when it is letters, digits, `_` and `.`, quoted otherwise.
func kernelNameText(_ name: String) -> String {
    isBareKernelName(name) ? name : quoteString(name)
}

/// Whether a name prints without quotes.
func isBareKernelName(_ name: String) -> Bool {
    !name.isEmpty && name.utf8.allSatisfy { isKernelWordByte($0) }
}

/// Letters, digits, `_` and `.`: the bytes of a bare name.
func isKernelWordByte(_ byte: UInt8) -> Bool {
    TextScanner.isWordByte(byte)
}

/// A buffer's name in its line's trailing comment: as is, or quoted when it holds a control character
/// (a line break would end the comment) or starts with a quote, so that the parser reads it back exactly.
func bufferNameText(_ name: String) -> String {
    let needsQuotes = name.hasPrefix("\"") || name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    return needsQuotes ? quoteString(name) : name
}
