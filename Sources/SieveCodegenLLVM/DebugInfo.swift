// Debug info that maps kernels back to the graph: one compile unit for the program, one DISubprogram per kernel
// function (the serial driver and each parallel task) whose file and line are the graph location the kernel was
// lowered from, and that location on every instruction the kernel emits. A debugger, profiler (perf) or
// llvm-dwarfdump then names the model file and line (textual IR) or node (ONNX: line = node number + 1).

import CLLVM
import Foundation
import SieveKernel

/// Where a kernel came from, as its `location` text spells it (`Location.description` plus ` -> %value`).
struct KernelSourcePosition: Equatable {
    /// The model file (a `.sir` file or the ONNX model).
    var path: String
    /// The 1-based line: the op's line in textual IR, or the ONNX node's number + 1; 0 when unknown.
    var line: Int
    var column: Int

    init(path: String, line: Int, column: Int) {
        self.path = path
        self.line = line
        self.column = column
    }

    /// Reads `path:line:column -> …` (textual IR), `model: node #N 'name' -> …` (ONNX) or a bare path.
    init(location text: String) {
        var text = Substring(text)
        if let arrow = text.range(of: " -> ", options: .backwards) { text = text[..<arrow.lowerBound] }
        if let node = text.range(of: ": node #") {
            path = String(text[..<node.lowerBound])
            line = Int(text[node.upperBound...].prefix { $0.isNumber }).map { $0 + 1 } ?? 0
            column = 0
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count >= 3, let line = Int(parts[parts.count - 2]), let column = Int(parts[parts.count - 1]) {
            path = parts.dropLast(2).joined(separator: ":")
            self.line = line
            self.column = column
        } else {
            path = text == "<unknown>" ? "" : String(text)
            line = 0
            column = 0
        }
    }
}

/// The debug info of one module, finalised once every kernel is written.
final class ModuleDebugInfo {
    private let builder: LLVMDIBuilderRef
    private let context: LLVMContextRef
    private let unit: LLVMMetadataRef
    private let subroutineType: LLVMMetadataRef
    private var files: [String: LLVMMetadataRef] = [:]
    private let unitPath: String

    init(module: LLVMModuleRef, context: LLVMContextRef, program: KernelProgram) {
        self.context = context
        builder = LLVMCreateDIBuilder(module)
        func flag(_ key: String, _ value: UInt64) {
            let metadata = LLVMValueAsMetadata(LLVMConstInt(LLVMInt32TypeInContext(context), value, 0))
            LLVMAddModuleFlag(module, LLVMModuleFlagBehaviorWarning, key, key.utf8.count, metadata)
        }
        flag("Debug Info Version", UInt64(LLVMDebugMetadataVersion()))
        flag("Dwarf Version", 5)
        let first = program.kernels.lazy.map { KernelSourcePosition(location: $0.location).path }.first { !$0.isEmpty }
        let unitFile = ModuleDebugInfo.file(builder, path: first ?? "\(program.name).sir")
        let producer = "sieve (LLVM backend)"
        unit = LLVMDIBuilderCreateCompileUnit(builder, LLVMDWARFSourceLanguageC11, unitFile, producer, producer.utf8.count, 1, "", 0, 0,
                                              "", 0, LLVMDWARFEmissionFull, 0, 0, 0, "", 0, "", 0)
        subroutineType = LLVMDIBuilderCreateSubroutineType(builder, unitFile, nil, 0, LLVMDIFlagZero)
        unitPath = first ?? "\(program.name).sir"
        files[unitPath] = unitFile
    }

    private static func file(_ builder: LLVMDIBuilderRef, path: String) -> LLVMMetadataRef {
        let url = URL(fileURLWithPath: path)
        let name = url.lastPathComponent, folder = path.contains("/") ? url.deletingLastPathComponent().path : ""
        return LLVMDIBuilderCreateFile(builder, name, name.utf8.count, folder, folder.utf8.count)
    }

    /// Gives `function` (named `symbol`) a subprogram at the kernel's position; returns the location its
    /// instructions carry.
    func attach(_ function: LLVMValueRef?, symbol: String, kernel: Kernel) -> LLVMMetadataRef? {
        attach(function, symbol: symbol, position: KernelSourcePosition(location: kernel.location), local: true)
    }

    /// Gives NAME_run a subprogram (the model file, line 0) and returns the location its calls carry: the kernels
    /// inlined into it keep their own subprograms as inlined subroutines, which they would lose under a caller
    /// without debug info.
    func attachRun(_ function: LLVMValueRef?, symbol: String) -> LLVMMetadataRef? {
        attach(function, symbol: symbol, position: KernelSourcePosition(path: unitPath, line: 0, column: 0), local: false)
    }

    private func attach(_ function: LLVMValueRef?, symbol: String, position: KernelSourcePosition, local: Bool) -> LLVMMetadataRef? {
        let path = position.path.isEmpty ? "<unknown>" : position.path
        let file = files[path] ?? ModuleDebugInfo.file(builder, path: path)
        files[path] = file
        let line = UInt32(clamping: position.line)
        let subprogram = LLVMDIBuilderCreateFunction(builder, file, symbol, symbol.utf8.count, symbol, symbol.utf8.count, file, line,
                                                     subroutineType, local ? 1 : 0, 1, line, LLVMDIFlagZero, 1)
        LLVMSetSubprogram(function, subprogram)
        return LLVMDIBuilderCreateDebugLocation(context, line, UInt32(clamping: position.column), subprogram, nil)
    }

    /// Resolves the metadata; call once, after the last function.
    func finalize() {
        LLVMDIBuilderFinalize(builder)
        LLVMDisposeDIBuilder(builder)
    }
}
