import FeatureIO
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress record of an interrupted or running job, stored next to the output as `<output>.parts/manifest.json`.
public struct OutputManifest: Codable, Equatable, Sendable {
    public var version = 2
    /// Identifies the job's settings (pooling, layers, length, batching, shard, dtype): resuming with other
    /// settings is refused.
    public var fingerprint: String
    /// Content fingerprint of the model (config, tokenizer and weight files; see `ModelFingerprint`).
    public var model: String?
    /// Per completed chunk, the content hash of every input text read up to that chunk's last row (see
    /// `InputRows`): a resumed job re-reads that prefix and must hash the same.
    public var inputHashes: [String]?
    /// The dtype of the final file (chunks always hold float32).
    public var dtype: String
    public var dim: Int?
    /// Input items (texts) per chunk; a chunk holds one feature row per item unless `chunkRows` says otherwise.
    public var rowsPerChunk: Int
    /// Completed chunk files, in order; each holds the output of `rowsPerChunk` items.
    public var chunks: [String]
    /// Per completed chunk, the feature rows it holds (windows or tokens), for layouts with any number of rows
    /// per item (`ChunkLayout.indexedRows`, `.tokens`); nil for one row per item.
    public var chunkRows: [Int]?
    /// Per completed chunk, the size of its side file (`chunk-N.side`: index lines or token records); nil when
    /// the layout has none.
    public var sideBytes: [Int]?
    /// Input items done (the row index a resumed job starts from).
    public var rowsDone: Int { chunks.count * rowsPerChunk }
    /// Feature rows in the completed chunks.
    public var outputRowsDone: Int { chunkRows?.reduce(0, +) ?? rowsDone }

    public init(fingerprint: String, model: String? = nil, dtype: String, dim: Int?, rowsPerChunk: Int, chunks: [String],
                inputHashes: [String]? = nil) {
        self.fingerprint = fingerprint; self.model = model; self.dtype = dtype; self.dim = dim
        self.rowsPerChunk = rowsPerChunk; self.chunks = chunks; self.inputHashes = inputHashes
    }

    /// The name of chunk `index` in the parts directory.
    public static func chunkName(_ index: Int) -> String { String(format: "chunk-%08d.bin", index) }
    /// The name of chunk `index`'s side file (index lines or token records) in the parts directory.
    public static func sideName(_ index: Int) -> String { String(format: "chunk-%08d.side", index) }

    /// The largest rows per chunk and width a manifest may state (they size buffers and files).
    public static let maxRowsPerChunk = 1 << 30, maxDim = 1 << 24

    /// Decodes and validates a manifest (`path` for messages): every number is range-checked and every chunk
    /// name is the expected `chunk-N.bin` in order, so a damaged or hostile manifest is an error naming the
    /// file, never a huge allocation or a path outside the parts directory.
    public static func parse(_ data: Data, path: String) throws -> OutputManifest {
        let m: OutputManifest
        do { m = try JSONDecoder().decode(OutputManifest.self, from: data) } catch {
            throw SchedulerError.resume("\(path) is not a valid manifest (\(error))")
        }
        func bad(_ what: String) -> SchedulerError { .resume("\(path) is not a valid manifest: \(what)") }
        guard m.version == 2 else { throw SchedulerError.resume("\(path) was written by another version of featurize (manifest version \(m.version)); rerun without --resume") }
        guard (1...maxRowsPerChunk).contains(m.rowsPerChunk) else { throw bad("rowsPerChunk \(m.rowsPerChunk) out of range") }
        if let dim = m.dim, !(0...maxDim).contains(dim) { throw bad("dim \(dim) out of range") }
        guard m.chunks.count <= Int.max / m.rowsPerChunk else { throw bad("too many chunks") }
        for (i, name) in m.chunks.enumerated() where name != chunkName(i) {
            throw bad("chunk \(i) is named '\(name)', expected \(chunkName(i))")
        }
        if let hashes = m.inputHashes, hashes.count != m.chunks.count {
            throw bad("\(hashes.count) input hashes for \(m.chunks.count) chunks")
        }
        for (name, counts) in [("chunkRows", m.chunkRows), ("sideBytes", m.sideBytes)] {
            guard let counts else { continue }
            guard counts.count == m.chunks.count else { throw bad("\(counts.count) \(name) for \(m.chunks.count) chunks") }
            guard counts.allSatisfy({ (0...(1 << 40)).contains($0) }) else { throw bad("\(name) out of range") }
        }
        return m
    }
}

