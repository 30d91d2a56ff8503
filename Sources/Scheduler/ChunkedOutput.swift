import Foundation

/// Output file formats for a feature matrix `[rows, dim]`.
public enum FeatureFileFormat: String, Codable, Sendable {
    case npy, safetensors, jsonl

    /// The format implied by a path's extension.
    public static func infer(from path: String) throws -> FeatureFileFormat {
        let ext = (path as NSString).pathExtension.lowercased()
        guard let f = FeatureFileFormat(rawValue: ext) else {
            throw SchedulerError.io(path: path, detail: "unknown output extension '.\(ext)'; use .npy, .safetensors or .jsonl")
        }
        return f
    }
}

/// Progress record of an interrupted or running job, stored next to the output as `<output>.parts/manifest.json`.
public struct OutputManifest: Codable, Equatable, Sendable {
    public var version = 1
    /// Identifies the job's settings (model, pooling, input, ...): resuming with other settings is refused.
    public var fingerprint: String
    public var dtype: FeatureDType
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
    public let format: FeatureFileFormat
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
                resume: Bool, overwrite: Bool) throws {
        guard rowsPerChunk > 0 else { throw SchedulerError.invalidPolicy("rows per chunk must be positive") }
        self.outputPath = outputPath
        self.format = try FeatureFileFormat.infer(from: outputPath)
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
            guard m.dtype == dtype, m.rowsPerChunk == rowsPerChunk else {
                throw SchedulerError.resume("\(manifestPath): dtype or chunk size differ from this job's")
            }
            for chunk in m.chunks where !fm.fileExists(atPath: partsDir + "/" + chunk) {
                throw SchedulerError.resume("\(partsDir)/\(chunk) listed in the manifest is missing")
            }
            manifest = m
        } else {
            try? fm.removeItem(atPath: partsDir)
            do { try fm.createDirectory(atPath: partsDir, withIntermediateDirectories: false) } catch {
                throw SchedulerError.io(path: partsDir, detail: "cannot create: \(error.localizedDescription)")
            }
            manifest = OutputManifest(fingerprint: fingerprint, dtype: dtype, dim: nil, rowsPerChunk: rowsPerChunk, chunks: [])
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
        manifest.dtype.encode(row, into: &buffer)
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

    /// Writes all rows into the final file (temp file + rename) and removes the parts directory.
    /// `dim` is used when no row was written (empty input).
    public func finish(emptyDim: Int) throws {
        let dim = manifest.dim ?? emptyDim
        let rows = manifest.rowsDone + bufferedRows
        let tmp = outputPath + ".tmp"
        _ = fm.createFile(atPath: tmp, contents: nil)
        guard let h = FileHandle(forWritingAtPath: tmp) else {
            throw SchedulerError.io(path: tmp, detail: "cannot write (check the directory's permissions)")
        }
        do {
            defer { try? h.close() }
            func rowChunks(_ body: (Data) throws -> Void) throws {
                for chunk in manifest.chunks {
                    guard let d = fm.contents(atPath: partsDir + "/" + chunk) else {
                        throw SchedulerError.io(path: partsDir + "/" + chunk, detail: "cannot read chunk")
                    }
                    try body(d)
                }
                if bufferedRows > 0 { try body(Data(buffer)) }
            }
            switch format {
            case .npy:
                try h.write(contentsOf: NpyFormat.header(rows: rows, cols: dim, dtype: manifest.dtype))
                try rowChunks { try h.write(contentsOf: $0) }
            case .safetensors:
                let bytes = rows * dim * manifest.dtype.byteSize
                var json = "{\"features\":{\"dtype\":\"\(manifest.dtype.safetensorsName)\",\"shape\":[\(rows),\(dim)],\"data_offsets\":[0,\(bytes)]}}"
                while json.utf8.count % 8 != 0 { json += " " }
                var len = UInt64(json.utf8.count).littleEndian
                try h.write(contentsOf: Data(bytes: &len, count: 8))
                try h.write(contentsOf: Data(json.utf8))
                try rowChunks { try h.write(contentsOf: $0) }
            case .jsonl:
                let rowBytes = dim * manifest.dtype.byteSize
                try rowChunks { data in
                    var text = ""
                    data.withUnsafeBytes { raw in
                        var o = 0
                        while o + rowBytes <= raw.count {
                            var values: [String] = []
                            values.reserveCapacity(dim)
                            for j in 0..<dim {
                                let v: Float = manifest.dtype == .f32
                                    ? Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o + 4 * j, as: UInt32.self)))
                                    : Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o + 2 * j, as: UInt16.self))))
                                values.append("\(v)")
                            }
                            text += "[" + values.joined(separator: ",") + "]\n"
                            o += rowBytes
                        }
                    }
                    try h.write(contentsOf: Data(text.utf8))
                }
            }
            try h.synchronize()
        } catch let e as SchedulerError {
            try? fm.removeItem(atPath: tmp); throw e
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw SchedulerError.io(path: tmp, detail: "write failed: \(error.localizedDescription) (disk full?)")
        }
        if fm.fileExists(atPath: outputPath) { try? fm.removeItem(atPath: outputPath) }
        do { try fm.moveItem(atPath: tmp, toPath: outputPath) } catch {
            throw SchedulerError.io(path: outputPath, detail: "cannot rename \(tmp): \(error.localizedDescription)")
        }
        try? fm.removeItem(atPath: partsDir)
    }

    private func atomicWrite(_ path: String, _ data: Data) throws {
        let tmp = path + ".tmp"
        guard fm.createFile(atPath: tmp, contents: data) else {
            throw SchedulerError.io(path: tmp, detail: "cannot write (disk full or not writable?)")
        }
        if let h = FileHandle(forWritingAtPath: tmp) { try? h.synchronize(); try? h.close() }
        if rename(tmp, path) != 0 {
            throw SchedulerError.io(path: path, detail: "cannot rename \(tmp): errno \(errno)")
        }
    }
}
