// Facts of the artifact's C API that every backend writes the same way.
// The C backend spells them as C text, the LLVM backend as constants of its module.

import SieveIR

/// The ONNX TensorProto code of an element type: the artifact's dtype constants and tensor tables.
///
/// The narrow types keep ONNX's codes but not its packing: an artifact's buffers hold them one element per byte
/// (int4 and int2 sign-extended, float8 as raw bits, float4 as its code in the low nibble), as the IR does.
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
    case .u16: return 4
    case .i16: return 5
    case .f8e4m3fn: return 17
    case .f8e5m2: return 19
    case .u4: return 21
    case .i4: return 22
    case .f4e2m1: return 23
    case .u2: return 25
    case .i2: return 26
    }
}
