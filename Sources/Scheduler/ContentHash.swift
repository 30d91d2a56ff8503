/// A streaming 128-bit content hash (two FNV-1a lanes with different primes, finished with a splitmix64
/// avalanche and the byte count) for fingerprints: the input texts a chunk consumed, a model's files. It
/// detects changed content (a different input, replaced weights), not deliberate collisions.
public struct ContentHash: Sendable, Equatable {
    private var a: UInt64 = 0xcbf2_9ce4_8422_2325
    private var b: UInt64 = 0x6c62_272e_07bb_0142
    private var count: UInt64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var a = self.a, b = self.b
        for byte in bytes {
            a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            b = (b ^ UInt64(byte)) &* 0x9e37_79b9_7f4a_7c15
        }
        self.a = a; self.b = b
        count &+= UInt64(bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public mutating func update(_ text: String) {
        var copy = text
        copy.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// Adds an integer (8 bytes, little-endian), e.g. a length that separates variable-length fields.
    public mutating func update(_ value: Int) { withUnsafeBytes(of: UInt64(truncatingIfNeeded: value).littleEndian) { update($0) } }

    /// 32 lowercase hex digits.
    public var hex: String {
        func mix(_ x: UInt64) -> UInt64 {
            var z = x &+ 0x9e37_79b9_7f4a_7c15
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        let hi = mix(a ^ mix(count)), lo = mix(b &+ count)
        func digits(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return digits(hi) + digits(lo)
    }
}
