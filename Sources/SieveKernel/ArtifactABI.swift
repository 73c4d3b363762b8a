// Facts of the artifact's C API that every backend writes the same way.
// The C backend spells them as C text, the LLVM backend as constants of its module.

import SieveIR

/// The ONNX TensorProto code of an element type: the artifact's dtype constants and tensor tables.
public func artifactDTypeCode(_ type: ElementType) -> Int {
    switch type {
    case .f32: return 1
    case .u8: return 2
    case .i8: return 3
    case .i32: return 6
    case .i64: return 7
    case .bool: return 9
    case .f16: return 10
    case .bf16: return 16
    }
}
