// The artifact's C API in LLVM IR: the tensor tables and counts, and NAME_create, NAME_init, NAME_context,
// NAME_destroy, NAME_error_string and NAME_run, which call the runtime's context functions (sieve_llvm_support.h).

import CLLVM
import SieveIR
import SieveKernel

/// Writes the exported symbols of one module.
struct APIWriter {
    let program: KernelProgram
    let builder: ModuleBuilder
    let contextBytes: Int
    /// The weights' global; nil when they are in a file (`weightsFile` then gives its default path).
    let weights: LLVMValueRef?
    let weightsFile: (path: String, checksum: UInt64)?

    var name: String { program.name }

    func emit(kernels: [LLVMValueRef?]) {
        tables()
        lifecycle()
        run(kernels: kernels)
    }

    /// A private constant C string.
    func string(_ text: String) -> LLVMValueRef? {
        let b = builder
        let data = LLVMConstStringInContext2(b.context, text, text.utf8.count, 0)
        let global = LLVMAddGlobal(b.module, LLVMTypeOf(data), "\(name).str")!
        LLVMSetInitializer(global, data)
        LLVMSetGlobalConstant(global, 1)
        LLVMSetLinkage(global, LLVMPrivateLinkage)
        LLVMSetUnnamedAddress(global, LLVMGlobalUnnamedAddr)
        return global
    }

    /// An exported constant.
    func exported(_ symbol: String, _ value: LLVMValueRef?) {
        let global = LLVMAddGlobal(builder.module, LLVMTypeOf(value), symbol)!
        LLVMSetInitializer(global, value)
        LLVMSetGlobalConstant(global, 1)
        LLVMSetLinkage(global, LLVMExternalLinkage)
    }

    /// NAME_inputs / NAME_outputs (`{name, dtype, rank, shape, bytes}` per tensor, one empty entry when there is none)
    /// and NAME_num_inputs / NAME_num_outputs.
    func tables() {
        let b = builder
        var fields: [LLVMTypeRef?] = [b.pointer, b.i32, b.i32, b.pointer, b.i64]
        let infoType = LLVMStructTypeInContext(b.context, &fields, 5, 0)!
        func table(_ kind: String, shapes: [[Int]], names: [String], buffers: [BufferID]) {
            var entries: [LLVMValueRef?] = []
            for (index, shape) in shapes.enumerated() {
                let buffer = program.buffers[buffers[index].index]
                var shapeValue = LLVMConstNull(b.pointer)
                if !shape.isEmpty {
                    var dimensions: [LLVMValueRef?] = shape.map { b.int(Int64($0)) }
                    let array = LLVMConstArray2(b.i64, &dimensions, UInt64(shape.count))
                    let global = LLVMAddGlobal(b.module, LLVMTypeOf(array), "\(name)_\(kind)_shape\(index)")!
                    LLVMSetInitializer(global, array)
                    LLVMSetGlobalConstant(global, 1)
                    LLVMSetLinkage(global, LLVMInternalLinkage)
                    shapeValue = global
                }
                let bytes = shape.reduce(1, *) * buffer.elementType.byteSize
                var values: [LLVMValueRef?] = [string(names[index]), b.int32(Int32(artifactDTypeCode(buffer.elementType))),
                                               b.int32(Int32(shape.count)), shapeValue, b.int(Int64(bytes))]
                entries.append(LLVMConstNamedStruct(infoType, &values, 5))
            }
            if entries.isEmpty { entries.append(LLVMConstNull(infoType)) }
            exported("\(name)_\(kind)", LLVMConstArray2(infoType, &entries, UInt64(entries.count)))
        }
        table("inputs", shapes: program.inputShapes, names: program.inputNames, buffers: program.inputs)
        table("outputs", shapes: program.outputShapes, names: program.outputNames, buffers: program.outputs)
        exported("\(name)_num_inputs", b.int32(Int32(program.inputs.count)))
        exported("\(name)_num_outputs", b.int32(Int32(program.outputs.count)))
    }

    /// Defines an exported function and positions the builder in its body.
    func define(_ suffix: String, returns result: LLVMTypeRef, _ parameters: [LLVMTypeRef]) -> LLVMValueRef? {
        let (function, _) = builder.function("\(name)_\(suffix)", returns: result, parameters)
        builder.defining(function)
        LLVMPositionBuilderAtEnd(builder.builder, LLVMAppendBasicBlockInContext(builder.context, function, "entry"))
        return function
    }

