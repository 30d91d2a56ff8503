import Backend
import Foundation

/// A device the scheduler can send batches to. `run` returns one feature row per text, in
/// `batch.indices` order, each of the job's feature width. `run` is only called from one thread at a time.
///
/// Pipelined form: `submit` enqueues a batch on the device without waiting for it and returns its finish,
/// which waits and returns the rows as `run` would. The scheduler's worker submits batch k+1 before it
/// finishes batch k, so the device computes while the host uploads the next batch and post-processes the last.
/// `submit` and each finish are called under the device's lock, separately: between them another thread may
/// `run` or `submit` on the same device (a fallback shared with a device), so a pending batch must not depend
/// on host memory a later call reuses (the extractor's pending downloads own their host memory and are
/// enqueued before any later op on the in-order queue).
public final class ExecutionDevice<Payload> {
    public let name: String
    let runBatch: (WorkBatch<Payload>) throws -> [[Float]]
    let submitBatch: ((WorkBatch<Payload>) throws -> () throws -> [[Float]])?
    let lock = NSLock()

    public init(name: String, run: @escaping (WorkBatch<Payload>) throws -> [[Float]]) {
        self.name = name; self.runBatch = run; self.submitBatch = nil
    }

    /// A device with a pipelined form: `submit(batch)` enqueues the batch and returns its finish; `run` must
    /// give the same rows (usually `{ try submit($0)() }`).
    public init(name: String, run: @escaping (WorkBatch<Payload>) throws -> [[Float]],
                submit: ((WorkBatch<Payload>) throws -> () throws -> [[Float]])?) {
        self.name = name; self.runBatch = run; self.submitBatch = submit
    }

    /// Whether the device has the pipelined form.
    public var canSubmit: Bool { submitBatch != nil }

    func run(_ batch: WorkBatch<Payload>) throws -> [[Float]] {
        lock.lock(); defer { lock.unlock() }
        return try runBatch(batch)
    }

