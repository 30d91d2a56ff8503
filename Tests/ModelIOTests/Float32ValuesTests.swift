import Foundation
import Testing
@testable import ModelIO

/// `WeightStore.withFloat32Values`: the same values as `tensor(_:)` for every float dtype, whether the tensor
/// is read in place (aligned F32) or converted (F16, BF16, F64, F32 at an unaligned address), and the same
/// errors.
@Suite struct Float32ValuesTests {
    /// One file: F32 [2, 3] aligned, F16 [3], F32 [3] right after it (2-byte aligned only), BF16 [2], F64 [1],
    /// I32 [1]. The header is padded so the data section starts at a multiple of 8.
    static func file(in dir: TempDir) throws -> SafetensorsFile {
        let a: [Float] = [1.5, -2, 3.25, 0, -0.125, 7]
        let u: [Float] = [-1, 0.5, 1e-3]
        var data = f32Bytes(a)                                  // 0 ..< 24
        data += [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38]            // F16 1, -2, 0.5: 24 ..< 30
        data += f32Bytes(u)                                     // 30 ..< 42 (unaligned)
        data += [0x80, 0x3F, 0x40, 0xC0]                        // BF16 1, -3: 42 ..< 46
        var d = 0.1.bitPattern
        for _ in 0..<8 { data.append(UInt8(d & 0xFF)); d >>= 8 } // F64 0.1: 46 ..< 54
        data += [7, 0, 0, 0]                                    // I32 7: 54 ..< 58
        var header = """
        {"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"h":{"dtype":"F16","shape":[3],"data_offsets":[24,30]},\
        "u":{"dtype":"F32","shape":[3],"data_offsets":[30,42]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[42,46]},\
        "d":{"dtype":"F64","shape":[1],"data_offsets":[46,54]},"i":{"dtype":"I32","shape":[1],"data_offsets":[54,58]}}
        """
        while header.utf8.count % 8 != 0 { header += " " }
        return try SafetensorsFile(path: dir.write("t.safetensors", bytes: safetensorsBytes(header: header, data: data)))
    }

    @Test("every float dtype, aligned or not: the values of tensor(_:)")
    func sameValues() throws {
        let dir = TempDir()
        let file = try Self.file(in: dir)
        let expected: [String: [Float]] = ["a": [1.5, -2, 3.25, 0, -0.125, 7], "h": [1, -2, 0.5], "u": [-1, 0.5, 1e-3],
                                           "b": [1, -3], "d": [Float(0.1)]]
        for (name, values) in expected {
            let tensor = try file.tensor(name)
            #expect(tensor.values == values, "\(name): tensor(_:)")
            let viewed = try file.withFloat32Values(name) { Array($0) }
            #expect(viewed.map(\.bitPattern) == tensor.values.map(\.bitPattern), "\(name): withFloat32Values")
        }
        // A store without its own implementation (the protocol default) gives the same values.
        struct Wrapped: WeightStore {
            let file: SafetensorsFile
            var tensorNames: [String] { file.tensorNames }
            func shape(of name: String) -> [Int]? { file.shape(of: name) }
            func tensor(_ name: String) throws -> HostTensor { try file.tensor(name) }
        }
        #expect(try Wrapped(file: file).withFloat32Values("u") { Array($0) } == [-1, 0.5, 1e-3])
    }

    @Test("a missing tensor and an integer tensor give the errors of tensor(_:)")
    func errors() throws {
        let dir = TempDir()
        let file = try Self.file(in: dir)
        for name in ["missing", "i"] {
            var viaTensor: ModelIOError?, viaValues: ModelIOError?
            do { _ = try file.tensor(name) } catch let e as ModelIOError { viaTensor = e }
            do { _ = try file.withFloat32Values(name) { $0.count } } catch let e as ModelIOError { viaValues = e }
            #expect(viaTensor != nil && viaTensor == viaValues, "\(name): \(String(describing: viaValues))")
        }
    }
}
