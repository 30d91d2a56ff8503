import DataFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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

/// A large output written piece by piece so that `path` is either absent, the old file, or the complete new
/// file: bytes go to `path.partial`, which `commit()` flushes (fsync) and renames over `path`; a file never
/// committed is removed when the writer goes away.
public final class AtomicStreamFile {
    public let path: String
    private let temporaryPath: String
    private var fd: Int32
    private var pending: [UInt8] = []
    private var committed = false
    private static let flushThreshold = 1 << 20

    public init(path: String) throws {
        self.path = path
        temporaryPath = path + ".partial"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FeatureIOError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
    }

    deinit {
        if !committed {
            if fd >= 0 { close(fd) }
            unlink(temporaryPath)
        }
    }

    /// Appends `bytes` (buffered; written in pieces of about 1 MiB).
    public func write<C: Collection>(_ bytes: C) throws where C.Element == UInt8 {
        pending.append(contentsOf: bytes)
        if pending.count >= Self.flushThreshold { try flush() }
    }

    private func flush() throws {
        if let reason = FileSystem.writeAll(pending, to: fd) { throw FeatureIOError.writeFailed(path: path, reason: reason) }
        pending.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered, syncs, closes and renames the file into place.
    public func commit() throws {
        try flush()
        guard fsync(fd) == 0 else { throw FeatureIOError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
        let closed = close(fd)
        fd = -1
        guard closed == 0 else { throw FeatureIOError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
        guard rename(temporaryPath, path) == 0 else {
            throw FeatureIOError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
        committed = true
    }
}