/// What a job's chunks hold and how its final files are assembled.
public enum ChunkLayout: Equatable, Sendable {
    /// One feature row per item (text): the final file is the matrix (`.npy`, `.safetensors`, `.jsonl`).
    case matrix
    /// Any number of rows per item, each with one line of a JSON Lines index kept in the chunk's side file;
    /// the final files are the matrix and the index at `indexPath` (`--long-input rows`: the windows).
    case indexedRows(indexPath: String)
    /// Token-level features: rows are tokens, an item is a text; the side file holds each text's
    /// `TextTokens.record`; the final file is ragged (`TokenFeaturesFile`).
    case tokens

    var hasSideFile: Bool { self != .matrix }
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
    public let layout: ChunkLayout
    public private(set) var manifest: OutputManifest
    private let partsDir: String
    private var buffer: [UInt8] = []
    private var side: [UInt8] = []
    /// Items and feature rows in `buffer` (not yet in a chunk).
    private var bufferedItems = 0, bufferedRows = 0
    private let fm = FileManager.default
    private var lock: PartsLock?
    /// Chunks of the manifest that were missing or short on resume and are written again.
    public private(set) var discardedChunks: [String] = []
    /// Says which chunk was damaged and where the job resumes (nil when none was).
    public private(set) var repairNote: String?
    /// The input hash to store with chunk `index` (the content hash of the input up to its last row); set
    /// by the job, which reads the input.
    public var inputHashForChunk: ((Int) -> String?)?

    /// Row index the job must start from (rows before it are already on disk).
    public var rowsDone: Int { manifest.rowsDone }
    /// Feature rows appended so far, those of earlier runs included.
    public var outputRows: Int { manifest.outputRowsDone + bufferedRows }

    /// - resume: continue from an existing parts directory with the same fingerprint (or start fresh if none).
    /// - overwrite: replace an existing output file; without it an existing output is an error.
    /// - modelFingerprint: the model's content fingerprint; a resumed job must have the same.
    /// - layout: one row per item (default), rows with an index, or token-level features.
    public init(outputPath: String, dtype: FeatureDType, rowsPerChunk: Int, fingerprint: String,
                resume: Bool, overwrite: Bool, metadata: [String: String] = [:], modelFingerprint: String? = nil,
                layout: ChunkLayout = .matrix) throws {
        guard rowsPerChunk > 0 else { throw SchedulerError.invalidPolicy("rows per chunk must be positive") }
        self.outputPath = outputPath
        self.layout = layout
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
        // Another job writing the same parts directory would interleave chunks: take its lock first.
        if fm.fileExists(atPath: partsDir) { lock = try PartsLock(directory: partsDir, output: outputPath) }
        if resume, let data = fm.contents(atPath: manifestPath) {
            var m = try OutputManifest.parse(data, path: manifestPath)
            guard m.fingerprint == fingerprint else {
                throw SchedulerError.resume("\(manifestPath) was written by a job with other settings; they differ in: \(OutputManifest.differences(m.fingerprint, fingerprint)); rerun without --resume (and with --overwrite), or with the original settings")
            }
            if let modelFingerprint, m.model != modelFingerprint {
                throw SchedulerError.resume("the model differs from the interrupted job's (its files changed: model fingerprint \(modelFingerprint), the manifest \(manifestPath) has \(m.model ?? "none")); rerun without --resume, or restore the original model")
            }
            guard m.dtype == dtype.rawValue, m.rowsPerChunk == rowsPerChunk else {
                throw SchedulerError.resume("\(manifestPath): dtype or chunk size differ from this job's")
            }
            guard (m.chunkRows != nil) == layout.hasSideFile, (m.sideBytes != nil) == layout.hasSideFile else {
                throw SchedulerError.resume("\(manifestPath): its chunks are of another layout than this job's (rows per text, windows or tokens); rerun without --resume")
            }
            // Chunks are written atomically, so a missing or short one was damaged after the fact: continue
            // from the last good chunk instead of failing at the end on its size.
            let dir = partsDir
            func size(_ name: String) -> Int? {
                ((try? FileManager.default.attributesOfItem(atPath: dir + "/" + name))?[.size] as? NSNumber)?.intValue
            }
            for (i, chunk) in m.chunks.enumerated() {
                let expectedBytes = m.dim.map { (m.chunkRows?[i] ?? m.rowsPerChunk) * $0 * 4 }
                var damage: String?
                if let size = size(chunk) {
                    if let expectedBytes, size != expectedBytes { damage = "\(partsDir)/\(chunk) is \(size) bytes, expected \(expectedBytes)" }
                } else {
                    damage = "\(partsDir)/\(chunk) is missing"
                }
                if damage == nil, let expected = m.sideBytes?[i] {
                    let name = OutputManifest.sideName(i)
                    if let size = size(name) {
                        if size != expected { damage = "\(partsDir)/\(name) is \(size) bytes, expected \(expected)" }
                    } else {
                        damage = "\(partsDir)/\(name) is missing"
                    }
                }
                if let damage {
                    discardedChunks = Array(m.chunks[i...])
                    repairNote = damage + "; resuming from row \(i * m.rowsPerChunk) (\(m.chunks.count - i) chunk(s) are redone)"
                    m.chunks.removeSubrange(i...)
                    m.inputHashes?.removeSubrange(i...)
                    m.chunkRows?.removeSubrange(i...)
                    m.sideBytes?.removeSubrange(i...)
                    break
                }
            }
            manifest = m
            if !discardedChunks.isEmpty { try writeManifest() }
        } else {
            if resume && fm.fileExists(atPath: outputPath) && !overwrite {
                throw SchedulerError.resume("\(outputPath) is complete (there is no \(manifestPath) of an interrupted job); pass --overwrite instead of --resume to replace it")
            }
            try? fm.removeItem(atPath: partsDir)
            guard mkdir(partsDir, 0o755) == 0 else {
                // strerror's words ("Read-only file system", "Permission denied"), not Foundation's paraphrase.
                throw SchedulerError.io(path: outputPath, detail: "cannot create the work directory \(partsDir): \(String(cString: strerror(errno)))")
            }
            lock = try PartsLock(directory: partsDir, output: outputPath)
            manifest = OutputManifest(fingerprint: fingerprint, model: modelFingerprint, dtype: dtype.rawValue, dim: nil,
                                      rowsPerChunk: rowsPerChunk, chunks: [], inputHashes: [])
            if layout.hasSideFile { manifest.chunkRows = []; manifest.sideBytes = [] }
            try writeManifest()
        }
        // Chunk files beyond the manifest are from a chunk being written when the job died: ignore them.
    }

