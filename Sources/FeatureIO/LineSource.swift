#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered reader of physical lines from a file descriptor (a file or stdin).
final class LineSource {
    /// How a physical line ended.
    enum Terminator: Equatable { case lf, crlf, endOfFile }

    let path: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEOF = false
    private static let chunkSize = 1 << 16
    private static let zeros = [UInt8](repeating: 0, count: chunkSize)
    /// The longest physical line accepted, in bytes (64 MiB: far above any real text, whose features come from
    /// the first few thousand characters anyway). A longer line, e.g. `--input /dev/zero`, is an error naming
    /// the line instead of memory growing until the process aborts.
    static let defaultMaxLineBytes = 64 << 20
    let maxLineBytes: Int
    /// 1-based number of the line most recently returned.
    private(set) var lineNumber = 0
    /// Size of the input file in bytes (nil for standard input and other streams).
    private(set) var totalBytes: Int?
    private var bytesRead = 0
    /// Bytes of the input handed out as lines so far (for progress and ETA).
    var bytesConsumed: Int { bytesRead - (buffer.count - start) }

    /// Opens `path` ("-" is standard input).
    init(path: String, maxLineBytes: Int = LineSource.defaultMaxLineBytes) throws {
        self.path = path
        self.maxLineBytes = maxLineBytes
        if path == "-" {
            fd = 0
            ownsDescriptor = false
        } else {
            let opened = open(path, O_RDONLY | O_CLOEXEC)
            guard opened >= 0 else {
                throw FeatureIOError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
            }
            var info = stat()
            if fstat(opened, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                close(opened)
                throw FeatureIOError.cannotOpen(path: path, reason: "is a directory")
            }
            if (info.st_mode & S_IFMT) == S_IFREG { totalBytes = Int(info.st_size) }
            fd = opened
            ownsDescriptor = true
        }
    }

    deinit { if ownsDescriptor { close(fd) } }

    /// Reads more bytes; returns false at end of input.
    private func fill() throws -> Bool {
        if atEOF { return false }
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        let oldCount = buffer.count
        // Appending an Array is a copy; appending `repeatElement(0, count:)` went element by element through
        // generic code in debug builds (seconds for a 10 MB line).
        buffer.append(contentsOf: LineSource.zeros)
        var got = 0
        while true {
            got = buffer.withUnsafeMutableBytes { raw in
                read(fd, raw.baseAddress! + oldCount, LineSource.chunkSize)
            }
            if got < 0 && errno == EINTR { continue }
            break
        }
        guard got >= 0 else {
            buffer.removeLast(LineSource.chunkSize)
            throw FeatureIOError.readFailed(path: path, reason: String(cString: strerror(errno)))
        }
        buffer.removeLast(LineSource.chunkSize - got)
        bytesRead += got
        if got == 0 { atEOF = true; return false }
        return true
    }

    /// The next physical line without its terminator, or nil at end of input. A final line without a
    /// newline is returned (terminator `.endOfFile`) unless it is empty.
    func nextLine() throws -> (bytes: [UInt8], terminator: Terminator)? {
        var searchFrom = start
        while true {
            let found: Int? = buffer.withUnsafeBytes { raw in
                guard searchFrom < raw.count, let p = memchr(raw.baseAddress! + searchFrom, 0x0A, raw.count - searchFrom) else { return nil }
                return raw.baseAddress!.distance(to: UnsafeRawPointer(p))
            }
            if let newline = found {
                guard newline - start <= maxLineBytes else {
                    throw FeatureIOError.lineTooLong(path: path, line: lineNumber + 1, limit: maxLineBytes)
                }
                var end = newline
                var terminator = Terminator.lf
                if end > start && buffer[end - 1] == 0x0D { end -= 1; terminator = .crlf }
                let line = Array(buffer[start..<end])
                start = newline + 1
                lineNumber += 1
                return (line, terminator)
            }
            searchFrom = buffer.count
            guard buffer.count - start <= maxLineBytes else {
                throw FeatureIOError.lineTooLong(path: path, line: lineNumber + 1, limit: maxLineBytes)
            }
            let consumed = start
            if try !fill() {
                if start >= buffer.count { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                lineNumber += 1
                return (line, .endOfFile)
            }
            // `fill` may have compacted the buffer.
            searchFrom -= consumed - start
        }
    }
}

/// Decodes UTF-8 bytes, returning nil when they are not valid UTF-8 (overlong forms, surrogates and
/// truncated sequences included).
func decodeUTF8(_ bytes: [UInt8]) -> String? {
    String(validating: bytes, as: UTF8.self)
}
