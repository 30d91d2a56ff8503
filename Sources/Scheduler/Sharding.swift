import FeatureIO
import Foundation

/// A deterministic split of the input by row index: shard `index` of `count` takes rows r with
/// `r % count == index`. N processes on N machines thus produce disjoint parts that together cover the input.
public struct ShardSpec: Codable, Equatable, Sendable {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, index >= 0, index < count else {
            throw SchedulerError.shard("shard \(index)/\(count): need 0 <= i < N and N >= 1")
        }
        self.index = index; self.count = count
    }

    /// Parses `i/N` (e.g. `0/4`).
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw SchedulerError.shard("'\(text)': expected i/N, e.g. 0/4")
        }
        try self.init(index: i, count: n)
    }

    /// Parses `--shard`'s value: `i/N`, or `auto` / `auto/N` to take this process's shard from a job array's
    /// environment (see `init(environment:count:)`; `N` there is the count for a Kubernetes Indexed Job, and
    /// under Slurm it must agree with the array's task count).
    public init(parsing text: String, environment: [String: String]) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed == Self.auto || trimmed.hasPrefix(Self.auto + "/") else { try self.init(parsing: text); return }
        var count: Int?
        if trimmed != Self.auto {
            let n = trimmed.dropFirst(Self.auto.count + 1)
            guard let value = Int(n), value >= 1 else { throw SchedulerError.shard("'\(text)': expected auto or auto/N with N >= 1, e.g. auto/16") }
            count = value
        }
        try self.init(environment: environment, count: count)
    }

    public func includes(row: Int) -> Bool { row % count == index }

    /// Rows this shard holds when the input has `inputRows` rows.
    public func rows(ofInput inputRows: Int) -> Int {
        // ceil((inputRows - index) / count) without forming `inputRows - index + count - 1`, which overflows
        // for a huge N (e.g. `--shard 0/9223372036854775807`; found by the scheduler-text fuzz target).
        inputRows > index ? (inputRows - index - 1) / count + 1 : 0
    }
}

/// `--shard auto`: the shard of this process from the variables a job array sets, so a batch script needs no
/// arithmetic. Slurm comes first, then Kubernetes:
/// - Slurm job array (`sbatch --array=A-B[:S]`): index `(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) /
///   SLURM_ARRAY_TASK_STEP`, count `SLURM_ARRAY_TASK_COUNT`; so `--array=1-3` gives shards 0/3, 1/3, 2/3. The
///   task ids must be an evenly spaced range (not a list such as `1,2,7`); a `%` limit is fine.
/// - Kubernetes Indexed Job: index `JOB_COMPLETION_INDEX`, count from `auto/N` or `FEATURIZE_SHARD_COUNT`
///   (Kubernetes does not tell a pod the number of completions).
extension ShardSpec {
    /// The value of `--shard` that reads the environment.
    public static let auto = "auto"
    /// The variable that gives N for `--shard auto` in a Kubernetes Indexed Job.
    public static let countVariable = "FEATURIZE_SHARD_COUNT"
    static let slurmTaskID = "SLURM_ARRAY_TASK_ID", slurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
    static let slurmTaskMin = "SLURM_ARRAY_TASK_MIN", slurmTaskMax = "SLURM_ARRAY_TASK_MAX"
    static let slurmTaskStep = "SLURM_ARRAY_TASK_STEP", kubernetesIndex = "JOB_COMPLETION_INDEX"