    /// Appends the next item's row (items arrive in input order; one row per item).
    public func append(_ row: [Float]) throws { try appendItem(rows: row, count: 1) }

    /// Appends the next item: `count` feature rows (`values` is `[count, dim]`, row-major) and, for layouts
    /// with a side file, its side bytes (index lines, or a `TextTokens.record`).
    public func appendItem(rows values: [Float], count: Int, side itemSide: [UInt8] = []) throws {
        if count > 0 {
            let d = manifest.dim ?? values.count / count
            guard d > 0 || values.isEmpty, values.count == count * d else {
                throw SchedulerError.badResult(device: "writer", detail: "\(values.count) values for \(count) row(s) of \(d)")
            }
            if manifest.dim == nil { manifest.dim = d }
        } else if !values.isEmpty {
            throw SchedulerError.badResult(device: "writer", detail: "\(values.count) values for no row")
        }
        guard count == 1 || layout.hasSideFile else {
            throw SchedulerError.badResult(device: "writer", detail: "\(count) rows for one item in a one-row-per-item output")
        }
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { buffer.append(contentsOf: $0) } }
        side.append(contentsOf: itemSide)
        bufferedItems += 1
        bufferedRows += count
        if bufferedItems == manifest.rowsPerChunk { try flushChunk() }
    }

    private func flushChunk() throws {
        let index = manifest.chunks.count
        let name = OutputManifest.chunkName(index)
        // The side file first, then the rows, then the manifest: a chunk counts only once the manifest names it.
        if layout.hasSideFile { try atomicWrite(partsDir + "/" + OutputManifest.sideName(index), Data(side)) }
        try atomicWrite(partsDir + "/" + name, Data(buffer))
        if var hashes = manifest.inputHashes {
            hashes.append(inputHashForChunk?(index) ?? "")
            manifest.inputHashes = hashes
        }
        manifest.chunks.append(name)
        if layout.hasSideFile {
            manifest.chunkRows?.append(bufferedRows)
            manifest.sideBytes?.append(side.count)
        }
        try writeManifest()
        buffer.removeAll(keepingCapacity: true); side.removeAll(keepingCapacity: true)
        bufferedItems = 0; bufferedRows = 0
    }

    private func writeManifest() throws {
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try atomicWrite(partsDir + "/manifest.json", try enc.encode(manifest))
    }

    /// Writes all rows into the final file (the FeatureIO writer writes `PATH.partial` and renames it over
    /// any existing file) and removes the parts directory. `emptyDim` is the width used when no row was
    /// written (empty input). With `.indexedRows` the index file is written first, with `.tokens` the ragged file.
    public func finish(emptyDim: Int) throws {
        let dim = manifest.dim ?? emptyDim
        func chunkBytes(_ i: Int) throws -> Data {
            guard i < manifest.chunks.count else { return Data(buffer) }
            guard let d = fm.contents(atPath: partsDir + "/" + manifest.chunks[i]) else {
                throw SchedulerError.io(path: partsDir + "/" + manifest.chunks[i], detail: "cannot read chunk")
            }
            return d
        }
        func sideBytes(_ i: Int) throws -> [UInt8] {
            guard i < manifest.chunks.count else { return side }
            let path = partsDir + "/" + OutputManifest.sideName(i)
            guard let d = fm.contents(atPath: path) else { throw SchedulerError.io(path: path, detail: "cannot read chunk side file") }
            return [UInt8](d)
        }
        let parts = manifest.chunks.count + (bufferedItems > 0 ? 1 : 0)
        switch layout {
        case .tokens:
            try TokenFeaturesFile.write(ChunkTokenParts(count: parts, features: { Self.floats(try chunkBytes($0)) },
                                                        tokens: { i in try TextTokens.records(try sideBytes(i), path: self.partsDir + "/" + OutputManifest.sideName(i)) }),
                                        columns: dim, dtype: dtype, to: outputPath, metadata: metadata)
        case let .indexedRows(indexPath):
            let index = try AtomicStreamFile(path: indexPath)
            for i in 0..<parts { try index.write(try sideBytes(i)) }
            try index.commit()
            fallthrough
        case .matrix:
            // An existing output (--overwrite) stays until the new file is complete: the writer's rename replaces
            // it atomically, so a failure here (e.g. a full disk) leaves the old file intact.
            let writer = try makeFeatureWriter(path: outputPath, columns: dim, dtype: dtype, metadata: metadata)
            for i in 0..<parts { try writer.append(rows: Self.floats(try chunkBytes(i))) }
            try writer.finish()
        }
        try? fm.removeItem(atPath: partsDir)
        lock = nil
    }

    /// Little-endian float32 bytes as floats.
    static func floats(_ data: Data) -> [Float] {
        var values = [Float](repeating: 0, count: data.count / 4)
        values.withUnsafeMutableBytes { dst in _ = data.copyBytes(to: dst) }
        for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
        return values
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

/// A job's chunks as the parts of a token-level file.
private struct ChunkTokenParts: TokenFeatureParts {
    let count: Int
    let features: (Int) throws -> [Float]
    let tokens: (Int) throws -> [TextTokens]
    var partCount: Int { count }
    func tokens(ofPart index: Int) throws -> [TextTokens] { try tokens(index) }
    func features(ofPart index: Int) throws -> [Float] { try features(index) }
}

extension OutputManifest {
    /// The `key=value` lines in which two settings fingerprints differ (fingerprints are newline-separated
    /// `key=value` lines), for messages.
    public static func differences(_ old: String, _ new: String) -> String {
        let a = old.split(separator: "\n").map(String.init), b = new.split(separator: "\n").map(String.init)
        func key(_ line: String) -> Substring { line.split(separator: "=", maxSplits: 1).first ?? "" }
        let oldByKey = Dictionary(a.map { (key($0), $0) }, uniquingKeysWith: { x, _ in x })
        let newKeys = Set(b.map(key))
        var changed: [String] = []
        for line in b where oldByKey[key(line)] != line {
            if let was = oldByKey[key(line)] {
                changed.append("\(line) (was \(was.split(separator: "=", maxSplits: 1).last ?? ""))")
            } else {
                changed.append("\(line) (was not set)")
            }
        }
        for line in a where !newKeys.contains(key(line)) { changed.append("\(key(line)) not set (was \(line.split(separator: "=", maxSplits: 1).last ?? ""))") }
        if changed.isEmpty { return "nothing" }
        return changed.joined(separator: ", ")
    }
}

/// An exclusive `flock` on a job's parts directory for the writer's lifetime: a second job on the same output
/// is refused with the holder's process id (from `/proc/locks`) instead of interleaving chunks. The kernel
/// drops the lock when the process dies (`kill -9` included), so a stale lock never blocks `--resume`. The
/// lock is on the directory itself: no extra file appears in it.
final class PartsLock {
    private let fd: Int32

    init(directory: String, output: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SchedulerError.io(path: directory, detail: "cannot open the work directory to lock it: \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var info = stat()
            let holder = fstat(fd, &info) == 0 ? PartsLock.holder(inode: UInt64(info.st_ino)) : nil
            close(fd)
            throw SchedulerError.io(path: output, detail: "another featurize job (\(holder.map { "process \($0)" } ?? "another process")) is writing \(directory); wait for it to end or stop it")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// The process id holding a `flock` on the file with `inode`, from `/proc/locks` (Linux; nil elsewhere).
    static func holder(inode: UInt64) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            // "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF"
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int(fields[4]) else { continue }
            if let last = fields[5].split(separator: ":").last, UInt64(last) == inode { return pid }
        }
        return nil
    }
}
