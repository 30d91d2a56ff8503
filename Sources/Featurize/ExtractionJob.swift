import Backend
import Foundation
import Scheduler
import Tokenizer

/// Settings of one `featurize extract` job beyond the model and pooling.
public struct ExtractionJobOptions {
    /// Input file (.txt, .jsonl, .csv, .tsv) or "-" for standard input.
    public var input: String
    /// JSONL field / CSV column of the text (nil: "text").
    public var textField: String?
    /// Output file: .npy, .safetensors or .jsonl.
    public var output: String
    public var dtype: FeatureDType = .float32
    public var batching = BatchingPolicy(maxBatchTokens: 16_384, maxBatchSize: nil, window: 8_192)
    /// Continue an interrupted job from `<output>.parts/`.
    public var resume = false
    /// Replace an existing output file.
    public var overwrite = false
    /// Process only this shard of the input (rows r with r % N == i); writes `<output>.shard.json` too.
    public var shard: ShardSpec?
    /// Rows per on-disk chunk; a multiple of the window so a resumed job is byte-identical.
    public var windowsPerChunk = 1
    /// Stored in outputs that carry metadata (safetensors `__metadata__`).
    public var metadata: [String: String] = [:]
    /// Hash every byte of the model's weight files for its fingerprint (default: headers and samples; see
    /// `ModelFingerprint`).
    public var fullModelCheck = true
    /// Fail (after writing every row) when a row holds NaN or ±Inf (always counted and reported).
    public var strictFinite = false
    /// Test-only: make a device fail (see `FaultInjection`; the CLI reads `FEATURIZE_INJECT_FAULT`).
    public var faultInjection: FaultInjection?
    /// What each input row is: a text (default), a sentence pair, or a long text split into windows.
    public var inputShape: InputShape = .texts
    /// Token-level output (`--pooling none`): every token's vector, ragged (`.safetensors` or `.jsonl`).
    public var tokenLevel = false
    /// With `.windowRows`: where the window index goes (default `<output>.windows.jsonl`).
    public var windowIndexOutput: String?

    public init(input: String, textField: String? = nil, output: String) {
        self.input = input; self.textField = textField; self.output = output
    }
}

/// Counters and timings of a finished job (`--stats FILE` writes it as JSON).
public struct ExtractionReport: Codable, Sendable {
    public var texts = 0
    /// Rows skipped because an earlier, interrupted run had written them (`--resume`).
    public var resumedRows = 0
    public var inputRows = 0
    public var tokens = 0
    public var truncated = 0
    public var dimension = 0
    /// Rows of the output file, earlier runs' included: one per text, or per window (`--long-input rows`), or
    /// per token (`--pooling none`).
    public var outputRows = 0
    public var readSeconds = 0.0
    public var tokenizeSeconds = 0.0
    public var totalSeconds = 0.0
    public var paddingEfficiency = 1.0
    /// Rows of this run holding NaN or ±Inf (after the float16 conversion with `--dtype f16`).
    public var nonFiniteRows = 0
    /// The first (up to 20) such rows, 0-based output row numbers.
    public var nonFiniteRowNumbers: [Int] = []
    /// Set when `--resume` found a damaged chunk and redid it (which chunk, and from which row).
    public var repairNote: String?
    public var scheduler = SchedulerStats()
}

/// Streams an input file through the tokenizer, the scheduler (length-sorted batches under a token budget on
/// one or more devices, CPU fallback) and a chunked, resumable writer. Memory stays bounded: only a window of
/// texts and the batches in flight are held. Every input shape takes this path: texts, sentence pairs, long
/// texts cut into windows (each window batched like a text; `chunk` pools them, `rows` writes them with an
/// index) and token-level output (`options.inputShape`, `options.tokenLevel`).
public final class ExtractionJob {
    public let devices: [FeatureExtractor]
    public let fallback: FeatureExtractor?
    public let options: ExtractionJobOptions
    /// Called on the calling thread as rows are written: (rows written, tokens so far, seconds, estimated
    /// total rows — from the fraction of the input file read; nil for streams).
    public var progress: ((Int, Int, Double, Int?) -> Void)?

