import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command as a child process and reports its exit status, output, wall time and peak resident memory
/// (`wait4`'s `ru_maxrss` for that one child, which `Process` does not expose).
struct MeasuredRun {
    /// Exit code, or 128 + the signal number when a signal ended the child.
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double
    /// Peak resident set size of the child, in bytes.
    var maxRSS: Int

    /// True when this process (and so the `featurize` built with it) runs under AddressSanitizer or
    /// ThreadSanitizer (`scripts/sanitize.sh`), which multiply memory use and time.
    static let sanitizerBuild: Bool = [String](["__asan_init", "__tsan_init"]).contains { dlsym(nil, $0) != nil }

    /// Runs `featurize` (the built binary, found as `ClassifierCLITests` finds it) with `arguments`.
    static func featurize(_ arguments: [String]) throws -> MeasuredRun {
        try run(ClassifierCLITests.executable.path, arguments)
    }

    /// Runs `executable` with `arguments`; standard input is /dev/null, the outputs go through temporary files.
    static func run(_ executable: String, _ arguments: [String]) throws -> MeasuredRun {
        let scratch = NSTemporaryDirectory() + "featurize-run-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let outPath = scratch + "/stdout", errPath = scratch + "/stderr"

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let started = DispatchTime.now().uptimeNanoseconds
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw MeasuredRunError(description: "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw MeasuredRunError(description: "wait4: \(String(cString: strerror(errno)))") }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let signal = status & 0x7F
        return MeasuredRun(status: signal == 0 ? (status >> 8) & 0xFF : 128 + signal,
                           stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                           stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
                           seconds: seconds, maxRSS: Int(usage.ru_maxrss) * 1024)
    }
}

struct MeasuredRunError: Error, CustomStringConvertible {
    let description: String
}
