import ArgumentParser
import Backend
import Encoder
import Featurize
import OpenCLBackend
import Foundation
import ModelIO

/// `featurize bench-encoder` (hidden): whole-encoder throughput on one device for a fixed batch of token ids
/// (`[batch, seq]` int32 .npy, no padding), median of timed runs after warm-up; optionally writes the last
/// hidden state `[batch, seq, hidden]` for a parity check against PyTorch.
struct BenchEncoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-encoder",
        abstract: "Time the whole encoder on a device for a fixed batch of token ids.",
        shouldDisplay: false)

    @Option(help: "Model directory.")
    var model: String
    @Option(help: "Token ids: .npy int32 [batch, seq].")
    var ids: String
    @Option(help: "Device: cpu, opencl or opencl:N.", transform: { try DeviceSpec(parsing: $0) })
    var device = DeviceSpec([.opencl(index: nil)])
    @Option(help: "Timed runs (the median is reported).")
    var runs: Int = 10
    @Option(help: "Warm-up runs (not timed).")
    var warmup: Int = 3
    @OptionGroup var precision: ComputePrecisionOption
    @Option(name: .customLong("hidden-out"), help: "Write the last hidden state [batch, seq, hidden] as float32 .npy.")
    var hiddenOut: String?

    func run() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: ids))
        let (batch, seq, tokenIDs) = try Self.readInt32Matrix(data, path: ids)
        let dir = try ModelDirectory(path: model)
        let devices = try DeviceRegistry.system.resolve(device).devices
        guard devices.count == 1, let target = devices.first else {
            throw ValidationError("--device \(device) names \(devices.count) devices; bench-encoder times one")
        }
        // OpenCL devices of the registry make their backend in the requested precision (one line says which runs).
        ComputePrecision.requested = precision.computePrecision
        let backend = try target.makeBackend()
        let encoder = try Encoder(config: dir.config, weights: try dir.loadWeights(), backend: backend)
        let lengths = [Int32](repeating: Int32(seq), count: batch)
        let last = dir.config.numLayers
        var times: [Double] = []
        var output: [Int: any DeviceBuffer] = [:]
        for i in 0..<(warmup + runs) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            output = try encoder.forward(ids: tokenIDs, typeIds: nil, lengths: lengths, batch: batch, seq: seq, layers: [last])
            try backend.synchronize()
            if i >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
        }
        times.sort()
        let median = times[times.count / 2]
        let c = dir.config
        // Linear layers (QKV, output, two FFN) + attention products, multiply-add = 2 FLOPs.
        let linear = 2.0 * Double(batch * seq) * Double(c.numLayers) * Double(4 * c.hiddenSize * c.hiddenSize + 2 * c.hiddenSize * c.intermediateSize)
        let attention = 2.0 * 2.0 * Double(batch) * Double(seq * seq) * Double(c.hiddenSize) * Double(c.numLayers)
        let precisionLabel = (backend as? OpenCLBackend).map { " [\($0.precision.rawValue)\($0.usesTensorCores ? ", tensor cores" : "")]" } ?? ""
        print(String(format: "bench-encoder %@ on %@%@: batch %d x seq %d, median %.2f ms over %d runs, %.1f texts/s, %.0f tokens/s, %.1f GFLOP/s",
                     (model as NSString).lastPathComponent, backend.name, precisionLabel, batch, seq, median * 1e3, runs,
                     Double(batch) / median, Double(batch * seq) / median, (linear + attention) / median / 1e9))
        if let hiddenOut, let state = output[last] {
            let values = try backend.read(state)
            let writer = try NpyWriter(path: hiddenOut, columns: c.hiddenSize)
            try writer.append(rows: Array(values.prefix(batch * seq * c.hiddenSize)))
            try writer.finish()
        }
    }

    /// Reads a little-endian int32 (or int64) C-order 2-D .npy.
    static func readInt32Matrix(_ data: Data, path: String) throws -> (Int, Int, [Int32]) {
        let bytes = [UInt8](data)
        guard bytes.count > 10, bytes[0] == 0x93 else { throw ValidationError("\(path): not a .npy file") }
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        let width = header.contains("'<i8'") ? 8 : header.contains("'<i4'") ? 4 : 0
        guard width > 0, let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw ValidationError("\(path): expected an int32/int64 matrix")
        }
        let dims = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.count == 2, bytes.count == 10 + headerLength + dims[0] * dims[1] * width else {
            throw ValidationError("\(path): expected a 2-D matrix matching the file size")
        }
        let body = 10 + headerLength
        let values: [Int32] = bytes.withUnsafeBytes { raw in
            (0..<(dims[0] * dims[1])).map { i in
                width == 4 ? raw.loadUnaligned(fromByteOffset: body + 4 * i, as: Int32.self)
                    : Int32(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: body + 8 * i, as: Int64.self))
            }
        }
        return (dims[0], dims[1], values)
    }
}
