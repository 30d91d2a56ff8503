import Featurize
import Foundation
import Testing

/// The model fingerprint that guards `--resume` and `merge`: every byte of the weights by default, so even a
/// one-byte edit between the cheap pass's samples is a different model; the sampled pass misses it.
@Suite struct ModelFingerprintTests {
    /// A fresh temporary directory holding a `config.json`; the caller removes it.
    static func modelDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("featurize-fp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(#"{"model_type": "bert"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        return dir
    }

    @Test("a one-byte edit deep inside a weight file changes the full fingerprint, not the sampled one; the path does not matter")
    func fullByDefault() throws {
        let dir = try Self.modelDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A fake weight file of 8 MiB: header, then bytes; the edit lands between the 64 samples of 4 KiB.
        var bytes = [UInt8](repeating: 7, count: 8 << 20)
        let weights = URL(fileURLWithPath: dir + "/model.safetensors")
        try Data(bytes).write(to: weights)
        let full = try ModelFingerprint.compute(directory: dir, full: true)
        let sampled = try ModelFingerprint.compute(directory: dir, full: false)
        #expect(try ModelFingerprint.compute(directory: dir + "/", full: true) == full, "a trailing slash is the same model")
        let offset = (3 << 20) + 65_536 + 2_048 + 17   // past the first MiB, inside no 4 KiB sample of a 8 MiB file
        bytes[offset] ^= 0xFF
        try Data(bytes).write(to: weights)
        #expect(try ModelFingerprint.compute(directory: dir, full: true) != full, "the full check sees every byte")
        // The cheap pass does not read that byte: this is why the full pass is the default.
        #expect(try ModelFingerprint.compute(directory: dir, full: false) == sampled)
        #expect(ExtractionJobOptions(input: "in.txt", output: "out.npy").fullModelCheck, "extract fingerprints every byte by default")
    }

    @Test("a prefetched fingerprint equals a computed one, goes to the matching compute only, and is taken once")
    func prefetch() throws {
        let dir = try Self.modelDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let weights = URL(fileURLWithPath: dir + "/model.safetensors")
        try Data([UInt8](repeating: 3, count: 6 << 20)).write(to: weights)
        let full = try ModelFingerprint.compute(directory: dir, full: true)
        let sampled = try ModelFingerprint.compute(directory: dir, full: false)
        #expect(full != sampled)

        ModelFingerprint.prefetch(directory: dir, full: true)
        // Another key (the sampled pass) hashes afresh and leaves the prefetch in place.
        #expect(try ModelFingerprint.compute(directory: dir, full: false) == sampled)
        #expect(try ModelFingerprint.compute(directory: dir, full: true) == full)
        // Taken once: after an edit, the next compute hashes the files again.
        try Data([UInt8](repeating: 4, count: 6 << 20)).write(to: weights)
        let edited = try ModelFingerprint.compute(directory: dir, full: true)
        #expect(edited != full)
    }
}