    func lifecycle() {
        let b = builder
        let bytes = b.int(Int64(contextBytes))
        var function: LLVMValueRef?
        if let weightsFile {
            // As the C backend's external weights: NAME_create reads the file at the path compiled in.
            let payloadBytes = b.int(Int64(max(64, program.weights.count)))
            let checksum = LLVMConstInt(b.i64, weightsFile.checksum, 0)
            let createWithWeights = define("create_with_weights", returns: b.pointer, [b.pointer, b.i32, b.pointer])
            LLVMBuildRet(b.builder, b.call(.createWithWeights, returns: b.pointer, [
                (bytes, b.i64), (LLVMGetParam(createWithWeights, 1), b.i32), (LLVMGetParam(createWithWeights, 0), b.pointer),
                (payloadBytes, b.i64), (checksum, b.i64), (LLVMGetParam(createWithWeights, 2), b.pointer),
            ]))
            function = define("init_with_weights", returns: b.i32, [b.pointer, b.i64, b.i32, b.pointer, b.i64])
            LLVMBuildRet(b.builder, b.call(.initializeWithWeights, returns: b.i32, [
                (LLVMGetParam(function, 0), b.pointer), (LLVMGetParam(function, 1), b.i64), (bytes, b.i64),
                (LLVMGetParam(function, 2), b.i32), (LLVMGetParam(function, 3), b.pointer), (LLVMGetParam(function, 4), b.i64),
                (payloadBytes, b.i64), (checksum, b.i64),
            ]))
            function = define("create", returns: b.pointer, [b.i32])
            let (target, type) = b.function("\(name)_create_with_weights", returns: b.pointer, [b.pointer, b.i32, b.pointer])
            var arguments: [LLVMValueRef?] = [string(weightsFile.path), LLVMGetParam(function, 0), LLVMConstNull(b.pointer)]
            LLVMBuildRet(b.builder, LLVMBuildCall2(b.builder, type, target, &arguments, 3, ""))
            function = define("init", returns: b.i32, [b.pointer, b.i64, b.i32])
            // SIEVE_ERROR_WEIGHTS_MISSING: external weights need NAME_init_with_weights.
            LLVMBuildRet(b.builder, b.int32(4))
        } else {
            function = define("create", returns: b.pointer, [b.i32])
            LLVMBuildRet(b.builder, b.call(.create, returns: b.pointer, [(bytes, b.i64), (LLVMGetParam(function, 0), b.i32), (weights, b.pointer)]))
            function = define("init", returns: b.i32, [b.pointer, b.i64, b.i32])
            LLVMBuildRet(b.builder, b.call(.initialize, returns: b.i32, [
                (LLVMGetParam(function, 0), b.pointer), (LLVMGetParam(function, 1), b.i64), (bytes, b.i64),
                (LLVMGetParam(function, 2), b.i32), (weights, b.pointer),
            ]))
        }
        function = define("context", returns: b.pointer, [b.pointer])
        LLVMBuildRet(b.builder, b.call(.context, returns: b.pointer, [(LLVMGetParam(function, 0), b.pointer)]))
        function = define("destroy", returns: b.void, [b.pointer])
        b.call(.destroy, returns: b.void, [(LLVMGetParam(function, 0), b.pointer)])
        LLVMBuildRetVoid(b.builder)
        function = define("error_string", returns: b.pointer, [b.i32])
        LLVMBuildRet(b.builder, b.call(.errorString, returns: b.pointer, [(LLVMGetParam(function, 0), b.i32)]))
    }

    /// NAME_run: checks the pointers and fills the state, then runs the kernels in order, stopping at the first error.
    func run(kernels: [LLVMValueRef?]) {
        let b = builder, ir = b.builder
        let function = define("run", returns: b.i32, [b.pointer, b.pointer, b.pointer])
        LLVMSetCurrentDebugLocation2(ir, b.debugInfo?.attachRun(function, symbol: "\(name)_run"))
        defer { LLVMSetCurrentDebugLocation2(ir, nil) }
        let error = LLVMBuildAlloca(ir, b.i32, "error")!
        let state = LLVMBuildAlloca(ir, b.stateType, "state")!
        let status = b.call(.beginRun, returns: b.i32, [
            (LLVMGetParam(function, 0), b.pointer), (LLVMGetParam(function, 1), b.pointer), (b.int32(Int32(program.inputs.count)), b.i32),
            (LLVMGetParam(function, 2), b.pointer), (b.int32(Int32(program.outputs.count)), b.i32), (error, b.pointer), (state, b.pointer),
        ])
        func returnUnlessZero(_ code: LLVMValueRef?) {
            let failed = LLVMAppendBasicBlockInContext(b.context, function, "failed")
            let next = LLVMAppendBasicBlockInContext(b.context, function, "next")
            LLVMBuildCondBr(ir, LLVMBuildICmp(ir, LLVMIntNE, code, b.int32(0), ""), failed, next)
            LLVMPositionBuilderAtEnd(ir, failed)
            LLVMBuildRet(ir, code)
            LLVMPositionBuilderAtEnd(ir, next)
        }
        returnUnlessZero(status)
        for kernel in kernels {
            let (_, type) = b.function(String(cString: LLVMGetValueName(kernel)), returns: b.void, [b.pointer])
            var arguments: [LLVMValueRef?] = [state]
            LLVMBuildCall2(ir, type, kernel, &arguments, 1, "")
            let code = LLVMBuildLoad2(ir, b.i32, error, "")!
            LLVMSetOrdering(code, LLVMAtomicOrderingMonotonic)
            LLVMSetAlignment(code, 4)
            returnUnlessZero(code)
        }
        LLVMBuildRet(ir, b.int32(0))
    }
}