    /// - devices: one extractor per device (same model and pooling); batches go to whichever is free.
    /// - fallback: the extractor that re-runs batches a device failed (usually the CPU one).
    public init(devices: [FeatureExtractor], fallback: FeatureExtractor?, options: ExtractionJobOptions) throws {
        guard let first = devices.first ?? fallback else { throw FeaturizeError.invalidOption("no device to run on") }
        for d in devices + (fallback.map { [$0] } ?? []) where d.dimension != first.dimension {
            throw FeaturizeError.invalidOption("devices disagree on the feature dimension")
        }
        if options.tokenLevel {
            if case .chunk = options.inputShape {
                throw FeaturizeError.invalidOption("token-level output (--pooling none) keeps every token, and --long-input chunk pools a text's windows into one vector: they exclude each other")
            }
            if case .windowRows = options.inputShape {
                throw FeaturizeError.invalidOption("token-level output (--pooling none) with --long-input rows would repeat the tokens windows share; use --long-input truncate, or pooled rows per window")
            }
            guard FeatureOutputFormat(path: options.output) != .npy else {
                throw FeaturizeError.invalidOption("token-level output (--pooling none) is ragged: write .safetensors or .jsonl, not '\(options.output)'")
            }
        }
        self.devices = devices; self.fallback = fallback; self.options = options
    }

    /// The settings fingerprint: `key=value` lines that change whenever the output would for the same model
    /// and input (pooling, length, text field, batching, dtype and, unless `includeShard` is false — for the
    /// record that `merge` compares across shards — the shard). The model and the input are fingerprinted by
    /// content (`ModelFingerprint`, the per-chunk input hashes), not by path.
    public func fingerprint(includeShard: Bool = true) -> String {
        let e = devices.first ?? fallback!
        let b = options.batching
        var lines = ["pooling=\(e.spec)", "output=\(e.outputSignature)", "max_length=\(e.maxLength)",
                     "text_field=\(options.textField ?? "text")",
                     "batching=\(b.maxBatchTokens)|\(b.maxBatchSize ?? 0)|\(b.window)|\(b.sortByLength)",
                     "shard=" + (includeShard ? (options.shard.map { "\($0.index)/\($0.count)" } ?? "all") : "any"),
                     "dtype=\(options.dtype.rawValue)"]
        // Lines only for the non-default input shapes and token-level output, so plain jobs keep their fingerprint.
        if let shape = options.inputShape.signature { lines.append(shape) }
        if options.tokenLevel { lines.append("tokens=\(e.spec.layers.map(String.init).joined(separator: ","))|\(e.spec.layerReduce.rawValue)") }
        return lines.joined(separator: "\n")
    }

    /// How the chunks and final files are laid out for these options.
    var layout: ChunkLayout {
        if options.tokenLevel { return .tokens }
        if case .windowRows = options.inputShape { return .indexedRows(indexPath: options.windowIndexOutput ?? options.output + ".windows.jsonl") }
        return .matrix
    }