    /// - environment: the process environment (`ProcessInfo.processInfo.environment`; a dictionary so tests can
    ///   pass their own).
    /// - count: N from `--shard auto/N`, if given.
    /// - Throws: `SchedulerError.shard` naming the variables when no index is found, a value is not an integer,
    ///   the Slurm variables disagree, or the index is not below the count.
    public init(environment env: [String: String], count explicitCount: Int? = nil) throws {
        func integer(_ name: String) throws -> Int? {
            guard let raw = env[name] else { return nil }
            guard let value = Int(raw.trimmingCharacters(in: .whitespaces)) else {
                throw SchedulerError.shard("auto: \(name)='\(raw)' is not an integer")
            }
            return value
        }
        let slurmID = try integer(Self.slurmTaskID)
        let kubernetesIndex = try integer(Self.kubernetesIndex)
        if slurmID != nil && kubernetesIndex != nil {
            throw SchedulerError.shard("auto: both \(Self.slurmTaskID) and \(Self.kubernetesIndex) are set; give the shard as i/N")
        }
        if let id = slurmID {
            guard let count = try integer(Self.slurmTaskCount) else {
                throw SchedulerError.shard("auto: \(Self.slurmTaskID) is set but \(Self.slurmTaskCount) is not (Slurm 18.08 or later sets it)")
            }
            let min = try integer(Self.slurmTaskMin) ?? 0, step = try integer(Self.slurmTaskStep) ?? 1
            let max = try integer(Self.slurmTaskMax)
            let evenlySpaced = count >= 1 && step >= 1 && id >= min && (id - min) % step == 0
                && max.map { $0 >= min && ($0 - min) % step == 0 && ($0 - min) / step == count - 1 } ?? true
            guard evenlySpaced else {
                throw SchedulerError.shard("auto: the Slurm array task ids are not an evenly spaced range (\(Self.slurmTaskID)=\(id), COUNT=\(count), MIN=\(min), MAX=\(max.map(String.init) ?? "unset"), STEP=\(step)); submit with --array=0-<N-1>")
            }
            if let explicitCount, explicitCount != count {
                throw SchedulerError.shard("auto/\(explicitCount): the Slurm array has \(count) tasks (\(Self.slurmTaskCount)); use --shard auto")
            }
            let index = (id - min) / step
            guard index < count else {
                throw SchedulerError.shard("auto: \(Self.slurmTaskID)=\(id) is task \(index) of an array of \(count) (\(Self.slurmTaskMin)=\(min), \(Self.slurmTaskStep)=\(step))")
            }
            try self.init(index: index, count: count)
            return
        }
        if let index = kubernetesIndex {
            let fromEnvironment = try integer(Self.countVariable)
            if let explicitCount, let fromEnvironment, explicitCount != fromEnvironment {
                throw SchedulerError.shard("auto/\(explicitCount) disagrees with \(Self.countVariable)=\(fromEnvironment)")
            }
            guard let count = explicitCount ?? fromEnvironment else {
                throw SchedulerError.shard("auto: \(Self.kubernetesIndex)=\(index) gives the index but nothing gives the count: use --shard auto/N or set \(Self.countVariable)=N (the Job's completions)")
            }
            guard count >= 1, index >= 0, index < count else {
                throw SchedulerError.shard("auto: \(Self.kubernetesIndex)=\(index) is not in 0..<\(count) (N from \(explicitCount != nil ? "auto/N" : Self.countVariable))")
            }
            try self.init(index: index, count: count)
            return
        }
        let slurmJob = env["SLURM_JOB_ID"].map { " (this is Slurm job \($0), but not a job array: submit with sbatch --array=0-<N-1>)" } ?? ""
        throw SchedulerError.shard("auto found no array index\(slurmJob): it reads \(Self.slurmTaskID) with \(Self.slurmTaskCount) (a Slurm job array) or \(Self.kubernetesIndex) with auto/N or \(Self.countVariable) (a Kubernetes Indexed Job), and none is set; outside a job array give the shard as i/N")
    }
}

/// Written next to a shard's output as `<output>.shard.json`: which shard it is and how many input rows the
/// whole input had, so `merge` can prove nothing is missing.
public struct ShardRecord: Codable, Equatable, Sendable {
    public var shard: ShardSpec
    public var inputRows: Int
    public var rows: Int
    public var fingerprint: String
    /// Element type of the shard's file (`float32` or `float16`); the merged file uses the same.
    public var dtype: String?
    /// Content fingerprint of the model (`ModelFingerprint`); `merge` requires the same in every shard.
    public var model: String?
    /// Content hash of the whole input (every text, not only this shard's); `merge` requires the same.
    public var input: String?
    /// How the shard's rows relate to its texts: nil for one row per text, `windowRowsLayout` (any number of
    /// rows per text, listed in `<output>.windows.jsonl`) or `tokensLayout` (ragged token-level file).
    public var layout: String?

    /// `--long-input rows`: rows are windows, indexed by `<output>.windows.jsonl`.
    public static let windowRowsLayout = "window-rows"
    /// `--pooling none`: token-level features (`TokenFeaturesFile`).
    public static let tokensLayout = "tokens"

