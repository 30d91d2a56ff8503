import Backend
import Foundation

/// A device the scheduler can send batches to. `run` returns one feature row per text, in
/// `batch.indices` order, each of the job's feature width. `run` is only called from one thread at a time.
public final class ExecutionDevice<Payload> {
    public let name: String
    let runBatch: (WorkBatch<Payload>) throws -> [[Float]]
    let lock = NSLock()

    public init(name: String, run: @escaping (WorkBatch<Payload>) throws -> [[Float]]) {
        self.name = name; self.runBatch = run
    }

    func run(_ batch: WorkBatch<Payload>) throws -> [[Float]] {
        lock.lock(); defer { lock.unlock() }
        return try runBatch(batch)
    }
}

/// What kind of failure a device error is.
public enum FaultKind: Sendable { case outOfMemory, deviceFailure }

/// Scheduler settings beyond batching.
public struct SchedulerOptions {
    /// Consecutive failures after which a device is marked unhealthy and gets no more batches.
    public var maxFailuresPerDevice: Int = 2
    /// Batches planned ahead of the devices (bounded queue: memory does not grow with the input).
    public var queueCapacity: Int = 8
    /// Maps an error to its kind. Default: `BackendError.outOfMemory` is out-of-memory, anything else a failure.
    public var classify: (Error) -> FaultKind = { error in
        if case BackendError.outOfMemory = error { return .outOfMemory }
        if case InjectedFault.outOfMemory = error { return .outOfMemory }
        return .deviceFailure
    }
    public init() {}
}

/// Counters of one scheduler run.
public struct SchedulerStats: Codable, Equatable, Sendable {
    public var texts = 0
    public var batches = 0
    public var realTokens = 0
    public var paddedTokens = 0
    /// Batches each device completed.
    public var batchesPerDevice: [String: Int] = [:]
    /// Texts each device completed.
    public var textsPerDevice: [String: Int] = [:]
    /// Out-of-memory splits (a batch halved and retried).
    public var oomSplits = 0
    /// Batches re-run on the fallback device after a device failure.
    public var fallbacks = 0
    /// Devices marked unhealthy during the run.
    public var unhealthyDevices: [String] = []
    public var prepareSeconds = 0.0
    public var computeSeconds = 0.0
    public var writeSeconds = 0.0
    public var wallSeconds = 0.0

    /// Real tokens / padded tokens (1 = no padding).
    public var paddingEfficiency: Double { paddedTokens == 0 ? 1 : Double(realTokens) / Double(paddedTokens) }
    public init() {}
}

/// Runs a stream of texts through one or more devices and hands the rows back **in input order**.
///
/// Pipeline: a producer thread reads `window` items at a time, prepares them (tokenisation; the `prepare`
/// closure may use all cores), plans length-sorted batches under the token budget and puts them on a bounded
/// queue; one worker thread per device takes the next batch (work stealing: a fast device simply takes more);
/// the calling thread receives finished rows, restores input order and calls `sink` once per row.
///
/// Faults: an out-of-memory error halves the batch and queues both halves again (a single text that does not
/// fit goes to the fallback); any other error re-runs the batch on the fallback device; a device that fails
/// `maxFailuresPerDevice` times in a row is marked unhealthy and its thread keeps serving on the fallback.
/// No row is lost or duplicated: every planned row is delivered exactly once or the run throws.
public final class BatchScheduler<Item, Payload> {
    public let devices: [ExecutionDevice<Payload>]
    public let fallback: ExecutionDevice<Payload>?
    public let policy: BatchingPolicy
    public let options: SchedulerOptions

    public init(devices: [ExecutionDevice<Payload>], fallback: ExecutionDevice<Payload>?,
                policy: BatchingPolicy, options: SchedulerOptions = SchedulerOptions()) throws {
        guard !devices.isEmpty || fallback != nil else { throw SchedulerError.invalidPolicy("no device to run on") }
        guard policy.window > 0 else { throw SchedulerError.invalidPolicy("window must be positive") }
        self.devices = devices.isEmpty ? [fallback!] : devices
        self.fallback = fallback
        self.policy = policy; self.options = options
    }

