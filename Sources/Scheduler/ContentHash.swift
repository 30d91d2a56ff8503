/// A streaming 128-bit content hash (two multiply-xorshift lanes over 8-byte words with different primes, finished with a splitmix64
/// avalanche and the byte count) for fingerprints: the input texts a chunk consumed, a model's files. It
/// detects changed content (a different input, replaced weights), not deliberate collisions.
public struct ContentHash: Sendable, Equatable {
    private var a: UInt64 = 0xcbf2_9ce4_8422_2325
    private var b: UInt64 = 0x6c62_272e_07bb_0142
    private var count: UInt64 = 0

    public init() {}

    /// Adds `bytes`: whole 8-byte little-endian words first (8 times fewer steps), then the tail byte by
    /// byte. The split into calls matters (callers add lengths to separate variable-length fields).
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var a = self.a, b = self.b
        let words = bytes.count / 8
        var i = 0
        while i < words {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
            a = (a ^ word) &* 0x0000_0100_0000_01b3
            a ^= a >> 29
            b = (b ^ word) &* 0x9e37_79b9_7f4a_7c15
            b ^= b >> 32
            i += 1
        }
        var k = 8 * words
        while k < bytes.count {
            let byte = UInt64(bytes[k])
            a = (a ^ byte) &* 0x0000_0100_0000_01b3
            b = (b ^ byte) &* 0x9e37_79b9_7f4a_7c15
            k += 1
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
