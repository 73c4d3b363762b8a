// Lane-wise e^x, sigmoid and exact GELU on f32 vectors, instruction for instruction as the C backend's sieve_exp_f32xN and
// sieve_gelu_f32xN (CEmitter.vectorMathHelpers documents the method and its error), so that both backends agree bit for bit.

import CLLVM

/// Builds the vector math of one width at the builder's position.
struct VectorMath {
    let builder: ModuleBuilder
    let width: Int

    var b: LLVMBuilderRef { builder.builder }

    func splat(_ value: Float) -> LLVMValueRef? {
        var lanes: [LLVMValueRef?] = (0..<width).map { _ in builder.float(value) }
        return LLVMConstVector(&lanes, UInt32(width))
    }

    func splat(_ value: Int32) -> LLVMValueRef? {
        var lanes: [LLVMValueRef?] = (0..<width).map { _ in builder.int32(value) }
        return LLVMConstVector(&lanes, UInt32(width))
    }

    func mul(_ x: LLVMValueRef?, _ y: LLVMValueRef?) -> LLVMValueRef? { LLVMBuildFMul(b, x, y, "") }
    func add(_ x: LLVMValueRef?, _ y: LLVMValueRef?) -> LLVMValueRef? { LLVMBuildFAdd(b, x, y, "") }
    func sub(_ x: LLVMValueRef?, _ y: LLVMValueRef?) -> LLVMValueRef? { LLVMBuildFSub(b, x, y, "") }

    /// `sieve_fma_f32xN`: fused where the target has FMA, else a multiply and an add.
    func fma(_ x: LLVMValueRef?, _ y: LLVMValueRef?, _ z: LLVMValueRef?) -> LLVMValueRef? {
        if builder.target.fusedVectorFMA { return builder.intrinsic("llvm.fma", overloads: [builder.vector(width)], [x, y, z]) }
        return add(mul(x, y), z)
    }

    /// `sieve_min_f32xN` / `sieve_max_f32xN`: the second operand where it compares strictly beyond the first.
    func pick(_ x: LLVMValueRef?, _ y: LLVMValueRef?, minimum: Bool) -> LLVMValueRef? {
        LLVMBuildSelect(b, LLVMBuildFCmp(b, minimum ? LLVMRealOLT : LLVMRealOGT, y, x, ""), y, x, "")
    }

    func bits(_ x: LLVMValueRef?) -> LLVMValueRef? { LLVMBuildBitCast(b, x, builder.intVector(width), "") }
    func floats(_ x: LLVMValueRef?) -> LLVMValueRef? { LLVMBuildBitCast(b, x, builder.vector(width), "") }

    /// All ones in the lanes where `x < limit`, as C's vector comparison gives.
    func lessMask(_ x: LLVMValueRef?, _ limit: Float) -> LLVMValueRef? {
        LLVMBuildSExt(b, LLVMBuildFCmp(b, LLVMRealOLT, x, splat(limit), ""), builder.intVector(width), "")
    }

    func exp(_ input: LLVMValueRef?) -> LLVMValueRef? {
        let underflow = lessMask(input, -87.3365447505531)
        var x = pick(input, splat(Float(88.3762626647949)), minimum: true)
        x = pick(x, splat(Float(-87.3365447505531)), minimum: false)
        let t = add(mul(x, splat(Float(1.44269504088896341))), splat(Float(12582912.0)))
        let n = sub(t, splat(Float(12582912.0)))
        var r = sub(x, mul(n, splat(Float(0.693359375))))
        r = sub(r, mul(n, splat(Float(-2.12194440e-4))))
        var p = splat(Float(1.9875691500e-4))
        for coefficient: Float in [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1] {
            p = fma(p, r, splat(coefficient))
        }
        let y = add(fma(mul(p, r), r, r), splat(Float(1.0)))
        let exponent = LLVMBuildAdd(b, LLVMBuildSub(b, bits(t), splat(Int32(0x4B40_0000)), ""), splat(Int32(127)), "")
        let scale = LLVMBuildShl(b, exponent, splat(Int32(23)), "")
        let scaled = bits(mul(y, floats(scale)))
        return floats(LLVMBuildAnd(b, scaled, LLVMBuildNot(b, underflow, ""), ""))
    }

    /// `sieve_sigmoid_f32xN`: 1 / (1 + e) where x >= 0, e / (1 + e) below, e = e^-|x|.
    func sigmoid(_ x: LLVMValueRef?) -> LLVMValueRef? {
        let magnitude = pick(x, LLVMBuildFNeg(b, x, ""), minimum: false)
        let e = exp(LLVMBuildFNeg(b, magnitude, ""))
        let r = LLVMBuildFDiv(b, splat(Float(1.0)), add(splat(Float(1.0)), e), "")
        let negative = lessMask(x, 0)
        let below = LLVMBuildAnd(b, bits(mul(e, r)), negative, "")
        let above = LLVMBuildAnd(b, bits(r), LLVMBuildNot(b, negative, ""), "")
        return floats(LLVMBuildOr(b, below, above, ""))
    }

    func gelu(_ x: LLVMValueRef?) -> LLVMValueRef? {
        let coefficients: [Float] = [0.18478002, 0.1857722, 0.16584584, 0.20485218, -0.04685431, 0.49414727,
                                     -0.55057555, 0.6196511, -0.31359786, 0.055979118]
        let negated = LLVMBuildFNeg(b, x, "")!
        let z = mul(pick(x, negated, minimum: false), splat(Float(0.70710678118654752)))
        let t = LLVMBuildFDiv(b, splat(Float(1.0)), add(splat(Float(1.0)), mul(splat(Float(0.3275911)), z)), "")!
        var p = splat(coefficients[9])
        for coefficient in coefficients.dropLast().reversed() { p = fma(p, t, splat(coefficient)) }
        let square = mul(x, x)
        let z2 = mul(splat(Float(0.5)), square)
        let rounding = mul(splat(Float(0.5)), fma(x, x, LLVMBuildFNeg(b, square, "")))
        let e = exp(LLVMBuildFNeg(b, z2, ""))
        let half = mul(mul(mul(mul(splat(Float(0.5)), t), p), e), sub(splat(Float(1.0)), rounding))
        let negative = lessMask(x, 0)
        let below = LLVMBuildAnd(b, bits(half), negative, "")
        let above = LLVMBuildAnd(b, bits(sub(splat(Float(1.0)), half)), LLVMBuildNot(b, negative, ""), "")
        return mul(x, floats(LLVMBuildOr(b, below, above, "")))
    }
}
