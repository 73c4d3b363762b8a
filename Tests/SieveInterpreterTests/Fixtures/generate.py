# Generates the NumPy fixtures of SieveInterpreterTests: reference values computed independently in float64.
# Run once with `python3 generate.py` in this folder; the tests read the committed outputs, not this script.
import math
import numpy as np

rng = np.random.default_rng(20240501)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# --- dtype files: one .npy per supported dtype, written by NumPy itself -------------------------
# These and the two archives are SieveFormatsTests' fixtures: they are written into its folder.
import os
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../SieveFormatsTests/Fixtures"))
np.save("dtype_f4.npy", np.array([[1.5, -2.25, 3.0], [0.0, -0.0, 1e-8]], dtype="<f4"))
np.save("dtype_f2.npy", np.array([1.0, -0.5, 65504.0, 6.1035e-05], dtype="<f2"))
np.save("dtype_i1.npy", np.array([-128, -1, 0, 127], dtype="i1"))
np.save("dtype_u1.npy", np.array([[0, 1], [128, 255]], dtype="u1"))
np.save("dtype_i4.npy", np.array([-(2**31), 7, 2**31 - 1], dtype="<i4"))
np.save("dtype_i8.npy", np.array([-(2**63), 2**53 + 1, 2**63 - 1], dtype="<i8"))
np.save("dtype_b1.npy", np.array([True, False, True], dtype="?"))
np.save("scalar_f4.npy", np.array(3.5, dtype="<f4"))
np.save("empty_f4.npy", np.zeros((0, 3), dtype="<f4"))
with open("version2.npy", "wb") as f:
    np.lib.format.write_array(f, np.arange(6, dtype="<i4").reshape(2, 3), version=(2, 0))
with open("version3.npy", "wb") as f:
    np.lib.format.write_array(f, np.arange(4, dtype="<f4"), version=(3, 0))
np.save("fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
np.save("bigendian.npy", np.arange(3, dtype=">f4"))
np.savez("archive_stored.npz", a=np.arange(5, dtype="<i8"), b=np.eye(2, dtype="<f4"))
np.savez_compressed("archive_deflate.npz", weights=np.linspace(-1, 1, 1000, dtype="<f4").reshape(10, 100),
                    mask=np.arange(12).reshape(3, 4) % 3 == 0)
os.chdir(os.path.dirname(os.path.abspath(__file__)))

# --- matmul with batch broadcasting ---------------------------------------------------------------
a, b = f32(2, 1, 3, 4), f32(3, 4, 5)
np.savez("matmul_broadcast.npz", a=a, b=b, expected=(a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32))

# --- grouped, strided, dilated, padded convolution (direct loops in float64) ----------------------
def conv(x, w, bias, strides, pads, dilations, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h + pads[0] + pads[2] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    y = np.zeros((n, o, oh, ow))
    og = o // groups
    for b_ in range(n):
        for oc in range(o):
            g = oc // og
            for i in range(oh):
                for j in range(ow):
                    s = bias[oc]
                    for ic in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                yy = i * strides[0] - pads[0] + p * dilations[0]
                                xx = j * strides[1] - pads[1] + q * dilations[1]
                                if 0 <= yy < h and 0 <= xx < wd:
                                    s += float(x[b_, g * cg + ic, yy, xx]) * float(w[oc, ic, p, q])
                    y[b_, oc, i, j] = s
    return y.astype(np.float32)


x, w, bias = f32(2, 4, 7, 6), f32(6, 2, 3, 2), f32(6)
np.savez("conv_grouped.npz", x=x, w=w, bias=bias,
         expected=conv(x, w, bias, strides=(2, 1), pads=(1, 0, 2, 1), dilations=(1, 2), groups=2))

# --- softmax, layer norm, gelu --------------------------------------------------------------------
x = f32(3, 4, 5) * 4
x64 = x.astype(np.float64)
e = np.exp(x64 - x64.max(axis=1, keepdims=True))
np.savez("softmax_axis1.npz", x=x, expected=(e / e.sum(axis=1, keepdims=True)).astype(np.float32))

x, scale, lbias = f32(2, 3, 4), f32(3, 4), f32(4)
x64 = x.astype(np.float64)
mean = x64.mean(axis=(1, 2), keepdims=True)
var = ((x64 - mean) ** 2).mean(axis=(1, 2), keepdims=True)
np.savez("layer_norm_axis1.npz", x=x, scale=scale, bias=lbias,
         expected=((x64 - mean) / np.sqrt(var + 1e-5) * scale + lbias).astype(np.float32))

x = np.linspace(-5, 5, 41, dtype=np.float32)
np.savez("gelu.npz", x=x,
         exact=np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)], dtype=np.float32),
         tanh=np.array([0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
                        for v in x.astype(np.float64)], dtype=np.float32))

# --- pooling with ceil mode (ONNX semantics, direct loops) ----------------------------------------
def pool(x, kernel, strides, pads, ceil, mode, include_pad):
    n, c, h, wd = x.shape
    def out(size, k, s, pb, pe):
        span = size + pb + pe - k
        o = (-(-span // s) if ceil else span // s) + 1
        if ceil and (o - 1) * s >= size + pb:
            o -= 1
        return o
    oh, ow = out(h, kernel[0], strides[0], pads[0], pads[2]), out(wd, kernel[1], strides[1], pads[1], pads[3])
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            ys = [i * strides[0] - pads[0] + p for p in range(kernel[0])]
            xs = [j * strides[1] - pads[1] + q for q in range(kernel[1])]
            valid = [(a_, b_) for a_ in ys for b_ in xs if 0 <= a_ < h and 0 <= b_ < wd]
            padded = [(a_, b_) for a_ in ys for b_ in xs
                      if -pads[0] <= a_ < h + pads[2] and -pads[1] <= b_ < wd + pads[3]]
            vals = np.array([x[:, :, a_, b_] for a_, b_ in valid], dtype=np.float64)
            if mode == "max":
                y[:, :, i, j] = vals.max(axis=0)
            else:
                y[:, :, i, j] = vals.sum(axis=0) / (len(padded) if include_pad else len(valid))
    return y.astype(np.float32)


x = f32(1, 2, 6, 7)
np.savez("pool_ceil.npz", x=x,
         max=pool(x, (3, 2), (2, 2), (1, 0, 1, 0), True, "max", False),
         average=pool(x, (3, 2), (2, 2), (1, 0, 1, 0), True, "average", False),
         average_include_pad=pool(x, (3, 2), (2, 2), (1, 0, 1, 0), True, "average", True))

# --- quantize: round half to even and saturation --------------------------------------------------
# x / 2 lands exactly on halves, which must round to the even neighbour; zero point 3.
x = np.array([-600.0, -5.0, -3.0, -1.0, 1.0, 3.0, 5.0, 6.98, 200.0, 600.0], dtype=np.float32)
np.savez("quantize_i8.npz", x=x,
         expected=np.clip(np.rint(x / np.float32(2.0)) + 3, -128, 127).astype(np.int8))
