import DataFormats

/// Small whole-file outputs (reports, `--stats`) written so that `path` is either absent, the old file, or the
/// complete new file: bytes go to `path.tmp`, are flushed with fsync, then renamed over `path`.
public enum AtomicFile {
    /// Writes `bytes` to `path`. Errors name the path and the system's reason (`FeatureIOError`); the
    /// temporary file is removed on failure.
    public static func save(_ bytes: [UInt8], to path: String) throws {
        do { try FileSystem.writeAtomically(bytes, to: path) } catch let error as FileSystemError {
            if error.operation == .open { throw FeatureIOError.cannotOpen(path: path, reason: error.reason) }
            throw FeatureIOError.writeFailed(path: path, reason: error.reason)
        }
    }
}
