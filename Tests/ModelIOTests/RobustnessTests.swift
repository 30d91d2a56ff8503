import Testing
@testable import ModelIO

/// Deterministic pseudo-random generator (SplitMix64) so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Corrupted inputs must give an error or a consistent file, never a crash or an out-of-bounds read.
@Suite struct RobustnessTests {
    @Test func mutatedSafetensorsNeverCrash() throws {
        let original = try FileSystem.readAll(fixturesPath + "/dtypes.safetensors")
        var rng = SplitMix64(state: 42)
        var accepted = 0, rejected = 0
        for iteration in 0..<3000 {
            var bytes = original
            switch iteration % 4 {
            case 0: // flip a few random bytes (header-heavy: the first 8 + header are the interesting part)
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: 0..<min(bytes.count, 700), using: &rng)
                    bytes[i] = UInt8.random(in: 0...255, using: &rng)
                }
            case 1: // truncate
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
            case 2: // replace a digit in the header with another digit or a sign
                let digits = bytes.indices.filter { $0 < 700 && bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }
                if let i = digits.randomElement(using: &rng) { bytes[i] = Array("0123456789-".utf8).randomElement(using: &rng)! }
            default: // append bytes
                bytes += (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            let result: Result<SafetensorsFile.ParsedHeader, Error> = bytes.withUnsafeBytes { raw in
                Result { try SafetensorsFile.parseHeader(raw, path: "fuzz") }
            }
            switch result {
            case .success(let parsed):
                accepted += 1
                // An accepted header must describe spans inside the data section that match shape × dtype.
                let dataSize = bytes.count - parsed.dataStart
                for info in parsed.infos.values {
                    #expect(info.dataOffsets.upperBound <= dataSize)
                    #expect(info.shape.reduce(1, *) * info.dtype.bitSize / 8 == info.dataOffsets.count)
                }
            case .failure(let error):
                rejected += 1
                #expect(error is ModelIOError)
            }
        }
        #expect(rejected > 2000)
        #expect(accepted + rejected == 3000)
    }

    @Test func randomBytesNeverCrashTheJSONScanner() {
        var rng = SplitMix64(state: 7)
        let alphabet = Array(#"{}[]:,"\ u0123456789eE+-.truefalsnl"#.utf8) + [0x80, 0xC3, 0xFF, 0x0A]
        for _ in 0..<5000 {
            let bytes = (0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            do { _ = try JSONScanner.parse(bytes) } catch { #expect(error is JSONParseError) }
        }
    }
}
