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
    /// Test-only: make a device fail (see `FaultInjection`; the CLI reads `FEATURIZE_INJECT_FAULT`).
    public var faultInjection: FaultInjection?

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
    public var readSeconds = 0.0
    public var tokenizeSeconds = 0.0
    public var totalSeconds = 0.0
    public var paddingEfficiency = 1.0
    public var scheduler = SchedulerStats()
}

/// Streams an input file through the tokenizer, the scheduler (length-sorted batches under a token budget on
/// one or more devices, CPU fallback) and a chunked, resumable writer. Memory stays bounded: only a window of
/// texts and the batches in flight are held.
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
        self.devices = devices; self.fallback = fallback; self.options = options
    }

    /// A string that changes whenever the output would: model, pooling, length, batching, input and (unless
    /// `includeShard` is false, for the record that `merge` compares across shards) the shard.
    public func fingerprint(includeShard: Bool = true) -> String {
        let e = devices.first ?? fallback!
        let attrs = try? FileManager.default.attributesOfItem(atPath: options.input)
        // Shards run on other machines with their own copy of the input: compare name and size only there.
        let inputID = options.input == "-" ? "stdin" : includeShard
            ? "\(options.input)|\(attrs?[.size] ?? 0)|\((attrs?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
            : "\((options.input as NSString).lastPathComponent)|\(attrs?[.size] ?? 0)"
        let b = options.batching
        return [includeShard ? e.model.path : (e.model.path as NSString).lastPathComponent, "\(e.spec)", e.outputSignature, "\(e.maxLength)", inputID, options.textField ?? "text",
                "\(b.maxBatchTokens)|\(b.maxBatchSize ?? 0)|\(b.window)|\(b.sortByLength)",
                includeShard ? (options.shard.map { "\($0.index)/\($0.count)" } ?? "all") : "shards",
                options.dtype.rawValue].joined(separator: "\n")
    }

    /// Runs the job to completion and returns its report. Throws (leaving a resumable `<output>.parts/`) on
    /// any error; the output file appears only when every row has been written.
    @discardableResult
    public func run() throws -> ExtractionReport {
        let started = DispatchTime.now().uptimeNanoseconds
        let seconds = { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        let primary = devices.first ?? fallback!
        let rowsPerChunk = options.batching.window * max(1, options.windowsPerChunk)
        let writer = try ChunkedFeatureWriter(outputPath: options.output, dtype: options.dtype, rowsPerChunk: rowsPerChunk,
                                              fingerprint: fingerprint(), resume: options.resume,
                                              overwrite: options.overwrite, metadata: options.metadata)
        let reader = try TextInputReader(path: options.input, field: options.textField)
        let source = InputRows(reader: reader, shard: options.shard, skip: writer.rowsDone)
        var report = ExtractionReport()
        report.resumedRows = writer.rowsDone
        report.dimension = primary.dimension

        func execution(_ e: FeatureExtractor, name: String) -> ExecutionDevice<Encoding> { e.executionDevice(name: name) }
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
        let scheduler = try BatchScheduler<String, Encoding>(devices: execDevices, fallback: execFallback,
                                                             policy: options.batching)
        let tokenCount = TokenCounters()
        var written = 0
        let stats = try scheduler.run(items: source, startIndex: writer.rowsDone, prepare: { texts in
            primary.prepare(texts, counting: tokenCount)
        }, sink: { _, row in
            try writer.append(row)
            written += 1
            if written % 64 == 0 { progress?(written, tokenCount.tokens, seconds(), source.estimatedRows) }
        })
        if let error = source.error { throw error }
        try writer.finish(emptyDim: primary.dimension)
        if let shard = options.shard {
            try ShardRecord(shard: shard, inputRows: source.inputRows, rows: writer.rowsDone + written,
                            fingerprint: fingerprint(includeShard: false),
                            dtype: options.dtype.rawValue).write(for: options.output)
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

/// The input as a sequence of texts: applies the shard filter, skips rows already written (resume), counts
/// every input row, and keeps a read error for the caller (a Sequence cannot throw).
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

    init(reader: TextInputReader, shard: ShardSpec?, skip: Int) {
        self.reader = reader; self.shard = shard; self.toSkip = skip
    }

    func next() -> String? {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { readSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        while error == nil {
            let text: String?
            do { text = try reader.next() } catch { self.error = error; return nil }
            guard let text else { return nil }
            let row = inputRows
            inputRows += 1
            if row % 256 == 0, let f = reader.fractionRead, f > 0 {
                let perShard = Double(inputRows) / f / Double(shard?.count ?? 1)
                lock.lock(); estimate = Int(perShard.rounded()); lock.unlock()
            }
            if let shard, !shard.includes(row: row) { continue }
            if toSkip > 0 { toSkip -= 1; continue }
            return text
        }
        return nil
    }
}
