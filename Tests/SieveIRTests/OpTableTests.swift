// Checks that op facts live in one table: each elementwise function is named in few source files,
// and the passes ask traits instead of listing ops.

import Foundation
import SieveIR
import Testing

@Suite struct OpTableTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every Swift source file of the compiler except generated code, with its code: comments are left out, so that
    /// prose ("sign-extended", "the relu below") does not count as naming a function.
    static func sources() throws -> [(path: String, text: String)] {
        let sourcesFolder = root.appendingPathComponent("Sources")
        guard let walker = FileManager.default.enumerator(at: sourcesFolder, includingPropertiesForKeys: nil) else { return [] }
        var files: [(String, String)] = []
        for case let url as URL in walker where url.pathExtension == "swift" && !url.path.contains("/generated/") {
            let text = try String(contentsOf: url, encoding: .utf8)
            files.append((String(url.path.dropFirst(root.path.count + 1)), text.split(separator: "\n", omittingEmptySubsequences: false)
                .map(withoutComment).joined(separator: "\n")))
        }
        return files
    }

    /// A line without its `//` comment (a `//` inside a string literal, after an odd number of quotes, stays).
    static func withoutComment(_ line: Substring) -> Substring {
        var quotes = 0, previous: Character = " "
        for index in line.indices {
            let character = line[index]
            if character == "\"" { quotes += 1 }
            if character == "/", previous == "/", quotes % 2 == 0 { return line[..<line.index(before: index)] }
            previous = character
        }
        return line
    }

    /// Every unary function the text format knows, built with zero parameters.
    static func unaryFunctions() throws -> [UnaryFunction] {
        var functions: [UnaryFunction] = []
        for mnemonic in OpKind.mnemonics {
            guard let kind = try? OpKind.make(mnemonic: mnemonic, attributes: zeroAttributes(mnemonic)),
                  case let .unary(function) = kind else { continue }
            functions.append(function)
        }
        return functions
    }

    /// Attributes that satisfy `OpKind.make` for a mnemonic whose attributes are all numbers.
    static func zeroAttributes(_ mnemonic: String) -> [String: AttributeValue] {
        if let declaration = UnaryFunction.declarations[mnemonic] {
            return Dictionary(uniqueKeysWithValues: declaration.parameters.map { ($0, AttributeValue.float(0)) })
        }
        for names in [[], ["alpha"], ["min", "max"], ["alpha", "beta"]] {
            let attributes = Dictionary(uniqueKeysWithValues: names.map { ($0, AttributeValue.float(0)) })
            if (try? OpKind.make(mnemonic: mnemonic, attributes: attributes)) != nil { return attributes }
        }
        return [:]
    }

    /// The Swift case name of a function: `leakyRelu` for `.leakyRelu(alpha: 0.0)`.
    static func caseName(_ function: UnaryFunction) -> String {
        String(String(describing: function).prefix { $0 != "(" })
    }

    /// Whether `text` names `word` as a whole identifier (as `.word` or `case word`).
    static func names(_ text: String, _ word: String) -> Bool {
        var searchStart = text.startIndex
        while let range = text.range(of: word, range: searchStart..<text.endIndex) {
            let before = range.lowerBound > text.startIndex ? text[text.index(before: range.lowerBound)] : " "
            let after = range.upperBound < text.endIndex ? text[range.upperBound] : " "
            if (before == "." || before == " ") && !(after.isLetter || after.isNumber || after == "_") { return true }
            searchStart = range.upperBound
        }
        return false
    }

    @Test func everyUnaryFunctionIsFound() throws {
        let functions = try Self.unaryFunctions()
        #expect(functions.count >= 11)
        #expect(functions.contains(.hardSigmoid(alpha: 0, beta: 0)))
        #expect(functions.contains(.leakyRelu(alpha: 0)))
        // The elementwise group of #12, parameters of every arity included.
        #expect(functions.count >= 30)
        #expect(functions.contains(.selu(alpha: 0, gamma: 0)))
        #expect(functions.contains(.logicalNot))
    }

    /// The activations of the elementwise group (#12) are fusable into product epilogues; math functions and
    /// predicates are not.
    @Test func elementwiseGroupActivations() {
        for function in [UnaryFunction.hardSwish, .elu(alpha: 1), .selu(alpha: 1, gamma: 1), .softplus, .mish, .softsign,
                         .celu(alpha: 1), .thresholdedRelu(alpha: 1)] {
            #expect(OpKind.unary(function).traits.contains(.activation), "\(function.mnemonic)")
        }
        for function in [UnaryFunction.absolute, .logarithm, .roundEven, .isNan, .logicalNot] {
            #expect(!OpKind.unary(function).traits.contains(.activation), "\(function.mnemonic)")
        }
        #expect(OpKind.binary(.max).traits.contains(.commutative) && !OpKind.binary(.prelu).traits.contains(.commutative))
    }

    /// Adding an activation touches its declaration, the interpreter, the lowering and the ONNX converter
    /// among the sources (plus docs and tests): at most 8 source files may name any unary function. The backends
    /// (C and LLVM) count as one place: a function they name is a kernel-IR intrinsic, which every backend must
    /// emit.
    @Test func eachActivationIsNamedInFewSourceFiles() throws {
        let sources = try Self.sources()
        #expect(sources.count > 50)
        for function in try Self.unaryFunctions() {
            let name = Self.caseName(function)
            let files = sources.filter { Self.names($0.text, name) || $0.text.contains("\"\(function.mnemonic)\"") }
            let backends = files.filter { $0.path.hasPrefix("Sources/SieveCodegen") }
            let naming = files.filter { !$0.path.hasPrefix("Sources/SieveCodegen") } + backends.prefix(1)
            // Beyond the four semantic files and the docs: gelu is also recognised from its Erf decomposition
            // (PatternRecognition) and is a kernel-IR intrinsic (KernelIR, KernelVerifier, CEmitter), and the
            // text format spells its tanh form specially (OpSyntax); tanh is also what the recurrent cells' ScaledTanh
            // activation decomposes into (alpha * tanh(beta * x), Recurrent.swift).
            let limit = (function.isActivation ? 8 : 10) + (name == "gelu" || name == "tanh" ? 1 : 0)
            #expect(naming.count <= limit, "\(name) is named in \(naming.count) source files: \(naming.map(\.path).sorted())")
        }
    }

    /// The activation added with the op table (HardSigmoid) is named only where its semantics live: the IR's table, the
    /// interpreter, the lowering, and the ONNX op table with its converter's table of defaults (which the recurrent
    /// cells' activation list reads too).
    @Test func hardSigmoidIsNamedOnlyWhereItIsRead() throws {
        let naming = try Self.sources().filter { Self.names($0.text, "hardSigmoid") || $0.text.contains("HardSigmoid") }
        #expect(Set(naming.map(\.path)) == [
            "Sources/SieveIR/ElementwiseFunctions.swift",
            "Sources/SieveInterpreter/Elementwise.swift",
            "Sources/SieveKernel/LowerElementwise.swift",
            "Sources/SieveONNX/ElementwiseOperators.swift",
            "Sources/SieveONNX/Operators.swift",
        ])
    }

    /// Passes, plan-memory and the importer ask traits: they no longer list "not this op" cases.
    @Test func passesDoNotListUnrelatedOps() throws {
        for source in try Self.sources() where source.path.hasPrefix("Sources/SievePasses/")
            || source.path.hasSuffix("PlanMemory.swift") || source.path.hasSuffix("GraphBuilder.swift") {
            // A list of the non-product ops, as the old "not this op" switches spelled them.
            #expect(!source.text.contains(".globalAveragePool, .globalMaxPool, .quantize, .dequantize"),
                    "\(source.path) lists unrelated ops instead of asking a trait")
        }
    }

    @Test func traitsGroupTheOps() throws {
        #expect(OpKind.unary(.relu).traits.contains(.activation))
        #expect(!OpKind.unary(.exp).traits.contains(.activation))
        #expect(OpKind.unary(.hardSigmoid(alpha: 0.2, beta: 0.5)).traits.contains(.activation))
        #expect(OpKind.binary(.add).traits.contains(.commutative))
        #expect(!OpKind.binary(.sub).traits.contains(.commutative))
        #expect(OpKind.reshape.traits.contains(.view) && OpKind.reshape.needsDeclaredResult)
        #expect(!OpKind.transpose(permutation: [1, 0]).traits.contains(.view))
        #expect(OpKind.matmul(transposeB: true).isKernelBearing)
        #expect(!OpKind.dequantize.traits.contains(.foldsAtImport))
        #expect(OpKind.conv2d(Conv2DAttributes()).traits.contains(.product))
    }
}
