#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fuzz targets for Featurize's parsers of untrusted input (issue 7).
///
/// One executable holds every target; the environment variable `FUZZ_TARGET` picks one (see
/// `FuzzTargets.all`). Built with `-sanitize=fuzzer,address -DFUZZING` (see `scripts/fuzz.sh`) its `main`
/// hands control to libFuzzer's driver; built normally (`swift build`) it replays the files and directories
/// given as arguments through the same entry point, so a committed crash input is a regression test that
/// needs no fuzzer: `FUZZ_TARGET=safetensors .build/debug/FeaturizeFuzz Fuzz/corpus/safetensors`.
@main
struct FeaturizeFuzzMain {
    static func main() {
        guard let target = FuzzTargets.selected else {
            let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? "(unset)"
            fputs("FeaturizeFuzz: FUZZ_TARGET=\(name) is not a target; targets: \(FuzzTargets.names.joined(separator: ", "))\n", stderr)
            exit(2)
        }
        target.setUp()
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
        #else
        var count = 0
        for argument in CommandLine.arguments.dropFirst() {
            for file in FuzzFiles.regularFiles(under: argument) {
                guard let bytes = FuzzFiles.read(file) else {
                    fputs("FeaturizeFuzz: cannot read \(file)\n", stderr)
                    exit(1)
                }
                _ = bytes.withUnsafeBufferPointer { fuzzOneInput($0.baseAddress, $0.count) }
                count += 1
            }
        }
        print("FeaturizeFuzz: target \(target.name): \(count) inputs ran without a crash")
        #endif
    }
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
#endif

/// libFuzzer's entry point: runs the selected target on one input. Errors thrown by the code under test are
/// the expected outcome for bad input; only a crash (trap, sanitizer report, timeout, OOM) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = FuzzTargets.selected else { return 0 }
    let bytes = UnsafeBufferPointer(start: size > 0 ? data : nil, count: size)
    target.run(bytes)
    return 0
}

/// One fuzz target: a name, a one-time setup and a function of the input bytes.
struct FuzzTarget {
    var name: String
    var setUp: () -> Void = {}
    var run: (UnsafeBufferPointer<UInt8>) -> Void
}

enum FuzzTargets {
    static let all: [FuzzTarget] = ModelIOTargets.all + InputReaderTargets.all + SchedulerTargets.all
        + TokenizerTargets.all

    static var names: [String] { all.map(\.name) }

    /// The target named by `FUZZ_TARGET`, looked up once.
    static let selected: FuzzTarget? = {
        guard let raw = getenv("FUZZ_TARGET") else { return nil }
        let name = String(cString: raw)
        return all.first { $0.name == name }
    }()
}

/// Small file helpers (no Foundation in the hot path).
enum FuzzFiles {
    /// A private scratch directory for this process (under `$TMPDIR`, default /dev/shm or /tmp).
    static let scratch: String = {
        var base = getenv("TMPDIR").map { String(cString: $0) } ?? ""
        if base.isEmpty { base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp" }
        var template = Array((base + "/featurize-fuzz-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fputs("FeaturizeFuzz: mkdtemp in \(base) failed\n", stderr)
            exit(1)
        }
        let path = String(cString: made)
        atexit { FuzzFiles.removeScratch() }
        return path
    }()

    static func removeScratch() {
        // Removes the files the targets create (fixed names, at most two levels).
        for sub in ["", "1_Pooling/", "2_Normalize/"] {
            for name in createdNames { unlink(scratch + "/" + sub + name) }
            if !sub.isEmpty { rmdir(scratch + "/" + sub) }
        }
        rmdir(scratch)
    }

    static let createdNames = ["input.safetensors", "input.txt", "input.jsonl", "input.csv", "input.tsv",
                               "config.json", "modules.json", "sentence_bert_config.json",
                               "model.safetensors", "vocab.txt", "tokenizer.json"]

    /// Writes `bytes` to `path` (replacing it); exits on failure, which is an environment problem.
    static func write(_ bytes: UnsafeBufferPointer<UInt8>, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { fputs("FeaturizeFuzz: cannot write \(path)\n", stderr); exit(1) }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            guard written > 0 else { fputs("FeaturizeFuzz: write to \(path) failed\n", stderr); exit(1) }
            offset += written
        }
        close(fd)
    }

    static func write(_ bytes: [UInt8], to path: String) {
        bytes.withUnsafeBufferPointer { write($0, to: path) }
    }

    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { return nil }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// `path` itself if it is a file, else the regular files directly inside it (sorted).
    static func regularFiles(under path: String) -> [String] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [path] }
        if (info.st_mode & S_IFMT) != S_IFDIR { return [path] }
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasPrefix(".") { continue }
            let full = path.hasSuffix("/") ? path + name : path + "/" + name
            var child = stat()
            if stat(full, &child) == 0, (child.st_mode & S_IFMT) == S_IFREG { names.append(full) }
        }
        return names.sorted()
    }

    /// Splits `bytes` at NUL bytes into at most `maxParts` parts (the last part keeps any further NULs).
    static func split(_ bytes: UnsafeBufferPointer<UInt8>, maxParts: Int) -> [UnsafeBufferPointer<UInt8>] {
        var parts: [UnsafeBufferPointer<UInt8>] = []
        var start = 0
        var index = 0
        while index < bytes.count, parts.count < maxParts - 1 {
            if bytes[index] == 0 {
                parts.append(UnsafeBufferPointer(rebasing: bytes[start..<index]))
                start = index + 1
            }
            index += 1
        }
        parts.append(UnsafeBufferPointer(rebasing: bytes[start..<bytes.count]))
        return parts
    }
}

/// Stops the process (a finding for the fuzzer) when a property that must hold for accepted input fails.
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        fputs("FeaturizeFuzz: property violated: \(message())\n", stderr)
        abort()
    }
}