    /// Runs the job.
    /// - items: the input, in order; row `startIndex + k` is the k-th element.
    /// - prepare: turns a window of items into (payload, token length) pairs, same count and order.
    /// - sink: called with (row index, feature row) for every row, in increasing row order.
    public func run<S: Sequence>(items: S, startIndex: Int = 0,
                                 prepare: @escaping ([Item]) throws -> [(Payload, Int)],
                                 sink: (Int, [Float]) throws -> Void) throws -> SchedulerStats where S.Element == Item {
        let start = DispatchTime.now().uptimeNanoseconds
        let state = RunState<Payload>(capacity: max(options.queueCapacity, devices.count + 1))
        // Sequences are not Sendable in general; the producer thread is the only one touching the iterator.
        let producerBox = UncheckedBox(items.makeIterator())

        let producer = Thread { [policy] in
            var it = producerBox.value
            var next = startIndex
            var batchID = 0
            do {
                while true {
                    var window: [Item] = []
                    window.reserveCapacity(policy.window)
                    while window.count < policy.window, let item = it.next() { window.append(item) }
                    if window.isEmpty { break }
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let prepared = try prepare(window)
                    guard prepared.count == window.count else {
                        throw SchedulerError.badResult(device: "prepare", detail: "returned \(prepared.count) items for \(window.count)")
                    }
                    let batches = try LengthBucketing.plan(startIndex: next, lengths: prepared.map(\.1),
                                                           payloads: prepared.map(\.0), policy: policy,
                                                           firstBatchID: batchID)
                    state.addPrepareTime(DispatchTime.now().uptimeNanoseconds - t0)
                    batchID += batches.count
                    next += window.count
                    for b in batches { if !state.push(b) { return } }
                }
                state.finishProducing()
            } catch {
                state.fail(error)
            }
        }
        producer.start()

        var workers: [Thread] = []
        for device in devices {
            let t = Thread { [self] in self.workerLoop(device: device, state: state) }
            workers.append(t); t.start()
        }
        defer {
            state.cancel()
            state.waitForWorkers(count: workers.count)
        }

        var nextRow = startIndex
        var writeNanos: UInt64 = 0
        while let (row, values) = try state.takeRow(nextRow) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try sink(row, values)
            writeNanos += DispatchTime.now().uptimeNanoseconds - t0
            nextRow += 1
        }
        var stats = state.snapshotStats()
        stats.writeSeconds = Double(writeNanos) / 1e9
        stats.wallSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return stats
    }

    private func workerLoop(device: ExecutionDevice<Payload>, state: RunState<Payload>) {
        defer { state.workerExited() }
        var consecutiveFailures = 0
        var healthy = true
        while let batch = state.pop() {
            let runner = healthy ? device : (fallback ?? device)
            do {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let rows = try runner.run(batch)
                try check(rows, batch: batch, device: runner.name)
                state.complete(batch, rows: rows, device: runner.name, nanos: DispatchTime.now().uptimeNanoseconds - t0)
                if runner === device { consecutiveFailures = 0 }
            } catch {
                let kind = options.classify(error)
                if kind == .outOfMemory && batch.count > 1 {
                    let (a, b) = batch.halves()
                    state.requeueFront([a, b], oomSplit: true)
                    continue
                }
                if runner === device {
                    consecutiveFailures += 1
                    if consecutiveFailures >= options.maxFailuresPerDevice && fallback != nil && fallback !== device {
                        healthy = false
                        state.markUnhealthy(device.name)
                    }
                }
                // Re-run this batch on the fallback (unless the fallback itself is what failed).
                guard let fb = fallback, fb !== runner else {
                    state.fail(SchedulerError.noHealthyDevice(lastError: "\(runner.name): \(error)"))
                    return
                }
                do {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let rows = try fb.run(batch)
                    try check(rows, batch: batch, device: fb.name)
                    state.complete(batch, rows: rows, device: fb.name, nanos: DispatchTime.now().uptimeNanoseconds - t0,
                                   fallback: true)
                } catch {
                    state.fail(SchedulerError.noHealthyDevice(lastError: "\(fb.name): \(error)"))
                    return
                }
            }
        }
    }

    private func check(_ rows: [[Float]], batch: WorkBatch<Payload>, device: String) throws {
        guard rows.count == batch.count else {
            throw SchedulerError.badResult(device: device, detail: "\(rows.count) rows for a batch of \(batch.count)")
        }
    }
}