    /// Enqueues `batch` (under the lock) and returns its finish (which takes the lock again); only when `canSubmit`.
    func submit(_ batch: WorkBatch<Payload>) throws -> () throws -> [[Float]] {
        guard let submitBatch else { let rows = try run(batch); return { rows } }
        let finish: () throws -> [[Float]]
        do {
            lock.lock(); defer { lock.unlock() }
            finish = try submitBatch(batch)
        }
        return { [lock] in
            lock.lock(); defer { lock.unlock() }
            return try finish()
        }
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
    /// Whether a device with a pipelined form (`ExecutionDevice.submit`) keeps one batch in flight while it
    /// submits the next. Default on; the environment variable `FEATURIZE_PIPELINE=0` turns it off (to measure).
    public var pipeline: Bool = ProcessInfo.processInfo.environment["FEATURIZE_PIPELINE"] != "0"
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
/// No row is lost or duplicated: every planned row is delivered exactly once or the run throws; when it throws,
/// the rows finished before the failure that follow each other in input order have been delivered first.
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

    /// Runs the job, one unit (one encoder sequence) per item.
    /// - items: the input, in order; row `startIndex + k` is the k-th element.
    /// - prepare: turns a window of items into (payload, token length) pairs, same count and order.
    /// - sink: called with (row index, feature row) for every row, in increasing row order.
    public func run<S: Sequence>(items: S, startIndex: Int = 0,
                                 prepare: @escaping ([Item]) throws -> [(Payload, Int)],
                                 sink: (Int, [Float]) throws -> Void) throws -> SchedulerStats where S.Element == Item {
        try run(items: items, startIndex: startIndex, prepareUnits: { window in try prepare(window).map { [$0] } },
                sinkItem: { row, units in
            guard units.count == 1 else {
                throw SchedulerError.badResult(device: "scheduler", detail: "row \(row) has \(units.count) units, expected 1")
            }
            try sink(row, units[0].row)
        })
    }

    /// Runs the job where an item may expand into several units (the windows of a long text): every unit is
    /// batched like a text of its own (units of one item may land in different batches), and `sinkItem` gets an
    /// item once all its units are done, with their payloads and rows in unit order, items in input order.
    /// - items: the input, in order; item `startIndex + k` is the k-th element.
    /// - prepareUnits: turns a window of items into their units, (payload, token length) each; one list per
    ///   item, same count and order as the window (an empty list is an item with no unit).
    /// - sinkItem: called with (item index, its units) for every item, in increasing item order.
    /// Units are numbered from `startIndex` on, so with one unit per item a unit's index is its item's.
    public func run<S: Sequence>(items: S, startIndex: Int = 0,
                                 prepareUnits: @escaping ([Item]) throws -> [[(Payload, Int)]],
                                 sinkItem: (Int, [(payload: Payload, row: [Float])]) throws -> Void) throws -> SchedulerStats where S.Element == Item {
        let start = DispatchTime.now().uptimeNanoseconds
        let state = RunState<Payload>(capacity: max(options.queueCapacity, devices.count + 1))
        // Sequences are not Sendable in general; the producer thread is the only one touching the iterator.
        let producerBox = UncheckedBox(items.makeIterator())

        let producer = Thread { [policy] in
            var it = producerBox.value
            var nextItem = startIndex
            var nextUnit = startIndex
            var batchID = 0
            do {
                while true {
                    // Backpressure on the results: at most the window before this one may still be waiting for
                    // the sink, so rows computed ahead of a slow writer (token-level output is large) stay bounded
                    // by two windows. No deadlock: every batch of those earlier windows is already queued.
                    if !state.waitForDelivery(upTo: nextItem - startIndex - policy.window) { return }
                    var window: [Item] = []
                    window.reserveCapacity(policy.window)
                    while window.count < policy.window, let item = it.next() { window.append(item) }
                    if window.isEmpty { break }
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let prepared = try prepareUnits(window)
                    guard prepared.count == window.count else {
                        throw SchedulerError.badResult(device: "prepare", detail: "returned \(prepared.count) items for \(window.count)")
                    }
                    var lengths: [Int] = [], payloads: [Payload] = [], itemOfUnit: [Int] = []
                    for (k, units) in prepared.enumerated() {
                        for (payload, length) in units { payloads.append(payload); lengths.append(length); itemOfUnit.append(nextItem + k) }
                    }
                    let batches: [WorkBatch<Payload>]
                    do {
                        batches = try LengthBucketing.plan(startIndex: nextUnit, lengths: lengths, payloads: payloads,
                                                           policy: policy, firstBatchID: batchID)
                    } catch let SchedulerError.textOverBudget(unit, tokens, budget) {
                        throw SchedulerError.textOverBudget(index: itemOfUnit[unit - nextUnit], tokens: tokens, budget: budget)
                    }
                    state.addPrepareTime(DispatchTime.now().uptimeNanoseconds - t0)
                    state.addItems(prepared.map(\.count))
                    batchID += batches.count
                    nextItem += window.count
                    nextUnit += payloads.count
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

        var nextItem = startIndex
        var nextUnit = startIndex
        var writeNanos: UInt64 = 0
        while let units = try state.takeItem(firstUnit: nextUnit) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try sinkItem(nextItem, units)
            writeNanos += DispatchTime.now().uptimeNanoseconds - t0
            nextItem += 1
            nextUnit += units.count
        }
        var stats = state.snapshotStats()
        stats.writeSeconds = Double(writeNanos) / 1e9
        stats.wallSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return stats
    }

    /// A worker's view of its device's health: consecutive failures, and whether it still gets batches.
    /// "Consecutive" is in the order batches were started on the device: with a batch in flight, batch k may
    /// finish after batch k+1 failed at its submit, and k's success must not clear that later failure.
    private struct DeviceHealth {
        var consecutiveFailures = 0
        var healthy = true
        /// Batches started on the device so far (the next one's number).
        private var started = 0
        /// Number of the latest-started batch that failed on the device.
        private var lastFailure = -1

        /// Numbers a batch started on the device.
        mutating func start() -> Int { started += 1; return started - 1 }
        mutating func succeeded(_ number: Int) { if number > lastFailure { consecutiveFailures = 0 } }
        mutating func failed(_ number: Int) { consecutiveFailures += 1; lastFailure = max(lastFailure, number) }
    }

    /// A batch submitted to a device and not yet finished.
    private struct InFlightBatch {
        let batch: WorkBatch<Payload>
        let finish: () throws -> [[Float]]
        /// Nanoseconds spent in `submit`.
        let submitNanos: UInt64
        /// Its number among the batches started on the device (`DeviceHealth.start`).
        let number: Int
    }

    /// One thread per device. Synchronous: pop a batch, run it, repeat. Pipelined (the device has `submit`,
    /// `options.pipeline`, the device healthy): at most one batch in flight beyond the current one — take
    /// batch k+1 without blocking (`tryPop`: blocking with an unfinished batch could deadlock against the
    /// producer's delivery backpressure), submit it, then finish batch k. Every fault rule holds for both.
    private func workerLoop(device: ExecutionDevice<Payload>, state: RunState<Payload>) {
        defer { state.workerExited() }
        var health = DeviceHealth()
        var pending: InFlightBatch?
        while true {
            let next = pending == nil ? state.pop() : state.tryPop()
            if next == nil && pending == nil { return }
            var submitted: InFlightBatch?
            if let batch = next {
                if options.pipeline && health.healthy && device.canSubmit {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let number = health.start()
                    do {
                        let finish = try device.submit(batch)
                        submitted = InFlightBatch(batch: batch, finish: finish,
                                                  submitNanos: DispatchTime.now().uptimeNanoseconds - t0, number: number)
                    } catch {
                        if !recover(batch, error: error, runner: device, number: number, device: device, health: &health, state: state) {
                            finishQuietly(pending, device: device, state: state)
                            return
                        }
                    }
                } else {
                    // Synchronous from here on: the batch in flight (if any) is finished first.
                    if let p = pending {
                        pending = nil
                        if !finish(p, device: device, health: &health, state: state) { return }
                    }
                    if !runSynchronously(batch, device: device, health: &health, state: state) { return }
                }
            }
            if let p = pending {
                pending = nil
                if !finish(p, device: device, health: &health, state: state) {
                    finishQuietly(submitted, device: device, state: state)
                    return
                }
            }
            pending = submitted
        }
    }

    /// Runs `batch` on the device (or on the fallback once the device is unhealthy). False: the run failed.
    private func runSynchronously(_ batch: WorkBatch<Payload>, device: ExecutionDevice<Payload>, health: inout DeviceHealth,
                                  state: RunState<Payload>) -> Bool {
        let runner = health.healthy ? device : (fallback ?? device)
        let number = health.start()
        do {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let rows = try runner.run(batch)
            try check(rows, batch: batch, device: runner.name)
            state.complete(batch, rows: rows, device: runner.name, nanos: DispatchTime.now().uptimeNanoseconds - t0)
            if runner === device { health.succeeded(number) }
            return true
        } catch {
            return recover(batch, error: error, runner: runner, number: number, device: device, health: &health, state: state)
        }
    }

    /// Finishes a batch in flight on `device`. False: the run failed.
    private func finish(_ p: InFlightBatch, device: ExecutionDevice<Payload>, health: inout DeviceHealth,
                        state: RunState<Payload>) -> Bool {
        do {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let rows = try p.finish()
            try check(rows, batch: p.batch, device: device.name)
            state.complete(p.batch, rows: rows, device: device.name,
                           nanos: p.submitNanos + DispatchTime.now().uptimeNanoseconds - t0)
            health.succeeded(p.number)
            return true
        } catch {
            return recover(p.batch, error: error, runner: device, number: p.number, device: device, health: &health, state: state)
        }
    }

    /// After the run has failed: finishes a batch still in flight if it can (so its rows are delivered before
    /// the error, like every row finished before the failure); a failure here is dropped.
    private func finishQuietly(_ p: InFlightBatch?, device: ExecutionDevice<Payload>, state: RunState<Payload>) {
        guard let p, let rows = try? p.finish(), rows.count == p.batch.count else { return }
        state.complete(p.batch, rows: rows, device: device.name, nanos: p.submitNanos)
    }

    /// The fault rules for a batch that failed on `runner` (the worker's device, or the fallback it serves on):
    /// out of memory halves it and queues both halves first; any other error counts against the device (marked
    /// unhealthy after `maxFailuresPerDevice` in a row) and re-runs the batch on the fallback, synchronously.
    /// False: the run failed (the error is recorded).
    private func recover(_ batch: WorkBatch<Payload>, error: Error, runner: ExecutionDevice<Payload>, number: Int,
                         device: ExecutionDevice<Payload>, health: inout DeviceHealth, state: RunState<Payload>) -> Bool {
        let kind = options.classify(error)
        if kind == .outOfMemory && batch.count > 1 {
            let (a, b) = batch.halves()
            state.requeueFront([a, b], oomSplit: true)
            return true
        }
        if runner === device && health.healthy {
            health.failed(number)
            if health.consecutiveFailures >= options.maxFailuresPerDevice && fallback != nil && fallback !== device {
                health.healthy = false
                state.markUnhealthy(device.name)
            }
        }
        // Re-run this batch on the fallback (unless the fallback itself is what failed).
        guard let fb = fallback, fb !== runner else {
            state.fail(SchedulerError.noHealthyDevice(lastError: "\(runner.name): \(error)"))
            return false
        }
        do {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let rows = try fb.run(batch)
            try check(rows, batch: batch, device: fb.name)
            state.complete(batch, rows: rows, device: fb.name, nanos: DispatchTime.now().uptimeNanoseconds - t0,
                           fallback: true)
            return true
        } catch {
            state.fail(SchedulerError.noHealthyDevice(lastError: "\(fb.name): \(error)"))
            return false
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
    private var results: [Int: (payload: Payload, row: [Float])] = [:]
    /// Units of each planned item not yet delivered, in item order (from `itemsHead` on).
    private var itemUnits: [Int] = []
    private var itemsHead = 0
    /// Items handed to the sink so far.
    private var deliveredItems = 0
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

    /// Worker, with a batch of its own still in flight: the next batch if one is queued now, else nil (never
    /// blocks: the batch in flight may be what the producer's backpressure waits for).
    func tryPop() -> WorkBatch<Payload>? {
        cond.lock(); defer { cond.unlock() }
        return takeQueued()
    }

    /// Worker: next batch, or nil when the job is done, failed or cancelled.
    func pop() -> WorkBatch<Payload>? {
        cond.lock(); defer { cond.unlock() }
        while true {
            if cancelled || error != nil { return nil }
            if let batch = takeQueued() { return batch }
            // Nothing queued: done only when the producer is finished and no batch can come back split.
            if !producing && inFlight == 0 { return nil }
            cond.wait()
        }
    }

    /// Under the lock: the next queued batch (retries first), counted in flight; nil when none is queued or the
    /// run was cancelled or failed.
    private func takeQueued() -> WorkBatch<Payload>? {
        if cancelled || error != nil { return nil }
        if !front.isEmpty { inFlight += 1; return front.removeFirst() }
        if !queue.isEmpty { inFlight += 1; cond.broadcast(); return queue.removeFirst() }
        return nil
    }

    func complete(_ batch: WorkBatch<Payload>, rows: [[Float]], device: String, nanos: UInt64, fallback: Bool = false) {
        cond.lock(); defer { cond.unlock() }
        inFlight -= 1
        for (k, (i, row)) in zip(batch.indices, rows).enumerated() { results[i] = (batch.payloads[k], row) }
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

    /// Producer: blocks until at least `count` items have been delivered to the sink. Returns false if the run
    /// was cancelled or failed.
    func waitForDelivery(upTo count: Int) -> Bool {
        cond.lock(); defer { cond.unlock() }
        while deliveredItems < count && !cancelled && error == nil { cond.wait() }
        return !cancelled && error == nil
    }

    /// Producer: the unit counts of the items of a window, before their batches are queued.
    func addItems(_ counts: [Int]) { cond.lock(); itemUnits.append(contentsOf: counts); cond.broadcast(); cond.unlock() }

    /// Consumer: the units of the next item (whose first unit is `firstUnit`) once all are ready; nil when
    /// every item has been delivered.
    func takeItem(firstUnit: Int) throws -> [(payload: Payload, row: [Float])]? {
        cond.lock(); defer { cond.unlock() }
        while true {
            // After a failure the items finished before it (in order) are still delivered, so a resumed job
            // redoes as little as possible; the error is thrown at the first item that cannot complete.
            if itemsHead < itemUnits.count {
                let n = itemUnits[itemsHead]
                if (firstUnit..<(firstUnit + n)).allSatisfy({ results[$0] != nil }) {
                    let units = (firstUnit..<(firstUnit + n)).map { results.removeValue(forKey: $0)! }
                    itemsHead += 1
                    deliveredItems += 1
                    if itemsHead >= 4_096 { itemUnits.removeFirst(itemsHead); itemsHead = 0 }
                    cond.broadcast()
                    return units
                }
            }
            if let e = error { throw e }
            if !producing && queue.isEmpty && front.isEmpty && inFlight == 0 {
                // Everything planned has been delivered, or a worker lost units (a bug: fail loudly).
                if results.isEmpty && itemsHead == itemUnits.count { return nil }
                throw SchedulerError.badResult(device: "scheduler", detail: "unit \(firstUnit) missing while \(results.count) units wait")
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
