import FeatureIO
import Foundation

/// Progress record of an interrupted or running job, stored next to the output as `<output>.parts/manifest.json`.
public struct OutputManifest: Codable, Equatable, Sendable {
    public var version = 1
    /// Identifies the job's settings (model, pooling, input, ...): resuming with other settings is refused.
    public var fingerprint: String
    /// The dtype of the final file (chunks always hold float32).
    public var dtype: String
    public var dim: Int?
    public var rowsPerChunk: Int
    /// Completed chunk files, in order; each holds `rowsPerChunk` rows.
    public var chunks: [String]
    public var rowsDone: Int { chunks.count * rowsPerChunk }
}

/// Writes rows in order into fixed-size chunk files with an atomically replaced manifest, so that a job killed
/// at any moment (`kill -9` included) resumes from the last complete chunk, and assembles the final file at
/// the end. With `rowsPerChunk` a multiple of the batching window, a resumed job plans exactly the batches an
/// uninterrupted one would, so the final file is byte-identical.
public final class ChunkedFeatureWriter {
    public let outputPath: String
    public let dtype: FeatureDType
    /// String metadata for formats that carry it (safetensors `__metadata__`).
    public let metadata: [String: String]
    public private(set) var manifest: OutputManifest
    private let partsDir: String
    private var buffer: [UInt8] = []
    private var bufferedRows = 0
    private let fm = FileManager.default

    /// Row index the job must start from (rows before it are already on disk).
    public var rowsDone: Int { manifest.rowsDone }

    /// - resume: continue from an existing parts directory with the same fingerprint (or start fresh if none).
    /// - overwrite: replace an existing output file; without it an existing output is an error.
    public init(outputPath: String, dtype: FeatureDType, rowsPerChunk: Int, fingerprint: String,
                resume: Bool, overwrite: Bool, metadata: [String: String] = [:]) throws {
        guard rowsPerChunk > 0 else { throw SchedulerError.invalidPolicy("rows per chunk must be positive") }
        self.outputPath = outputPath
        guard FeatureOutputFormat(path: outputPath) != nil else {
            throw SchedulerError.io(path: outputPath, detail: "unknown output extension; use .npy, .safetensors or .jsonl")
        }
        self.dtype = dtype
        self.metadata = metadata
        self.partsDir = outputPath + ".parts"
        let dir = (outputPath as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        if !dir.isEmpty && !(fm.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue) {
            throw SchedulerError.io(path: outputPath, detail: "the output directory \(dir) does not exist")
        }
        if fm.fileExists(atPath: outputPath) && !overwrite && !resume {
            throw SchedulerError.io(path: outputPath, detail: "output exists; pass --overwrite to replace it")
        }
        let manifestPath = partsDir + "/manifest.json"
        if resume, let data = fm.contents(atPath: manifestPath) {
            guard let m = try? JSONDecoder().decode(OutputManifest.self, from: data) else {
                throw SchedulerError.resume("\(manifestPath) is not a valid manifest")
            }
            guard m.fingerprint == fingerprint else {
                throw SchedulerError.resume("\(manifestPath) was written by a job with other settings (model, pooling, input or batching); rerun without --resume, or with the original settings")
            }
            guard m.dtype == dtype.rawValue, m.rowsPerChunk == rowsPerChunk else {
                throw SchedulerError.resume("\(manifestPath): dtype or chunk size differ from this job's")
            }
            for chunk in m.chunks where !fm.fileExists(atPath: partsDir + "/" + chunk) {
                throw SchedulerError.resume("\(partsDir)/\(chunk) listed in the manifest is missing")
            }
            manifest = m
        } else {
            try? fm.removeItem(atPath: partsDir)
            guard mkdir(partsDir, 0o755) == 0 else {
                // strerror's words ("Read-only file system", "Permission denied"), not Foundation's paraphrase.
                throw SchedulerError.io(path: outputPath, detail: "cannot create the work directory \(partsDir): \(String(cString: strerror(errno)))")
            }
            manifest = OutputManifest(fingerprint: fingerprint, dtype: dtype.rawValue, dim: nil, rowsPerChunk: rowsPerChunk, chunks: [])
            try writeManifest()
        }
        // Chunk files beyond the manifest are from a chunk being written when the job died: ignore them.
    }

    /// Appends the next row (rows arrive in input order).
    public func append(_ row: [Float]) throws {
        if let d = manifest.dim {
            guard row.count == d else { throw SchedulerError.badResult(device: "writer", detail: "row of \(row.count) values, expected \(d)") }
        } else {
            manifest.dim = row.count
        }
        for v in row { withUnsafeBytes(of: v.bitPattern.littleEndian) { buffer.append(contentsOf: $0) } }
        bufferedRows += 1
        if bufferedRows == manifest.rowsPerChunk { try flushChunk() }
    }

    private func flushChunk() throws {
        let name = String(format: "chunk-%08d.bin", manifest.chunks.count)
        try atomicWrite(partsDir + "/" + name, Data(buffer))
        manifest.chunks.append(name)
        try writeManifest()
        buffer.removeAll(keepingCapacity: true); bufferedRows = 0
    }

    private func writeManifest() throws {
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try atomicWrite(partsDir + "/manifest.json", try enc.encode(manifest))
    }

    /// Writes all rows into the final file (the FeatureIO writer writes `PATH.partial` and renames it over
    /// any existing file) and removes the parts directory. `emptyDim` is the width used when no row was written (empty input).
    public func finish(emptyDim: Int) throws {
        let dim = manifest.dim ?? emptyDim
        // An existing output (--overwrite) stays until the new file is complete: the writer's rename replaces
        // it atomically, so a failure here (e.g. a full disk) leaves the old file intact.
        let writer = try makeFeatureWriter(path: outputPath, columns: dim, dtype: dtype, metadata: metadata)
        func appendBytes(_ data: Data) throws {
            var values = [Float](repeating: 0, count: data.count / 4)
            values.withUnsafeMutableBytes { dst in _ = data.copyBytes(to: dst) }
            for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
            try writer.append(rows: values)
        }
        for chunk in manifest.chunks {
            guard let d = fm.contents(atPath: partsDir + "/" + chunk) else {
                throw SchedulerError.io(path: partsDir + "/" + chunk, detail: "cannot read chunk")
            }
            try appendBytes(d)
        }
        if bufferedRows > 0 { try appendBytes(Data(buffer)) }
        try writer.finish()
        try? fm.removeItem(atPath: partsDir)
    }

    /// Writes `data` to `path` through `path.tmp` + fsync + rename, so `path` is either absent or complete.
    /// On failure (a full disk, a read-only file system) the temporary file is removed and the error names
    /// `path` and the system's reason.
    private func atomicWrite(_ path: String, _ data: Data) throws {
        do {
            try AtomicFile.save([UInt8](data), to: path)
        } catch let error as FeatureIOError {
            switch error {
            case let .cannotOpen(_, reason): throw SchedulerError.io(path: path, detail: "cannot create \(path).tmp: \(reason)")
            case let .writeFailed(_, reason): throw SchedulerError.io(path: path, detail: "write failed: \(reason)")
            default: throw error
            }
        }
    }
}
