// The one seeded random generator of the test suites (SplitMix64), so that every generated case,
// mutant and data set is the same on every run and a failure names a seed that reproduces it.

/// SplitMix64: small, fast, and good enough to drive test-data generators.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's state; two generators with the same state produce the same sequence.
    public var state: UInt64

    /// Makes a generator from a seed.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A Double in [0, 1) with 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A Float in [-1, 1) with 24 random bits.
    public mutating func signedUnitFloat() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }

    /// An Int in 0..<bound (0 when bound is not positive).
    public mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(next() % UInt64(bound)) }
}