    /// Runs the job to completion and returns its report. Throws (leaving a resumable `<output>.parts/`) on
    /// any error; the output file appears only when every row has been written.
    @discardableResult
    public func run() throws -> ExtractionReport {
        var report = ExtractionReport()
        let started = DispatchTime.now().uptimeNanoseconds
        let seconds = { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        let primary = devices.first ?? fallback!
        let rowsPerChunk = options.batching.window * max(1, options.windowsPerChunk)
        let modelFingerprint = try ModelFingerprint.compute(directory: primary.model.path, full: options.fullModelCheck)
        // The input opens first: an input that cannot be read (or holds no pairs) leaves no work directory behind.
        let reader = try TextInputReader(path: options.input, field: options.textField, pairField: options.inputShape.pairField)
        let writer = try ChunkedFeatureWriter(outputPath: options.output, dtype: options.dtype, rowsPerChunk: rowsPerChunk,
                                              fingerprint: fingerprint(), resume: options.resume,
                                              overwrite: options.overwrite, metadata: options.metadata,
                                              modelFingerprint: modelFingerprint, layout: layout)
        let source = InputRows(reader: reader, shard: options.shard, skip: writer.rowsDone, rowsPerChunk: rowsPerChunk)
        writer.inputHashForChunk = { source.chunkHash($0) }
        // Resume: re-read the rows already written; their texts must hash as the interrupted job's did.
        try source.skipWritten(expectedHash: writer.manifest.inputHashes?.last, manifest: options.output + ".parts/manifest.json")
        report.repairNote = writer.repairNote
        report.resumedRows = writer.rowsDone
        let shape = options.inputShape, tokenLevel = options.tokenLevel
        let width = tokenLevel ? primary.tokenWidth : primary.dimension
        report.dimension = width

        let unitOutput = shape.unitOutput(tokenLevel: tokenLevel)
        func execution(_ e: FeatureExtractor, name: String) -> ExecutionDevice<EncodedUnit> {
            e.executionDevice(name: name, output: unitOutput)
        }
        // Warm-up on accelerators: the largest batch the budget allows, so a budget that does not fit fails now.
        // (The CPU backend allocates as it goes and has the host's memory; it skips this.)
        for e in devices where e.device.defaults.warmUp {
            try e.warmUp(maxBatchTokens: options.batching.maxBatchTokens)
        }
        let fault = options.faultInjection
        var execDevices = devices.map { execution($0, name: $0.backend.name) }
        // A fallback that is also one of the devices shares that device's executor (and its lock).
        var execFallback = fallback.map { fb in
            devices.firstIndex(where: { $0 === fb }).map { execDevices[$0] } ?? execution(fb, name: fb.backend.name + " (fallback)")
        }
        if let fault {
            let wrapped = execDevices.map(fault.wrap)
            execFallback = execFallback.map { fb in execDevices.firstIndex(where: { $0 === fb }).map { wrapped[$0] } ?? fault.wrap(fb) }
            execDevices = wrapped
        }
        let scheduler = try BatchScheduler<InputRecord, EncodedUnit>(devices: execDevices, fallback: execFallback,
                                                                     policy: options.batching)
        let tokenCount = TokenCounters()
        var written = 0
        let firstRow = writer.rowsDone
        let half = options.dtype == .float16
        let stats = try scheduler.run(items: source, startIndex: writer.rowsDone, prepareUnits: { records in
            try primary.units(of: records, shape: shape, counting: tokenCount)
        }, sinkItem: { _, units in
            let item = primary.output(of: units, shape: shape, tokenLevel: tokenLevel)
            // float16 holds at most 65504: larger values become ±Inf in the file, so they count as non-finite.
            // Rows are counted per output row (a window, a text), numbered in the output (token-level: by text).
            let firstOutputRow = tokenLevel ? firstRow + written : writer.outputRows
            let rows = tokenLevel ? min(item.count, 1) : item.count
            for r in 0..<rows {
                let values = tokenLevel ? item.values[...] : item.values[(r * width)..<((r + 1) * width)]
                guard values.contains(where: { !$0.isFinite || (half && abs($0) > 65504) }) else { continue }
                if options.strictFinite {
                    throw FeaturizeError.nonFiniteRows(count: 1, rows: [firstOutputRow + r], output: options.output)
                }
                report.nonFiniteRows += 1
                if report.nonFiniteRowNumbers.count < 20 { report.nonFiniteRowNumbers.append(firstOutputRow + r) }
            }
            try writer.appendItem(rows: item.values, count: item.count, side: item.side)
            written += 1
            if written % 64 == 0 { progress?(written, tokenCount.tokens, seconds(), source.estimatedRows) }
        })
        if let error = source.error { throw error }
        report.outputRows = writer.outputRows
        try writer.finish(emptyDim: width)
        if let shard = options.shard {
            var record = ShardRecord(shard: shard, inputRows: source.inputRows, rows: firstRow + written,
                                     fingerprint: fingerprint(includeShard: false), dtype: options.dtype.rawValue)
            record.model = modelFingerprint
            switch layout {
            case .matrix: break
            case .indexedRows: record.layout = ShardRecord.windowRowsLayout
            case .tokens: record.layout = ShardRecord.tokensLayout
            }
            record.input = source.fullHash
            try record.write(for: options.output)
        }
        progress?(written, tokenCount.tokens, seconds(), written)
        report.texts = written
        report.inputRows = source.inputRows
        report.tokens = tokenCount.tokens
        report.truncated = tokenCount.truncated
        report.readSeconds = source.readSeconds
        report.tokenizeSeconds = stats.prepareSeconds
        report.scheduler = stats
        report.paddingEfficiency = stats.paddingEfficiency
        report.totalSeconds = seconds()
        return report
    }
}

/// Token counters updated from the tokenizing thread and read from the writing one (progress), both under the
/// lock (an unlocked read was a data race ThreadSanitizer reported in `featurize extract`).
final class TokenCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var counts = (tokens: 0, truncated: 0)
    var tokens: Int { lock.lock(); defer { lock.unlock() }; return counts.tokens }
    var truncated: Int { lock.lock(); defer { lock.unlock() }; return counts.truncated }
    func add(tokens t: Int, truncated u: Int) { lock.lock(); counts.tokens += t; counts.truncated += u; lock.unlock() }
}

