import FeatureIO
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An atomic write renames a finished temporary file over its path: over a device or a FIFO that would destroy
/// it (a regular file where /dev/null was), so such a path is refused and left as it is.
@Suite struct AtomicWriteTests {
    @Test("writeAtomically refuses to replace a device or a FIFO and leaves it in place")
    func devicesAndFIFOsAreNotReplaced() throws {
        #expect(throws: FileSystemError.self) { try FileSystem.writeAtomically(Array("x".utf8), to: "/dev/null") }
        var info = stat()
        #expect(stat("/dev/null", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR, "/dev/null is still a device")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("featurize-atomic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fifo = dir + "/pipe"
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect(throws: FileSystemError.self) { try FileSystem.writeAtomically(Array("x".utf8), to: fifo) }
        #expect(stat(fifo, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO, "the FIFO is still a FIFO")

        let file = dir + "/out.txt"
        try FileSystem.writeAtomically(Array("one".utf8), to: file)
        try FileSystem.writeAtomically(Array("two".utf8), to: file)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["out.txt", "pipe"], "no temporary file left")
    }
}
