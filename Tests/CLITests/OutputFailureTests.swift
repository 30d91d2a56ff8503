import Featurize
import Foundation
import Scheduler
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue #7's output rows of the bad-input matrix, on real file systems: an output directory on a read-only
/// file system, one the user may not write, and a full disk (a small tmpfs). Each runs the built `featurize
/// extract` and checks: exit status 1, an error naming the path and the system's reason, no final file and
/// no `PATH.partial`, and a `PATH.parts/` whose manifest claims only rows that are on disk (so `--resume`
/// continues once there is room).
///
/// The tests run as root here, where permission bits do not stop writes, so the conditions are made with
/// `mount -t tmpfs` and `setpriv` (user nobody). Where they cannot be made (not root, mounts refused, no
/// setpriv) the tests are skipped with that reason rather than passing without testing anything.
@Suite(.serialized) struct OutputFailureTests {
    static let model = ExtractJobTests.modelPath

    // MARK: Environment

    /// Runs a system tool; (exit status, stderr).
    @discardableResult
    static func tool(_ path: String, _ arguments: [String]) -> (status: Int32, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: path), let run = try? MeasuredRun.run(path, arguments) else {
            return (127, "\(path) not found")
        }
        return (run.status, run.stderr)
    }

    static let mountTool = ["/usr/bin/mount", "/bin/mount"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/bin/mount"
    static let umountTool = ["/usr/bin/umount", "/bin/umount"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/bin/umount"
    static let setprivTool = ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/setpriv"

    /// True when this process is root and can mount (and unmount) a tmpfs: tried once on a scratch directory.
    static let canMountTmpfs: Bool = {
        guard getuid() == 0 else { return false }
        let dir = ExtractJobTests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard tool(mountTool, ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]).status == 0 else { return false }
        return tool(umountTool, [dir]).status == 0
    }()

    /// True when `setpriv` can run the built binary as user nobody (65534), reading the model fixture.
    static let canRunAsNobody: Bool = {
        guard getuid() == 0 else { return false }
        let probe = tool(setprivTool, ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c",
                                       "test -x \"$0\" && test -r \"$1/config.json\" && test -r \"$1/model.safetensors\"",
                                       ClassifierCLITests.executable.path, model])
        return probe.status == 0
    }()

    /// A tmpfs mounted on a fresh directory; `unmount()` (call it in a `defer`) unmounts and removes it.
    final class TmpfsMount {
        let path: String
        init(options: String) throws {
            path = ExtractJobTests.tempDir()
            let r = OutputFailureTests.tool(OutputFailureTests.mountTool, ["-t", "tmpfs", "-o", options, "tmpfs", path])
            guard r.status == 0 else { throw MeasuredRunError(description: "mount -o \(options) failed: \(r.stderr)") }
        }
        func remount(options: String) throws {
            let r = OutputFailureTests.tool(OutputFailureTests.mountTool, ["-o", "remount," + options, path])
            guard r.status == 0 else { throw MeasuredRunError(description: "remount -o \(options) failed: \(r.stderr)") }
        }
        func unmount() {
            if OutputFailureTests.tool(OutputFailureTests.umountTool, [path]).status != 0 {
                OutputFailureTests.tool(OutputFailureTests.umountTool, ["-l", path])
            }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    // MARK: Helpers

    /// Input of `count` distinct texts in a fresh directory; returns (directory, input path).
    static func input(rows count: Int) throws -> (dir: String, path: String) {
        let dir = ExtractJobTests.tempDir()
        let texts = (0..<count).map { ExtractJobTests.texts[$0 % ExtractJobTests.texts.count] + " \($0 / ExtractJobTests.texts.count)" }
        return (dir, try ExtractJobTests.writeInput(dir, texts))
    }

    /// `featurize extract` with 432 float32 values (1,728 bytes) per row and chunks of 100 rows (172,800 bytes).
    static func extract(input: String, output: String, _ extra: [String] = []) throws -> MeasuredRun {
        try MeasuredRun.featurize(["extract", "--model", model, "--input", input, "--output", output,
                                   "--pooling", "cls,mean,max", "--layers", "0,1,2,3", "--window", "100",
                                   "--quiet"] + extra)
    }

    static func files(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    /// The final file and `PATH.partial` are absent, and `PATH.parts/` holds only its manifest and the chunks
    /// it lists, each complete (`rowsPerChunk` rows) and equal to the same rows of `reference` (a .npy of the
    /// whole job made on a roomy disk). Returns the rows the manifest claims.
    @discardableResult
    static func expectNoCompleteLookingOutput(_ output: String, reference: String,
                                              sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        #expect(!FileManager.default.fileExists(atPath: output), "final file exists", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: output + ".partial"), ".partial left behind", sourceLocation: sourceLocation)
        let parts = output + ".parts"
        guard let data = FileManager.default.contents(atPath: parts + "/manifest.json") else {
            // No manifest: no row is claimed; nothing else may be left either.
            #expect(files(in: parts).isEmpty, "\(files(in: parts))", sourceLocation: sourceLocation)
            return 0
        }
        let manifest = try JSONDecoder().decode(OutputManifest.self, from: data)
        #expect(files(in: parts) == (["manifest.json"] + manifest.chunks).sorted(),
                "only the manifest and its chunks (no .tmp): \(files(in: parts))", sourceLocation: sourceLocation)
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: reference)))
        let rowBytes = (manifest.dim ?? 0) * 4, chunkBytes = manifest.rowsPerChunk * rowBytes
        for (k, chunk) in manifest.chunks.enumerated() {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: parts + "/" + chunk)))
            let start = 128 + k * chunkBytes // after the reference's .npy header
            #expect(bytes.count == chunkBytes, "\(chunk) holds \(bytes.count) bytes, not \(chunkBytes)", sourceLocation: sourceLocation)
            let same = start + chunkBytes <= full.count && bytes[...] == full[start..<(start + chunkBytes)]
            #expect(same, "\(chunk) differs from rows \(k * manifest.rowsPerChunk)... of the reference", sourceLocation: sourceLocation)
        }
        return manifest.rowsDone
    }

    // MARK: Output not writable

    @Test(.enabled(if: OutputFailureTests.canMountTmpfs, "needs root and `mount -t tmpfs` (skipped: not root, or mounts refused here)"))
    func readOnlyFileSystemIsAnErrorNamingThePath() throws {
        let (dir, input) = try Self.input(rows: 20)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mount = try TmpfsMount(options: "ro,size=64k")
        defer { mount.unmount() }
        let output = mount.path + "/out.npy"
        let run = try Self.extract(input: input, output: output)
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains(output) && run.stderr.contains("Read-only file system"), "\(run.stderr)")
        #expect(Self.files(in: mount.path).isEmpty)
    }

    @Test(.enabled(if: OutputFailureTests.canRunAsNobody, "needs root and `setpriv` to run the binary as user nobody (skipped otherwise)"))
    func directoryNotWritableByTheUserIsAnErrorNamingThePath() throws {
        let (dir, input) = try Self.input(rows: 20)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Root-owned, 0755: nobody may read and enter it but not create files in it.
        let locked = dir + "/locked"
        try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        #expect(chmod(dir, 0o755) == 0 && chmod(input, 0o644) == 0)
        let output = locked + "/out.npy"
        let run = try MeasuredRun.run(Self.setprivTool, ["--reuid=65534", "--regid=65534", "--clear-groups",
                                                         ClassifierCLITests.executable.path, "extract", "--model", Self.model,
                                                         "--input", input, "--output", output, "--quiet"])
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains(output) && run.stderr.contains("Permission denied"), "\(run.stderr)")
        #expect(Self.files(in: locked).isEmpty)
    }

    // MARK: Full disk

    /// The disk fills while rows are being written: 1,000 rows × 1,728 bytes on a 256 KiB tmpfs, so the
    /// second 172,800-byte chunk does not fit. The manifest keeps claiming only the first chunk, no temporary
    /// chunk is left, and after the disk grows `--resume` finishes a file byte-identical to a roomy run.
    @Test(.enabled(if: OutputFailureTests.canMountTmpfs, "needs root and `mount -t tmpfs` (skipped: not root, or mounts refused here)"))
    func fullDiskWhileWritingChunks() throws {
        let (dir, input) = try Self.input(rows: 1_000)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reference = dir + "/reference.npy"
        let ok = try Self.extract(input: input, output: reference)
        #expect(ok.status == 0, "\(ok.stderr)")

        let mount = try TmpfsMount(options: "size=256k")
        defer { mount.unmount() }
        let output = mount.path + "/out.npy"
        let run = try Self.extract(input: input, output: output)
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains(output + ".parts/chunk-") && run.stderr.contains("No space left on device"), "\(run.stderr)")
        let claimed = try Self.expectNoCompleteLookingOutput(output, reference: reference)
        #expect(claimed == 100, "rows claimed by the manifest: \(claimed)")

        try mount.remount(options: "size=8m")
        let resumed = try Self.extract(input: input, output: output, ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(contentsOf: URL(fileURLWithPath: reference)))
        #expect(Self.files(in: mount.path) == ["out.npy"])
    }

    /// The rows fit on disk as chunks but the final file does not: 100 rows (one 172,800-byte chunk) on a
    /// 256 KiB tmpfs, then a final file of the same size. The write error names the final file, its
    /// `.partial` is removed, the chunk stays for `--resume`, which completes once the disk grows.
    @Test(.enabled(if: OutputFailureTests.canMountTmpfs, "needs root and `mount -t tmpfs` (skipped: not root, or mounts refused here)"))
    func failedOverwriteKeepsTheOldOutput() throws {
        let (bigDir, big) = try Self.input(rows: 100)
        let (smallDir, small) = try Self.input(rows: 10)
        defer {
            try? FileManager.default.removeItem(atPath: bigDir)
            try? FileManager.default.removeItem(atPath: smallDir)
        }
        let mount = try TmpfsMount(options: "size=256k")
        defer { mount.unmount() }
        let output = mount.path + "/out.npy"
        #expect(try Self.extract(input: small, output: output).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: output))
        // 100 rows need 172,800 bytes of chunks plus as much again for the new file: the disk fills.
        let run = try Self.extract(input: big, output: output, ["--overwrite"])
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("No space left on device"), "\(run.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == before, "the old output survives a failed --overwrite")
        #expect(!Self.files(in: mount.path).contains { $0.hasSuffix(".partial") || $0.hasSuffix(".tmp") })
    }

    @Test(.enabled(if: OutputFailureTests.canMountTmpfs, "needs root and `mount -t tmpfs` (skipped: not root, or mounts refused here)"),
          arguments: ["npy", "safetensors", "jsonl"])
    func fullDiskWhileWritingTheFinalFile(format: String) throws {
        let (dir, input) = try Self.input(rows: 100)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reference = dir + "/reference.npy"
        #expect(try Self.extract(input: input, output: reference).status == 0)
        let referenceInFormat = dir + "/reference." + format
        if format != "npy" { #expect(try Self.extract(input: input, output: referenceInFormat).status == 0) }

        let mount = try TmpfsMount(options: "size=256k")
        defer { mount.unmount() }
        let output = mount.path + "/out." + format
        let run = try Self.extract(input: input, output: output)
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("\(output): write failed: No space left on device"), "\(run.stderr)")
        let claimed = try Self.expectNoCompleteLookingOutput(output, reference: reference)
        #expect(claimed == 100)

        try mount.remount(options: "size=8m")
        let resumed = try Self.extract(input: input, output: output, ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(contentsOf: URL(fileURLWithPath: referenceInFormat)))
        #expect(Self.files(in: mount.path) == ["out." + format])
    }
}
