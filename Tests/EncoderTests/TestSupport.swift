import Foundation
import Featurize
import ModelIO
import Testing

/// Paths of the committed fixtures (derived from this file's location, not from a resource bundle).
enum FixturePaths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = packageRoot.appendingPathComponent("Tests/EncoderTests/Fixtures")
    static func model(_ name: String) -> String { fixtures.appendingPathComponent("models/\(name)").path }
    static func file(_ relative: String) -> String { fixtures.appendingPathComponent(relative).path }
    static let miniLM = packageRoot.appendingPathComponent("models/all-MiniLM-L6-v2").path
}

enum TestFailure: Error, CustomStringConvertible {
    case fixture(String)
    var description: String { switch self { case let .fixture(s): return s } }
}

/// A minimal .npy reader for the fixtures (little-endian float32 `<f4` or int32 `<i4`, C order).
struct NpyArray {
    var shape: [Int]
    var floats: [Float] = []
    var ints: [Int32] = []

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let bytes = [UInt8](data)
        guard bytes.count > 10, bytes[0] == 0x93, String(decoding: bytes[1...5], as: UTF8.self) == "NUMPY" else {
            throw TestFailure.fixture("\(path): not an npy file")
        }
        let major = bytes[6]
        let headerLength: Int, start: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8; start = 10
        } else {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24; start = 12
        }
        let header = String(decoding: bytes[start..<start + headerLength], as: UTF8.self)
        guard let open = header.range(of: "'shape': ("), let close = header.range(of: ")", range: open.upperBound..<header.endIndex) else {
            throw TestFailure.fixture("\(path): no shape in header \(header)")
        }
        shape = header[open.upperBound..<close.lowerBound].split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !header.contains("'fortran_order': True") else { throw TestFailure.fixture("\(path): fortran order") }
        let count = shape.reduce(1, *)
        let body = start + headerLength
        guard bytes.count >= body + 4 * count else { throw TestFailure.fixture("\(path): truncated") }
        if header.contains("'<f4'") {
            floats = bytes.withUnsafeBytes { raw in
                (0..<count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: body + 4 * $0, as: UInt32.self)) }
            }
        } else if header.contains("'<i4'") {
            ints = bytes.withUnsafeBytes { raw in
                (0..<count).map { raw.loadUnaligned(fromByteOffset: body + 4 * $0, as: Int32.self) }
            }
        } else {
            throw TestFailure.fixture("\(path): unsupported dtype in \(header)")
        }
    }
}

/// An in-memory weight store (tests build broken variants of real weights with it).
struct MemoryWeights: WeightStore {
    var tensors: [String: HostTensor]
    var tensorNames: [String] { tensors.keys.sorted() }
    func shape(of name: String) -> [Int]? { tensors[name]?.shape }
    func tensor(_ name: String) throws -> HostTensor {
        guard let t = tensors[name] else { throw TestFailure.fixture("no tensor \(name)") }
        return t
    }

    init(copying store: any WeightStore) throws {
        tensors = [:]
        for name in store.tensorNames { tensors[name] = try store.tensor(name) }
    }
}

func maxAbsDiff(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    precondition(a.count == b.count, "length mismatch \(a.count) vs \(b.count)")
    var m: Float = 0
    for (x, y) in zip(a, b) { m = max(m, abs(x - y)) }
    return m
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float { maxAbsDiff(a[...], b[...]) }

/// Compares features row by row with sentence-transformers' embeddings (`expected`, `[rows, dim]`): every row's
/// cosine >= 0.99999; prints the worst cosine and max abs difference under `label`.
func expectMatchesSentenceTransformers(_ features: FeatureMatrix, _ expected: NpyArray, texts: [String], label: String) {
    let dim = features.columns
    var worstCosine: Float = 1, worstAbs: Float = 0
    for i in 0..<texts.count {
        let a = features.row(i)[...], b = expected.floats[i * dim..<(i + 1) * dim]
        var dot: Float = 0, na: Float = 0, nb: Float = 0
        for (x, y) in zip(a, b) { dot += x * y; na += x * x; nb += y * y }
        let cosine = dot / (na.squareRoot() * nb.squareRoot())
        worstCosine = min(worstCosine, cosine)
        worstAbs = max(worstAbs, maxAbsDiff(a, b))
        #expect(cosine >= 0.99999, "row \(i) cosine \(cosine): \(texts[i].prefix(60))")
    }
    print("\(label) vs sentence-transformers: \(texts.count) texts, min cosine \(worstCosine), max abs diff \(worstAbs)")
}