/// The input as a sequence of records (a text, or a pair): applies the shard filter, skips rows already written
/// (resume), counts every input row, and keeps a read error for the caller (a Sequence cannot throw).
final class InputRows: Sequence, IteratorProtocol, @unchecked Sendable {
    let reader: TextInputReader
    let shard: ShardSpec?
    var toSkip: Int
    private(set) var inputRows = 0
    private(set) var error: Error?
    private(set) var readSeconds = 0.0
    private let lock = NSLock()
    private var estimate: Int?

    /// Rows this job will write in all, estimated from the fraction of the input file read so far.
    var estimatedRows: Int? { lock.lock(); defer { lock.unlock() }; return estimate }

    /// Content hash of every input text read so far (each text's UTF-8 bytes and a length; a pair's second
    /// text after its first).
    private var hash = ContentHash()
    /// Output rows (this shard's rows, skipped ones included) returned so far.
    private var outputRows = 0
    private let rowsPerChunk: Int
    /// chunk index -> `hash` when its last row was read (read by the writer's thread).
    private var chunkHashes: [Int: String] = [:]
    private var endHash: String?

    init(reader: TextInputReader, shard: ShardSpec?, skip: Int, rowsPerChunk: Int = Int.max) {
        self.reader = reader; self.shard = shard; self.toSkip = skip; self.rowsPerChunk = rowsPerChunk
    }

    /// The input hash at the end of chunk `index` (nil if its last row has not been read).
    func chunkHash(_ index: Int) -> String? {
        lock.lock(); defer { lock.unlock() }
        return chunkHashes.removeValue(forKey: index)
    }

    /// The hash of the whole input (after the last row was read; nil before).
    var fullHash: String? { lock.lock(); defer { lock.unlock() }; return endHash }

    /// Reads the rows a resumed job already wrote and checks that they hash as they did then.
    func skipWritten(expectedHash: String?, manifest: String) throws {
        let wanted = toSkip
        guard wanted > 0 else { return }
        while toSkip > 0 {
            guard let record = try readOne() else {
                throw SchedulerError.resume("the input has fewer rows than the \(wanted) the interrupted job wrote (input \(reader.path) differs from its input; manifest \(manifest)); rerun without --resume")
            }
            if let shard, !shard.includes(row: record.row) { continue }
            toSkip -= 1
            outputRows += 1
        }
        let now = hash.hex
        guard let expectedHash, !expectedHash.isEmpty else {
            throw SchedulerError.resume("\(manifest) holds no input fingerprint to check \(reader.path) against; rerun without --resume")
        }
        guard now == expectedHash else {
            throw SchedulerError.resume("the input differs from the interrupted job's: its first \(wanted) rows (\(reader.path == "-" ? "standard input" : reader.path), up to input line \(reader.lineNumber)) hash \(now), the manifest \(manifest) says \(expectedHash); rerun without --resume, or give the original input")
        }
    }

    /// The next input record, hashed and counted.
    private func readOne() throws -> InputRecord? {
        let record: InputRecord
        if reader.pairField != nil {
            guard let (first, second) = try reader.nextPair() else { return end() }
            record = InputRecord(row: inputRows, text: first, pair: second)
        } else {
            guard let text = try reader.next() else { return end() }
            record = InputRecord(row: inputRows, text: text)
        }
        for text in [record.text] + (record.pair.map { [$0] } ?? []) {
            hash.update(text.utf8.count)
            hash.update(text)
        }
        inputRows += 1
        return record
    }

    private func end() -> InputRecord? {
        lock.lock(); endHash = hash.hex; lock.unlock()
        return nil
    }

    func next() -> InputRecord? {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { readSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        while error == nil {
            let record: InputRecord?
            do { record = try readOne() } catch { self.error = error; return nil }
            guard let record else { return nil }
            let row = record.row
            if row % 256 == 0, let f = reader.fractionRead, f > 0 {
                let perShard = Double(inputRows) / f / Double(shard?.count ?? 1)
                lock.lock(); estimate = Int(perShard.rounded()); lock.unlock()
            }
            if let shard, !shard.includes(row: row) { continue }
            if toSkip > 0 { toSkip -= 1; outputRows += 1; continue }
            outputRows += 1
            if outputRows % rowsPerChunk == 0 {
                let digest = hash.hex
                lock.lock(); chunkHashes[outputRows / rowsPerChunk - 1] = digest; lock.unlock()
            }
            return record
        }
        return nil
    }
}