/// Wraps a non-Sendable value handed to exactly one other thread.
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// Shared state of one run, guarded by one condition variable.
final class RunState<Payload>: @unchecked Sendable {
    private let cond = NSCondition()
    private var queue: [WorkBatch<Payload>] = []
    private var front: [WorkBatch<Payload>] = []  // retries go first
    private let capacity: Int
    private var producing = true
    private var inFlight = 0
    private var error: Error?
    private var cancelled = false
    private var results: [Int: [Float]] = [:]
    private var exited = 0
    private var stats = SchedulerStats()
    private var prepareNanos: UInt64 = 0
    private var computeNanos: UInt64 = 0

    init(capacity: Int) { self.capacity = capacity }

    func addPrepareTime(_ n: UInt64) { cond.lock(); prepareNanos += n; cond.unlock() }

    /// Producer: blocks while the queue is full. Returns false if the run was cancelled.
    func push(_ batch: WorkBatch<Payload>) -> Bool {
        cond.lock(); defer { cond.unlock() }
        while queue.count >= capacity && !cancelled && error == nil { cond.wait() }
        if cancelled || error != nil { return false }
        queue.append(batch)
        stats.batches += 1
        stats.realTokens += batch.realTokens
        stats.paddedTokens += batch.paddedTokens
        cond.broadcast()
        return true
    }

    func requeueFront(_ batches: [WorkBatch<Payload>], oomSplit: Bool) {
        cond.lock(); defer { cond.unlock() }
        inFlight -= 1
        front.insert(contentsOf: batches, at: 0)
        if oomSplit { stats.oomSplits += 1 }
        cond.broadcast()
    }

    func finishProducing() { cond.lock(); producing = false; cond.broadcast(); cond.unlock() }

    /// Worker: next batch, or nil when the job is done, failed or cancelled.
    func pop() -> WorkBatch<Payload>? {
        cond.lock(); defer { cond.unlock() }
        while true {
            if cancelled || error != nil { return nil }
            if !front.isEmpty { inFlight += 1; return front.removeFirst() }
            if !queue.isEmpty { inFlight += 1; cond.broadcast(); return queue.removeFirst() }
            // Nothing queued: done only when the producer is finished and no batch can come back split.
            if !producing && inFlight == 0 { return nil }
            cond.wait()
        }
    }

    func complete(_ batch: WorkBatch<Payload>, rows: [[Float]], device: String, nanos: UInt64, fallback: Bool = false) {
        cond.lock(); defer { cond.unlock() }
        inFlight -= 1
        for (i, row) in zip(batch.indices, rows) { results[i] = row }
        stats.texts += batch.count
        stats.batchesPerDevice[device, default: 0] += 1
        stats.textsPerDevice[device, default: 0] += batch.count
        if fallback { stats.fallbacks += 1 }
        computeNanos += nanos
        cond.broadcast()
    }

    func markUnhealthy(_ name: String) {
        cond.lock(); stats.unhealthyDevices.append(name); cond.unlock()
    }

    func fail(_ e: Error) {
        cond.lock(); if error == nil { error = e }; cond.broadcast(); cond.unlock()
    }

    func cancel() { cond.lock(); cancelled = true; cond.broadcast(); cond.unlock() }

    func workerExited() { cond.lock(); exited += 1; cond.broadcast(); cond.unlock() }

    func waitForWorkers(count: Int) {
        cond.lock(); while exited < count { cond.wait() }; cond.unlock()
    }

    /// Consumer: the row `index` once it is ready; nil when every row has been delivered.
    func takeRow(_ index: Int) throws -> (Int, [Float])? {
        cond.lock(); defer { cond.unlock() }
        while true {
            if let e = error { throw e }
            if let row = results.removeValue(forKey: index) { return (index, row) }
            if !producing && queue.isEmpty && front.isEmpty && inFlight == 0 {
                // Everything planned has been delivered, or a worker lost rows (a bug: fail loudly).
                if results.isEmpty { return nil }
                throw SchedulerError.badResult(device: "scheduler", detail: "row \(index) missing while \(results.count) rows wait")
            }
            cond.wait()
        }
    }

    func snapshotStats() -> SchedulerStats {
        cond.lock(); defer { cond.unlock() }
        var s = stats
        s.prepareSeconds = Double(prepareNanos) / 1e9
        s.computeSeconds = Double(computeNanos) / 1e9
        return s
    }
}