    public init(shard: ShardSpec, inputRows: Int, rows: Int, fingerprint: String, dtype: String?) {
        self.shard = shard; self.inputRows = inputRows; self.rows = rows; self.fingerprint = fingerprint; self.dtype = dtype
    }

    public static func path(for output: String) -> String { output + ".shard.json" }

    public func write(for output: String) throws {
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let path = Self.path(for: output)
        do {
            try AtomicFile.save([UInt8](try enc.encode(self)), to: path)
        } catch let error as FeatureIOError {
            // The record proves the shard is complete for `merge`: name the path and the system's reason.
            switch error {
            case let .cannotOpen(_, reason), let .writeFailed(_, reason):
                throw SchedulerError.io(path: path, detail: "cannot write shard record: \(reason)")
            default: throw error
            }
        }
    }

    public static func read(for output: String) throws -> ShardRecord {
        let path = Self.path(for: output)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SchedulerError.merge("\(path) is missing: \(output) was not written by `featurize extract --shard`")
        }
        return try parse(data, path: path)
    }

    /// Decodes and validates a record (`path` for messages): the shard spec, row counts and their agreement
    /// are checked, so a damaged record is an error naming the file, never a huge loop or allocation.
    public static func parse(_ data: Data, path: String) throws -> ShardRecord {
        let r: ShardRecord
        do { r = try JSONDecoder().decode(ShardRecord.self, from: data) } catch {
            throw SchedulerError.merge("\(path) is not a valid shard record")
        }
        guard r.shard.count >= 1, r.shard.index >= 0, r.shard.index < r.shard.count else {
            throw SchedulerError.merge("\(path): shard \(r.shard.index)/\(r.shard.count) is not a valid shard (need 0 <= i < N)")
        }
        guard r.inputRows >= 0, r.rows == r.shard.rows(ofInput: r.inputRows) else {
            throw SchedulerError.merge("\(path): \(r.rows) rows do not match shard \(r.shard.index)/\(r.shard.count) of \(r.inputRows) input rows")
        }
        return r
    }
}

