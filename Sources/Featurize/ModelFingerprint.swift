import Foundation
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

/// A content fingerprint of a model directory, stored in resume manifests and shard records so that rows of
/// two different models are never mixed: the names, sizes and contents of its configuration and tokenizer
/// files (`*.json`, `*.txt`, `*.model`, also one directory level down, e.g. `1_Pooling/config.json`) and of its
/// weight files (`*.safetensors`). Weight files are hashed in full when `full` is true (the default of
/// `featurize extract`: every byte, ~0.15 s per 100 MB); otherwise (`--sampled-model-check`, about 1.3 MiB
/// per file) their safetensors header, first MiB, last 64 KiB and 64 samples of 4 KiB spread over the file,
/// which catches replaced weights (every sample differs) but not an edit of a few bytes between samples. The path itself is not part of it: the
/// same files under another path (or with a trailing slash) are the same model.
public enum ModelFingerprint {
    /// The fingerprint; the result of a matching `prefetch` when one was started (waiting for it to finish).
    public static func compute(directory: String, full: Bool = false) throws -> String {
        if let started = Prefetch.take(key: Prefetch.key(directory, full)) { return try started.wait() }
        return try hash(directory: directory, full: full)
    }

    /// Starts `compute(directory:full:)` on another thread, so that the hashing (~0.15 s per 100 MB of weights in
    /// full) overlaps the model loading that comes before the job needs the fingerprint; the next `compute` with
    /// the same arguments takes its result. A prefetch that no `compute` takes is dropped by the next prefetch.
    public static func prefetch(directory: String, full: Bool = false) {
        let started = Prefetch(key: Prefetch.key(directory, full))
        Prefetch.lock.lock()
        Prefetch.current = started
        Prefetch.lock.unlock()
        DispatchQueue.global(qos: .userInitiated).async {
            started.finish(Result { try hash(directory: directory, full: full) })
        }
    }

    /// One fingerprint being computed in the background (`prefetch`).
    private final class Prefetch: @unchecked Sendable {
        static let lock = NSLock()
        nonisolated(unsafe) static var current: Prefetch?
        let key: String
        private let done = DispatchSemaphore(value: 0)
        private var result: Result<String, Error>?

        init(key: String) { self.key = key }
        static func key(_ directory: String, _ full: Bool) -> String { "\(full ? "full" : "sampled")|\(directory)" }

        /// The started prefetch with this key, removed so that only one `compute` takes it.
        static func take(key: String) -> Prefetch? {
            lock.lock()
            defer { lock.unlock() }
            guard let started = current, started.key == key else { return nil }
            current = nil
            return started
        }

        func finish(_ value: Result<String, Error>) {
            result = value
            done.signal()
        }

        func wait() throws -> String {
            done.wait()
            return try result!.get()
        }
    }

    private static func hash(directory: String, full: Bool) throws -> String {
        var hash = ContentHash()
        hash.update(full ? "full\n" : "sampled\n")
        for relative in files(in: directory) {
            let path = directory.hasSuffix("/") ? directory + relative : directory + "/" + relative
            hash.update(relative)
            hash.update(0)
            try hashFile(path, into: &hash, full: full || !relative.hasSuffix(".safetensors"))
        }
        return hash.hex
    }

    /// The fingerprinted files, relative to `directory`, sorted.
    static func files(in directory: String) -> [String] {
        let fm = FileManager.default
        func wanted(_ name: String) -> Bool {
            [".json", ".txt", ".model", ".safetensors"].contains { name.hasSuffix($0) } && !name.hasPrefix(".")
        }
        var result: [String] = []
        for name in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] where !name.hasPrefix(".") {
            let path = directory + "/" + name
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else { continue }
            if isDir.boolValue {
                for inner in (try? fm.contentsOfDirectory(atPath: path)) ?? [] where inner.hasSuffix(".json") {
                    result.append(name + "/" + inner)
                }
            } else if wanted(name) {
                result.append(name)
            }
        }
        return result.sorted()
    }

    private static func hashFile(_ path: String, into hash: inout ContentHash, full: Bool) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FeaturizeError.invalidOption("\(path): cannot read for the model fingerprint: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return }
        let size = Int(info.st_size)
        hash.update(size)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        func hashRange(_ offset: Int, _ length: Int) throws {
            var done = 0
            while done < length {
                let want = min(buffer.count, length - done)
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset + done)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw FeaturizeError.invalidOption("\(path): read failed for the model fingerprint") }
                buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                done += n
            }
        }
        let sampleThreshold = 4 << 20
        if full || size <= sampleThreshold { try hashRange(0, size); return }
        // safetensors: the 8-byte header length, then the JSON header (shapes, dtypes, offsets): all of it.
        var headerEnd = 1 << 20
        var lengthBytes = [UInt8](repeating: 0, count: 8)
        if pread(fd, &lengthBytes, 8, 0) == 8 {
            let n = lengthBytes.withUnsafeBytes { Int(truncatingIfNeeded: UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
            if n > 0, n <= size - 8 { headerEnd = max(headerEnd, min(8 + n, 256 << 20)) }
        }
        headerEnd = min(headerEnd, size)
        try hashRange(0, headerEnd)
        let sample = 4 << 10, samples = 64
        for k in 0..<samples {
            let offset = headerEnd + (size - headerEnd - sample) / samples * k
            if offset >= headerEnd, offset + sample <= size { try hashRange(offset, sample) }
        }
        let tail = min(64 << 10, size - headerEnd)
        try hashRange(size - tail, tail)
    }
}
