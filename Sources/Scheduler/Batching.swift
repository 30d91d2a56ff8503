/// Length bucketing: cut a window of texts into batches by a token budget.

/// A batch of input rows to run through the encoder together.
public struct WorkBatch<Payload> {
    /// Sequence number of the batch within the job (planning order).
    public var id: Int
    /// Global input row index of each text, sorted by token length (ascending).
    public var indices: [Int]
    /// Token count of each text (special tokens included), parallel to `indices`.
    public var tokenLengths: [Int]
    /// The prepared data of each text (e.g. token ids), parallel to `indices`.
    public var payloads: [Payload]

    public init(id: Int, indices: [Int], tokenLengths: [Int], payloads: [Payload]) {
        self.id = id; self.indices = indices; self.tokenLengths = tokenLengths; self.payloads = payloads
    }

    public var count: Int { indices.count }
    /// Length every text is padded to: the longest in the batch.
    public var paddedLength: Int { tokenLengths.max() ?? 0 }
    /// Positions the encoder computes: `paddedLength × count` (TEI's padded cost).
    public var paddedTokens: Int { paddedLength * count }
    /// Real (unpadded) tokens.
    public var realTokens: Int { tokenLengths.reduce(0, +) }

    /// Splits the batch into two halves (for out-of-memory retries). Requires `count >= 2`.
    public func halves() -> (WorkBatch, WorkBatch) {
        let mid = count / 2
        let a = WorkBatch(id: id, indices: Array(indices[..<mid]), tokenLengths: Array(tokenLengths[..<mid]),
                          payloads: Array(payloads[..<mid]))
        let b = WorkBatch(id: id, indices: Array(indices[mid...]), tokenLengths: Array(tokenLengths[mid...]),
                          payloads: Array(payloads[mid...]))
        return (a, b)
    }
}

/// How texts are grouped into batches.
public struct BatchingPolicy: Sendable, Equatable {
    /// Most padded tokens (longest × count) in one batch.
    public var maxBatchTokens: Int
    /// Most texts in one batch (nil: only the token budget limits it).
    public var maxBatchSize: Int?
    /// Texts read, sorted and cut together. Output order is restored across the whole job.
    public var window: Int
    /// Sort each window by token length (false: batches in input order, for comparison).
    public var sortByLength: Bool

    public init(maxBatchTokens: Int = 16_384, maxBatchSize: Int? = nil, window: Int = 8_192,
                sortByLength: Bool = true) {
        self.maxBatchTokens = maxBatchTokens; self.maxBatchSize = maxBatchSize
        self.window = window; self.sortByLength = sortByLength
    }
}

public enum SchedulerError: Error, CustomStringConvertible, Equatable {
    case invalidPolicy(String)
    /// A single text needs more tokens than the budget allows.
    case textOverBudget(index: Int, tokens: Int, budget: Int)
    /// Every device failed and no fallback is left.
    case noHealthyDevice(lastError: String)
    /// A worker returned the wrong number or width of rows.
    case badResult(device: String, detail: String)
    case resume(String)
    case shard(String)
    case merge(String)
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case .invalidPolicy(let s): return "invalid batching policy: \(s)"
        case let .textOverBudget(index, tokens, budget):
            return "text at row \(index) has \(tokens) tokens, more than --max-batch-tokens \(budget); raise the budget or lower --max-length"
        case .noHealthyDevice(let e): return "no healthy device left to run the job (last error: \(e))"
        case let .badResult(device, detail): return "\(device) returned a bad result: \(detail)"
        case .resume(let s): return "cannot resume: \(s)"
        case .shard(let s): return "invalid shard: \(s)"
        case .merge(let s): return "cannot merge: \(s)"
        case let .io(path, detail): return "\(path): \(detail)"
        }
    }
}

/// Plans batches for one window of texts.
public enum LengthBucketing {
    /// Cuts texts (global row `startIndex + i` has `lengths[i]` tokens) into batches under `policy`.
    /// With `sortByLength`, texts are ordered by length (ties by row index, so planning is deterministic) and
    /// a batch is closed as soon as adding the next text would exceed the token budget or the size cap.
    public static func plan<P>(startIndex: Int, lengths: [Int], payloads: [P], policy: BatchingPolicy,
                               firstBatchID: Int = 0) throws -> [WorkBatch<P>] {
        precondition(lengths.count == payloads.count)
        guard policy.maxBatchTokens > 0 else { throw SchedulerError.invalidPolicy("max batch tokens must be positive") }
        if let cap = policy.maxBatchSize, cap <= 0 { throw SchedulerError.invalidPolicy("batch size must be positive") }
        var order = Array(lengths.indices)
        if policy.sortByLength {
            order.sort { lengths[$0] != lengths[$1] ? lengths[$0] < lengths[$1] : $0 < $1 }
        }
        var batches: [WorkBatch<P>] = []
        var current: [Int] = []
        var longest = 0
        func close() {
            guard !current.isEmpty else { return }
            batches.append(WorkBatch(id: firstBatchID + batches.count, indices: current.map { startIndex + $0 },
                                     tokenLengths: current.map { lengths[$0] }, payloads: current.map { payloads[$0] }))
            current.removeAll(keepingCapacity: true); longest = 0
        }
        for i in order {
            let len = Swift.max(lengths[i], 1)
            if len > policy.maxBatchTokens {
                throw SchedulerError.textOverBudget(index: startIndex + i, tokens: len, budget: policy.maxBatchTokens)
            }
            let newLongest = Swift.max(longest, len)
            let tooMany = policy.maxBatchSize.map { current.count + 1 > $0 } ?? false
            if !current.isEmpty && (tooMany || newLongest * (current.count + 1) > policy.maxBatchTokens) {
                close()
            }
            current.append(i); longest = Swift.max(longest, len)
        }
        close()
        return batches
    }
}