/// Joins the `.npy` outputs of all shards of one job into one `.npy` in input order.
public enum ShardMerger {
    /// - Throws: if a shard is missing or duplicated, shards disagree (count, input size, settings, width,
    ///   dtype) or a shard's row count is not what its spec implies.
    @discardableResult
    public static func merge(inputs: [String], output: String, overwrite: Bool) throws -> (rows: Int, cols: Int) {
        guard !inputs.isEmpty else { throw SchedulerError.merge("no shard outputs given") }
        let records = try inputs.map { try ShardRecord.read(for: $0) }
        let n = records[0].shard.count
        guard records.allSatisfy({ $0.shard.count == n }) else { throw SchedulerError.merge("the shards were made with different N") }
        // Every shard must be given once: N (from the records, untrusted) must equal the count given. The
        // missing ones are listed from the indices present, so a record saying N = Int.max costs no loop.
        guard n == inputs.count else {
            let present = Set(records.map(\.shard.index))
            var missing: [String] = [], i = 0
            while missing.count < 10 && i < n { if !present.contains(i) { missing.append("\(i)/\(n)") }; i += 1 }
            throw SchedulerError.merge("missing shard(s) \(missing.joined(separator: ", "))\(n - inputs.count > missing.count ? ", ..." : "") (the shard records say N = \(n); \(inputs.count) shard output(s) were given)")
        }
        for (k, r) in records.enumerated().dropFirst() {
            var differs: [String] = []
            if r.input != records[0].input { differs.append("input content") }
            if r.inputRows != records[0].inputRows { differs.append("input rows (\(r.inputRows) vs \(records[0].inputRows))") }
            if r.model != records[0].model { differs.append("model (its files' content)") }
            if r.layout != records[0].layout { differs.append("layout (\(r.layout ?? "one row per text") vs \(records[0].layout ?? "one row per text"))") }
            if r.fingerprint != records[0].fingerprint {
                differs.append("settings: \(OutputManifest.differences(records[0].fingerprint, r.fingerprint))")
            }
            guard differs.isEmpty else {
                throw SchedulerError.merge("\(inputs[k]) and \(inputs[0]) come from different jobs; they differ in: \(differs.joined(separator: "; "))")
            }
        }
        var byIndex = [Int: Int]()
        for (k, r) in records.enumerated() {
            if let other = byIndex[r.shard.index] {
                throw SchedulerError.merge("shard \(r.shard.index)/\(n) given twice: \(inputs[other]) and \(inputs[k])")
            }
            byIndex[r.shard.index] = k
        }
        let missing = (0..<n).filter { byIndex[$0] == nil }
        guard missing.isEmpty else {
            throw SchedulerError.merge("missing shard(s) \(missing.map { "\($0)/\(n)" }.joined(separator: ", "))")
        }
        if FileManager.default.fileExists(atPath: output) && !overwrite {
            throw SchedulerError.io(path: output, detail: "output exists; pass --overwrite to replace it")
        }
        let ordered = (0..<n).map { inputs[byIndex[$0]!] }
        switch records[0].layout {
        case nil: break
        case ShardRecord.windowRowsLayout?:
            if FileManager.default.fileExists(atPath: output + ".windows.jsonl") && !overwrite {
                throw SchedulerError.io(path: output + ".windows.jsonl", detail: "output exists; pass --overwrite to replace it")
            }
            return try mergeWindowRows(ordered, inputRows: records[0].inputRows, dtype: records[0].dtype, output: output)
        case ShardRecord.tokensLayout?:
            return try mergeTokens(ordered, inputRows: records[0].inputRows, output: output)
        case let other?:
            throw SchedulerError.merge("\(ShardRecord.path(for: inputs[0])): unknown layout '\(other)' (written by another version of featurize?)")
        }
        var matrices: [FeatureMatrix] = []
        for i in 0..<n {
            let path = inputs[byIndex[i]!]
            let m = try NpyReader.readMatrix(path: path)
            let expected = records[byIndex[i]!].shard.rows(ofInput: records[0].inputRows)
            guard m.rows == expected else {
                throw SchedulerError.merge("\(path) has \(m.rows) rows; shard \(i)/\(n) of \(records[0].inputRows) input rows must have \(expected) (incomplete shard?)")
            }
            matrices.append(m)
        }
        let cols = matrices.first(where: { $0.rows > 0 })?.columns ?? matrices[0].columns
        guard matrices.allSatisfy({ $0.columns == cols || $0.rows == 0 }) else {
            throw SchedulerError.merge("the shards have different widths")
        }
        let dtype = records[0].dtype.flatMap(FeatureDType.init(rawValue:)) ?? .float32
        let total = records[0].inputRows
        if FileManager.default.fileExists(atPath: output) { try? FileManager.default.removeItem(atPath: output) }
        let writer = try makeFeatureWriter(path: output, columns: cols, dtype: dtype)
        for r in 0..<total {
            try writer.append(row: matrices[r % n].row(r / n))
        }
        try writer.finish()
        return (total, cols)
    }

