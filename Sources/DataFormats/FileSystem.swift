#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file operation that failed: the path, what was attempted and the system's reason.
public struct FileSystemError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Operation: String, Sendable { case open, read, write, rename, createDirectory = "create directory" }
    public let path: String
    public let operation: Operation
    /// The system's reason (`strerror`), e.g. "No such file or directory".
    public let reason: String
    /// True when the file does not exist (ENOENT on open).
    public let isMissing: Bool

    public var description: String { "\(path): \(operation.rawValue) failed: \(reason)" }
}

/// File-system helpers shared by every module that touches files (model loading, the kernel cache, outputs),
/// without Foundation: one implementation of each primitive, errors naming the path and the system's reason.
public enum FileSystem {
    public enum Kind: Sendable { case missing, regularFile, directory, other }

    public static func kind(of path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regularFile
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    public static func isFile(_ path: String) -> Bool { kind(of: path) == .regularFile }

    /// Names in a directory (not recursive), sorted; empty when unreadable.
    public static func contents(of directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// `directory/name` (name may contain `/`); `directory` "" means the name itself.
    public static func join(_ directory: String, _ name: String) -> String {
        if name.isEmpty { return directory }
        if directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Reads a whole (small) regular file.
    public static func readBytes(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw FileSystemError(path: path, operation: .open, reason: String(cString: strerror(code)), isMissing: code == ENOENT)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure(path, .read) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw FileSystemError(path: path, operation: .read, reason: "not a regular file", isMissing: false)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(info.st_size))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(path, .read)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Creates `path` and its parents (like `mkdir -p`).
    public static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw failure(current, .createDirectory) }
        }
    }

    /// Writes `bytes` so that `path` is either absent, the old file, or the complete new file: the bytes go to a
    /// new temporary file `path + temporarySuffix + ".XXXXXX"` (unique: `mkstemp`, so concurrent writers of one
    /// path never share it), are flushed with fsync, then renamed over `path`; the temporary file is removed on
    /// failure. Errors name `path` and the system's reason.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, temporarySuffix: String = ".tmp") throws {
        // Renaming over a device, FIFO or directory would destroy it (e.g. turn /dev/null into a regular file).
        let existing = kind(of: path)
        guard existing == .missing || existing == .regularFile else {
            throw FileSystemError(path: path, operation: .write, reason: "not a regular file; refusing to replace it",
                                  isMissing: false)
        }
        var template = Array((path + temporarySuffix + ".XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw failure(path, .open) }
        let tmp = String(cString: template)
        fchmod(fd, 0o644)
        var error: FileSystemError?
        if let reason = writeAll(bytes, to: fd) {
            error = FileSystemError(path: path, operation: .write, reason: reason, isMissing: false)
        }
        if error == nil, fsync(fd) != 0 { error = failure(path, .write) }
        if close(fd) != 0, error == nil { error = failure(path, .write) }
        if error == nil, rename(tmp, path) != 0 { error = failure(path, .rename) }
        if let error {
            unlink(tmp)
            throw error
        }
    }

    /// Writes all of `bytes` to the file descriptor `fd`, retrying short writes and EINTR; returns the
    /// system's reason on failure (nil on success).
    public static func writeAll(_ bytes: [UInt8], to fd: Int32) -> String? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in write(fd, raw.baseAddress! + offset, raw.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            offset += n
        }
        return nil
    }

    private static func failure(_ path: String, _ operation: FileSystemError.Operation) -> FileSystemError {
        FileSystemError(path: path, operation: operation, reason: String(cString: strerror(errno)), isMissing: false)
    }
}
