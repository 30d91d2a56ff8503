import Foundation
@testable import ModelIO

/// Package root, derived from this file's location (Tests/ModelIOTests/TestSupport.swift).
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    url.deleteLastPathComponent() // ModelIOTests
    url.deleteLastPathComponent() // Tests
    url.deleteLastPathComponent() // root
    return url.path
}()

let miniLMPath = packageRoot + "/models/all-MiniLM-L6-v2"
let fixturesPath = packageRoot + "/Tests/ModelIOTests/Fixtures"

/// A fresh temporary directory, removed by `cleanup()`.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "modelio-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, bytes: [UInt8]) -> String {
        let full = path + "/" + name
        let dir = (full as NSString).deletingLastPathComponent
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: full, contents: Data(bytes))
        return full
    }

    @discardableResult
    func write(_ name: String, text: String) -> String { write(name, bytes: Array(text.utf8)) }
}

/// Bytes of a safetensors file: 8-byte LE size prefix (`declaredSize`, default the header length),
/// the header bytes, then `data`.
func safetensorsBytes(header: [UInt8], data: [UInt8], declaredSize: UInt64? = nil) -> [UInt8] {
    let size = declaredSize ?? UInt64(header.count)
    var out: [UInt8] = []
    for i in 0..<8 { out.append(UInt8((size >> (8 * UInt64(i))) & 0xFF)) }
    return out + header + data
}

func safetensorsBytes(header: String, data: [UInt8], declaredSize: UInt64? = nil) -> [UInt8] {
    safetensorsBytes(header: Array(header.utf8), data: data, declaredSize: declaredSize)
}

/// Little-endian float32 bytes.
func f32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v -> [UInt8] in
        let bits = v.bitPattern
        return (0..<4).map { UInt8((bits >> (8 * UInt32($0))) & 0xFF) }
    }
}

/// Writes `bytes` as `name` in a temp dir and opens it as safetensors. Returns the thrown error (nil if the
/// file opened) and the file's path, so tests can compare against the exact expected error.
func openError(_ bytes: [UInt8], name: String = "t.safetensors") -> (error: ModelIOError?, path: String) {
    let dir = TempDir()
    let path = dir.write(name, bytes: bytes)
    do {
        _ = try SafetensorsFile(path: path)
        return (nil, path)
    } catch let error as ModelIOError {
        return (error, path)
    } catch {
        return (ModelIOError.cannotRead(path: path, reason: "unexpected error type: \(error)"), path)
    }
}