    /// `--long-input rows` shards: rows are windows, each shard's `<part>.windows.jsonl` says which text each row
    /// belongs to. Text `r`'s windows come from shard `r % N`, in order; the merged index goes to
    /// `<output>.windows.jsonl` (written first; the merged matrix last).
    static func mergeWindowRows(_ shards: [String], inputRows: Int, dtype: String?, output: String) throws -> (rows: Int, cols: Int) {
        let n = shards.count
        var matrices: [FeatureMatrix] = [], indexLines: [[String]] = []
        for path in shards {
            let m = try NpyReader.readMatrix(path: path)
            let indexPath = path + ".windows.jsonl"
            guard FileManager.default.fileExists(atPath: indexPath) else {
                throw SchedulerError.merge("\(indexPath) is missing: a --long-input rows shard needs its window index next to it")
            }
            let lines = try TextInputReader(path: indexPath, format: .text).readAll().filter { !$0.isEmpty }
            guard lines.count == m.rows else {
                throw SchedulerError.merge("\(indexPath) lists \(lines.count) windows but \(path) has \(m.rows) rows")
            }
            matrices.append(m); indexLines.append(lines)
        }
        func textRow(_ line: String, _ k: Int, _ s: Int) throws -> Int {
            let prefix = "{\"text\": "
            guard line.hasPrefix(prefix), let comma = line.firstIndex(of: ","),
                  let row = Int(line[line.index(line.startIndex, offsetBy: prefix.count)..<comma]) else {
                throw SchedulerError.merge("\(shards[s]).windows.jsonl line \(k + 1) is not a window index line")
            }
            return row
        }
        let cols = matrices.first(where: { $0.rows > 0 })?.columns ?? matrices[0].columns
        guard matrices.allSatisfy({ $0.columns == cols || $0.rows == 0 }) else { throw SchedulerError.merge("the shards have different widths") }
        let index = try AtomicStreamFile(path: output + ".windows.jsonl")
        let writer = try makeFeatureWriter(path: output, columns: cols, dtype: dtype.flatMap(FeatureDType.init(rawValue:)) ?? .float32)
        var cursor = [Int](repeating: 0, count: n), total = 0
        for r in 0..<inputRows {
            let s = r % n
            let start = cursor[s]
            while cursor[s] < indexLines[s].count, try textRow(indexLines[s][cursor[s]], cursor[s], s) == r {
                try writer.append(row: matrices[s].row(cursor[s]))
                try index.write(Array((indexLines[s][cursor[s]] + "\n").utf8))
                cursor[s] += 1
            }
            guard cursor[s] > start else { throw SchedulerError.merge("\(shards[s]) has no window of input row \(r) (incomplete shard, or its index does not belong to it)") }
            total += cursor[s] - start
        }
        for s in 0..<n where cursor[s] != indexLines[s].count {
            throw SchedulerError.merge("\(shards[s]).windows.jsonl line \(cursor[s] + 1) names a text outside shard \(s)/\(n) of \(inputRows) rows")
        }
        try index.commit()
        try writer.finish()
        return (total, cols)
    }

    /// Token-level shards (`--pooling none`): text `r` is text `r / N` of shard `r % N`. `.safetensors` shards
    /// are read text by text (`TokenFeaturesReader`); `.jsonl` shards line by line.
    static func mergeTokens(_ shards: [String], inputRows: Int, output: String) throws -> (rows: Int, cols: Int) {
        let n = shards.count
        let format = FeatureOutputFormat(path: output)
        for path in shards where FeatureOutputFormat(path: path) != format {
            throw SchedulerError.merge("token-level shards merge into their own format: \(path) and \(output) differ; name the output .\(FeatureOutputFormat(path: path)?.rawValue ?? "safetensors")")
        }
        if format == .jsonl {
            let readers = try shards.map { try TextInputReader(path: $0, format: .text) }
            let file = try AtomicStreamFile(path: output)
            for r in 0..<inputRows {
                guard let line = try readers[r % n].next() else {
                    throw SchedulerError.merge("\(shards[r % n]) ends before input row \(r) (incomplete shard?)")
                }
                try file.write(Array((line + "\n").utf8))
            }
            for (s, reader) in readers.enumerated() where try reader.next() != nil {
                throw SchedulerError.merge("\(shards[s]) has more texts than shard \(s)/\(n) of \(inputRows) rows")
            }
            try file.commit()
            return (inputRows, 0)
        }
        let readers = try shards.map { try TokenFeaturesReader(path: $0) }
        for (s, reader) in readers.enumerated() {
            let expected = try ShardSpec(index: s, count: n).rows(ofInput: inputRows)
            guard reader.texts == expected else {
                throw SchedulerError.merge("\(shards[s]) holds \(reader.texts) texts; shard \(s)/\(n) of \(inputRows) input rows must hold \(expected) (incomplete shard?)")
            }
            guard reader.columns == readers[0].columns, reader.dtype == readers[0].dtype else {
                throw SchedulerError.merge("the shards have different widths or dtypes")
            }
        }
        try TokenFeaturesFile.write(InterleavedTokenParts(readers: readers, count: inputRows), columns: readers[0].columns,
                                    dtype: readers[0].dtype, to: output, metadata: readers[0].metadata)
        return (inputRows, readers[0].columns)
    }
}

/// Shards' texts in input order: text `r` is text `r / N` of shard `r % N`.
private struct InterleavedTokenParts: TokenFeatureParts {
    let readers: [TokenFeaturesReader]
    let count: Int
    var partCount: Int { count }
    func tokens(ofPart index: Int) throws -> [TextTokens] { [try readers[index % readers.count].tokens(ofText: index / readers.count)] }
    func features(ofPart index: Int) throws -> [Float] { try readers[index % readers.count].features(ofText: index / readers.count) }
}
