#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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

/// File-system helpers shared by the loaders (no Foundation needed).
enum FileSystem {
    enum Kind { case missing, regularFile, directory, other }

    static func kind(of path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regularFile
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    static func isFile(_ path: String) -> Bool { kind(of: path) == .regularFile }

    /// Names in a directory (not recursive), sorted; empty when unreadable.
    static func contents(of directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                let chars = raw.bindMemory(to: CChar.self)
                return String(cString: chars.baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Reads a whole (small) file.
    static func readAll(_ path: String) throws -> [UInt8] {
        let file = try MappedFile(path: path)
        return Array(file.bytes)
    }

    /// `directory/name` (name may contain `/`); `directory` "" means the name itself.
    static func join(_ directory: String, _ name: String) -> String {
        if name.isEmpty { return directory }
        if directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
