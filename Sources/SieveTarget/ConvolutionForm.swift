// The three ways lowering computes a conv2d, decided from shapes and attributes alone.

import SieveIR

/// How a conv2d is computed; lowering (`scratchBytes`, `lowerConvolution`) and `KernelProblem` agree through it.
public enum ConvolutionForm: Equatable, Sendable {
    /// One filter per channel (groups = channels = output channels) and a dense f32 weight: each output plane is
    /// accumulated tap by tap from its own input plane, a vector of output columns at a time. No scratch.
    case depthwise
    /// A 1x1 kernel with stride 1 and no padding: each image's [channel][pixel] planes already are the GEMM's
    /// reduction-major operand. No scratch.
    case pointwise
    /// Anything else: every patch copied into an im2col scratch, then a GEMM over it.
    case im2col

    /// The form for an NCHW input shape, an OIHW weight shape and the attributes; `directWeight` says whether the
    /// depthwise loop nest can read the weight (dense and float: its taps are f32 registers).
    public init(input: [Int], weight: [Int], attributes: Conv2DAttributes, directWeight: Bool) {
        let channels = input[1]
        if directWeight && attributes.groups > 1 && attributes.groups == channels && weight[0] == channels && weight[1] == 1 {
            self = .depthwise
        } else if weight[2] == 1 && weight[3] == 1 && attributes.strides == [1, 1] && attributes.pads == [0, 0, 0, 0] {
            self = .pointwise
        } else {
            self = .im2col
        }
    }
}
