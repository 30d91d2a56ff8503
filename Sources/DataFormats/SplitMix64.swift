/// SplitMix64 pseudo-random generator (Steele, Lea & Flood 2014): the one source of reproducible random numbers
/// (stratified splits and folds, the OpenCL self-test's inputs, test data), identical on every platform and
/// Swift version.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    public mutating func float() -> Float { Float(Double(next() >> 11) / Double(1 << 53) * 2 - 1) }

    /// `n` values uniform in [-scale, scale).
    public mutating func floats(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in float() * scale } }

    /// Uniform in 0..<bound.
    public mutating func int(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
