import DataFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a command writes one output, checked before any work (the one output policy of every command):
/// - `-` is standard output, written through;
/// - a FIFO, character device or socket is written through (it is a destination, not a file to replace);
/// - a regular file that exists is refused unless `--overwrite`; a symbolic link is followed (its target is
///   replaced, the link stays);
/// - a new regular file needs an existing parent directory;
/// - regular files are written atomically (`PATH.tmp` + fsync + rename): absent, old or complete;
/// - an output that is one of the command's inputs, or another of its outputs, is refused.
public struct OutputTarget: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case standardOutput, regularFile, stream }

    /// The path as given (for messages).
    public let path: String
    /// The file written: `path` with symbolic links resolved (regular files); `path` otherwise.
    public let resolvedPath: String
    public let kind: Kind

    /// Checks `path` for writing. `option` names the flag in messages (e.g. `--output`); `inputs` are the
    /// command's input paths (`-` ignored).
    public init(_ path: String, option: String = "--output", overwrite: Bool, inputs: [String] = []) throws {
        self.path = path
        if path == "-" { kind = .standardOutput; resolvedPath = path; return }
        guard !path.isEmpty else { throw FeatureIOError.cannotOpen(path: path, reason: "\(option) is empty") }
        var info = stat()
        if stat(path, &info) != 0 {
            let code = errno
            var linkInfo = stat()
            if code == ENOENT, lstat(path, &linkInfo) == 0 {
                throw FeatureIOError.cannotOpen(path: path, reason: "\(option) is a symbolic link to a missing file")
            }
            guard code == ENOENT else { throw FeatureIOError.cannotOpen(path: path, reason: String(cString: strerror(code))) }
            let parent = OutputTarget.parent(of: path)
            guard FileSystem.kind(of: parent) == .directory else {
                throw FeatureIOError.cannotOpen(path: path, reason: "the output directory \(parent) does not exist")
            }
            kind = .regularFile
            resolvedPath = path
        } else {
            switch info.st_mode & S_IFMT {
            case S_IFDIR: throw FeatureIOError.cannotOpen(path: path, reason: "\(option) is a directory")
            case S_IFREG:
                guard overwrite else {
                    throw FeatureIOError.cannotOpen(path: path, reason: "output exists; pass --overwrite to replace it")
                }
                kind = .regularFile
                resolvedPath = OutputTarget.realPath(path) ?? path
            default:
                kind = .stream
                resolvedPath = path
            }
            for input in inputs where input != "-" {
                var inputInfo = stat()
                if stat(input, &inputInfo) == 0, inputInfo.st_dev == info.st_dev, inputInfo.st_ino == info.st_ino,
                   (info.st_mode & S_IFMT) == S_IFREG {
                    throw FeatureIOError.cannotOpen(path: path, reason: "\(option) is also an input (\(input)); write elsewhere")
                }
            }
        }
    }

    /// Throws when two of `targets` (option, target) name the same file, e.g. `--stats` equal to `--output`.
    public static func requireDistinct(_ targets: [(option: String, path: String)]) throws {
        var seen: [String: String] = [:]
        for (option, path) in targets where path != "-" {
            let key = canonicalPath(path)
            if let other = seen[key] {
                throw FeatureIOError.cannotOpen(path: path, reason: "\(option) and \(other) name the same file; give different paths")
            }
            seen[key] = option
        }
    }

    /// `path` as an absolute path with symbolic links resolved; for a file that does not exist yet, its
    /// resolved parent directory joined with its name.
    public static func canonicalPath(_ path: String) -> String {
        if let real = realPath(path) { return real }
        let parent = parent(of: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return FileSystem.join(realPath(parent) ?? parent, name)
    }

    /// Writes `bytes`: atomically to a regular file, through to a stream or standard output. Errors name the
    /// path (or "standard output") and the system's reason.
    public func write(_ bytes: [UInt8]) throws {
        switch kind {
        case .regularFile: try AtomicFile.save(bytes, to: resolvedPath)
        case .standardOutput:
            if let reason = OutputTarget.writeAll(bytes, to: 1) {
                throw FeatureIOError.writeFailed(path: "standard output", reason: reason)
            }
        case .stream:
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FeatureIOError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
            defer { close(fd) }
            if let reason = OutputTarget.writeAll(bytes, to: fd) { throw FeatureIOError.writeFailed(path: path, reason: reason) }
        }
    }

    /// Writes all of `bytes` to `fd` (`FileSystem.writeAll`: short writes and EINTR retried); the system's
    /// reason on failure.
    static func writeAll(_ bytes: [UInt8], to fd: Int32) -> String? { FileSystem.writeAll(bytes, to: fd) }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
