import DataFormats
#if canImport(Glibc)
import Glibc
#endif

/// Writes all of `bytes` to the file descriptor `fd` (`FileSystem.writeAll`); the system's reason on failure.
func writeAll(_ bytes: [UInt8], to fd: Int32) -> String? { FileSystem.writeAll(bytes, to: fd) }

/// Standard output with every write checked: a failed write (a full disk, a closed pipe, `/dev/full`) is an
/// error naming standard output (exit 1), never a silent short output or a trap.
struct StandardOutput {
    func line(_ text: String) throws { try write(text + "\n") }

    func write(_ text: String) throws { try write(bytes: Array(text.utf8)) }

    func write(bytes: [UInt8]) throws {
        if let reason = writeAll(bytes, to: 1) { throw RuntimeError("standard output: write failed: \(reason)") }
    }
}

/// Standard error for diagnostics (warnings, progress, summaries). A failed write is ignored: there is nowhere
/// left to report it, and a diagnostic must never turn a finished job into a crash (`FileHandle.write` traps
/// on `/dev/full`). The exit status still reports the job's own errors.
enum StandardError {
    static func write(_ text: String) { _ = writeAll(Array(text.utf8), to: 2) }
    static func line(_ text: String) { write(text + "\n") }
}

/// A runtime failure (exit 1) with a message naming what failed.
struct RuntimeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
