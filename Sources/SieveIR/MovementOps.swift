// Attributes and index rules of the data-movement ops pad, resize and the scatter family.
// The interpreter and lowering both read source positions from here, so they agree element for element.

/// How `pad` fills positions outside the operand.
public enum PadMode: String, Hashable, Sendable, CaseIterable {
    /// A constant value.
    case constant
    /// Mirror without repeating the edge element (`3 2 | 1 2 3 | 2 1`).
    case reflect
    /// Repeat the edge element.
    case edge
    /// Wrap around (`2 3 | 1 2 3 | 1 2`).
    case wrap

    /// The operand index that result position `position` reads along an axis of `size` elements padded by
    /// `begin` before (negative `begin` crops), or nil where the constant fills.
    ///
    /// Reflect and wrap repeat periodically when a pad is wider than the axis (as NumPy's `pad` does).
    /// The type rule guarantees `size > 0` whenever a non-constant mode reads outside the operand.
    public func sourceIndex(_ position: Int, begin: Int, size: Int) -> Int? {
        let coordinate = position - begin
        if coordinate >= 0 && coordinate < size { return coordinate }
        switch self {
        case .constant: return nil
        case .edge: return coordinate < 0 ? 0 : size - 1
        case .wrap:
            let wrapped = coordinate % size
            return wrapped < 0 ? wrapped + size : wrapped
        case .reflect:
            guard size > 1 else { return 0 }
            let period = 2 * (size - 1)
            var folded = coordinate % period
            if folded < 0 { folded += period }
            return folded < size ? folded : period - folded
        }
    }
}

/// How `resize` computes a result element from the operand elements around its source coordinate.
public enum ResizeMode: String, Hashable, Sendable, CaseIterable {
    /// The nearest element, chosen by the nearest mode.
    case nearest
    /// Linear interpolation along every axis (bilinear in 2-D).
    case linear
}

/// How a result coordinate maps to an operand coordinate (ONNX `coordinate_transformation_mode`).
public enum CoordinateTransformation: String, Hashable, Sendable, CaseIterable {
    case halfPixel = "half_pixel"
    case halfPixelSymmetric = "half_pixel_symmetric"
    case pytorchHalfPixel = "pytorch_half_pixel"
    case alignCorners = "align_corners"
    case asymmetric
    case tfHalfPixelForNN = "tf_half_pixel_for_nn"
    case tfCropAndResize = "tf_crop_and_resize"
}

/// How nearest resizing rounds a fractional source coordinate (ONNX `nearest_mode`).
public enum NearestMode: String, Hashable, Sendable, CaseIterable {
    case roundPreferFloor = "round_prefer_floor"
    case roundPreferCeil = "round_prefer_ceil"
    case floor
    case ceil
}

/// Attributes of `resize`: the interpolation, the coordinate rule and the per-axis scales it uses.
///
/// The result shape is the declared result type's; `scales` are the factors the coordinate rule divides
/// by (ONNX's scales, or output size / input size when the model gave sizes).
public struct ResizeAttributes: Hashable, Sendable {
    /// Nearest or linear.
    public var mode: ResizeMode
    /// The coordinate transformation.
    public var coordinateTransformation: CoordinateTransformation
    /// Rounding for nearest resizing (ignored by linear).
    public var nearestMode: NearestMode
    /// One positive scale per axis.
    public var scales: [Float]
    /// For `tf_crop_and_resize`: starts then ends of the crop box per axis, as fractions of the axis; else empty.
    public var roi: [Float]
    /// For `tf_crop_and_resize`: the value of result elements whose source lies outside the operand.
    public var extrapolationValue: Float

    /// Makes resize attributes.
    public init(mode: ResizeMode, coordinateTransformation: CoordinateTransformation = .halfPixel,
                nearestMode: NearestMode = .roundPreferFloor, scales: [Float], roi: [Float] = [],
                extrapolationValue: Float = 0) {
        self.mode = mode
        self.coordinateTransformation = coordinateTransformation
        self.nearestMode = nearestMode
        self.scales = scales
        self.roi = roi
        self.extrapolationValue = extrapolationValue
    }

    /// Where one result position reads along one axis: operand indices `lower` and `upper` mixed as
    /// `(1 - weight) * x[lower] + weight * x[upper]`; `lower` is -1 where the result is the extrapolation value.
    public struct Tap: Hashable, Sendable {
        public var lower: Int
        public var upper: Int
        public var weight: Float
    }

    /// The taps of every result position along `axis`, from an operand size to a result size.
    ///
    /// Follows the ONNX reference implementation: coordinates in double precision, the float output
    /// width `scale * inputSize` in `align_corners` and `half_pixel_symmetric`, neighbours clamped to the axis.
    public func taps(axis: Int, inputSize: Int, outputSize: Int) -> [Tap] {
        let scale = Double(scales[axis])
        let size = Double(inputSize)
        let width = scale * size
        func clamp(_ index: Int) -> Int { min(max(index, 0), inputSize - 1) }
        return (0..<outputSize).map { position in
            let o = Double(position)
            var x: Double
            switch coordinateTransformation {
            case .halfPixel: x = (o + 0.5) / scale - 0.5
            case .halfPixelSymmetric:
                let adjustment = Double(outputSize) / width
                x = size / 2 * (1 - adjustment) + (o + 0.5) / scale - 0.5
            case .pytorchHalfPixel: x = outputSize > 1 ? (o + 0.5) / scale - 0.5 : 0
            case .alignCorners: x = width == 1 ? 0 : o * (size - 1) / (width - 1)
            case .asymmetric: x = o / scale
            case .tfHalfPixelForNN: x = (o + 0.5) / scale
            case .tfCropAndResize:
                let start = Double(roi[axis]), end = Double(roi[axis + scales.count])
                x = width == 1 ? (end - start) * (size - 1) / 2 : o * (end - start) * (size - 1) / (width - 1)
                x += start * (size - 1)
                if x < 0 || x > size - 1 { return Tap(lower: -1, upper: -1, weight: 0) }
            }
            let below = x.rounded(.down)
            let fraction = x - below
            let base = Int(max(min(below, 1e15), -1e15))
            switch mode {
            case .linear:
                return Tap(lower: clamp(base), upper: clamp(base + 1), weight: Float(fraction))
            case .nearest:
                let up: Bool
                if fraction == 0 {
                    up = false
                } else {
                    switch nearestMode {
                    case .roundPreferFloor: up = fraction > 0.5
                    case .roundPreferCeil: up = fraction >= 0.5
                    case .floor: up = false
                    case .ceil: up = true
                    }
                }
                let index = clamp(up ? base + 1 : base)
                return Tap(lower: index, upper: index, weight: 0)
            }
        }
    }
}

/// How scatter ops combine an update with the element already there (ONNX `reduction`); `max` and `min`
/// give NaN when either is NaN, as the elementwise `max` and `min` do.
public enum ScatterReduction: String, Hashable, Sendable, CaseIterable {
    case none, add, mul, max, min
}
