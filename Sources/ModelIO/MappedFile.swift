#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DataFormats

/// A whole file mapped read-only into memory (`mmap`, `MAP_PRIVATE`).
///
/// The mapping lives exactly as long as this object: anything that reads `bytes` must keep the
/// `MappedFile` (or the `SafetensorsFile` that owns it) alive while it reads. If another process
/// truncates the file while it is mapped, reading the lost pages raises SIGBUS — model files are
/// expected not to change while loaded.
final class MappedFile: @unchecked Sendable {
    let path: String
    private let base: UnsafeRawPointer?
    let count: Int

    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw ModelIOError.fileNotFound(path: path) }
            throw ModelIOError.cannotRead(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ModelIOError.cannotRead(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ModelIOError.cannotRead(path: path, reason: "not a regular file")
        }
        self.path = path
        self.count = Int(info.st_size)
        if count == 0 {
            base = nil // mmap of length 0 is an error; an empty file has no bytes to map.
            return
        }
        let pointer = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let pointer, pointer != MAP_FAILED else {
            throw ModelIOError.cannotRead(path: path, reason: "mmap failed: " + String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(pointer)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// The file's bytes; valid while `self` is alive.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

extension FileSystem {
    /// Reads a whole (small) file; a missing file is `ModelIOError.fileNotFound`, other failures `.cannotRead`.
    static func readAll(_ path: String) throws -> [UInt8] {
        do { return try readBytes(path) } catch let error as FileSystemError {
            if error.isMissing { throw ModelIOError.fileNotFound(path: path) }
            throw ModelIOError.cannotRead(path: path, reason: error.reason)
        }
    }
}
