import Backend
import Foundation
import Testing
@testable import Scheduler

/// A fake pipelined device: `submit` records the batch and returns a finish that computes `fakeRow` for each
/// text. It counts the batches submitted and not yet finished (at most 2 allowed), and can fail a given submit or
/// finish (1-based call numbers) with any error.
final class PipelinedFake: @unchecked Sendable {
    let name: String
    private let lock = NSLock()
    private(set) var inFlight = 0
    private(set) var maxInFlight = 0
    private(set) var submits = 0
    private(set) var finishes = 0
    /// Submits that began while another batch of this device was in flight.
    private(set) var overlappedSubmits = 0
    /// Batch ids by submit number (1-based), and the rows the device itself finished.
    private(set) var submittedIDs: [Int] = []
    private(set) var finishedRows: [Int] = []
    var submitFault: (Int) -> Error? = { _ in nil }
    var finishFault: (Int) -> Error? = { _ in nil }
    let finishDelay: Double

    init(_ name: String, finishDelay: Double = 0) { self.name = name; self.finishDelay = finishDelay }

    private func locked<T>(_ body: () -> T) -> T { lock.lock(); defer { lock.unlock() }; return body() }

    var device: ExecutionDevice<Int> {
        let submit: (WorkBatch<Int>) throws -> () throws -> [[Float]] = { [self] batch in
            let n: Int = locked {
                submits += 1
                submittedIDs.append(batch.id)
                return submits
            }
            if let e = submitFault(n) { throw e }
            locked {
                if inFlight > 0 { overlappedSubmits += 1 }
                inFlight += 1
                maxInFlight = max(maxInFlight, inFlight)
            }
            return { [self] in
                let k: Int = locked { inFlight -= 1; finishes += 1; return finishes }
                if finishDelay > 0 { Thread.sleep(forTimeInterval: finishDelay) }
                if let e = finishFault(k) { throw e }
                locked { finishedRows += batch.indices }
                return zip(batch.payloads, batch.tokenLengths).map { fakeRow($0, $1) }
            }
        }
        return ExecutionDevice(name: name, run: { try submit($0)() }, submit: submit)
    }
}

/// A fake synchronous fallback that records the batch ids and rows it ran.
final class RecordingFallback: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var batchIDs: [Int] = []
    private(set) var rows: [Int] = []
    var device: ExecutionDevice<Int> {
        ExecutionDevice(name: "cpu") { [self] batch in
            lock.lock(); batchIDs.append(batch.id); rows += batch.indices; lock.unlock()
            return zip(batch.payloads, batch.tokenLengths).map { fakeRow($0, $1) }
        }
    }
}

private func runPipelined(rows: Int, devices: [ExecutionDevice<Int>], fallback: ExecutionDevice<Int>? = nil,
                          pipeline: Bool = true, maxFailures: Int = 2,
                          policy: BatchingPolicy = BatchingPolicy(maxBatchTokens: 256, maxBatchSize: 16, window: 50),
                          sinkDelay: Double = 0) throws -> ([[Float]], [Int], SchedulerStats) {
    var options = SchedulerOptions()
    options.pipeline = pipeline
    options.maxFailuresPerDevice = maxFailures
    let scheduler = try BatchScheduler<Int, Int>(devices: devices, fallback: fallback, policy: policy, options: options)
    var out: [[Float]] = [], order: [Int] = []
    let stats = try scheduler.run(items: 0..<rows, prepare: { window in window.map { ($0, length(of: $0)) } },
                                  sink: { i, row in
        if sinkDelay > 0 { Thread.sleep(forTimeInterval: sinkDelay) }
        order.append(i); out.append(row)
    })
    return (out, order, stats)
}

@Suite("Pipelined worker: one batch in flight beyond the current")
struct PipelinedWorkerTests {
    let n = 437
    var expected: [[Float]] { (0..<n).map { fakeRow($0, length(of: $0)) } }

    @Test("order restored; batch k+1 submitted before k is finished, never more than two in flight")
    func orderAndAtMostTwoInFlight() throws {
        let fake = PipelinedFake("gpu", finishDelay: 0.001)
        let (out, order, stats) = try runPipelined(rows: n, devices: [fake.device])
        #expect(order == Array(0..<n))
        #expect(out == expected)
        #expect(stats.texts == n && stats.batchesPerDevice["gpu"] == stats.batches)
        #expect(fake.maxInFlight == 2, "max in flight \(fake.maxInFlight)")
        #expect(fake.overlappedSubmits > stats.batches / 2, "\(fake.overlappedSubmits) of \(stats.batches) submits overlapped")
        #expect(fake.submits == stats.batches && fake.finishes == stats.batches)
    }

    @Test("pipeline off (FEATURIZE_PIPELINE=0's option): one batch at a time, same rows")
    func pipelineOff() throws {
        let fake = PipelinedFake("gpu")
        let (out, order, _) = try runPipelined(rows: n, devices: [fake.device], pipeline: false)
        #expect(order == Array(0..<n) && out == expected)
        #expect(fake.maxInFlight == 1 && fake.overlappedSubmits == 0)
    }

    @Test("two pipelined devices and a plain one: every row once, in order, each device at most two in flight")
    func severalDevices() throws {
        let a = PipelinedFake("gpu0", finishDelay: 0.001), b = PipelinedFake("gpu1", finishDelay: 0.002)
        let (out, order, stats) = try runPipelined(rows: n, devices: [a.device, b.device, fakeDevice("cpu", delay: 0.003)])
        #expect(order == Array(0..<n) && out == expected)
        #expect(a.maxInFlight <= 2 && b.maxInFlight <= 2)
        #expect(stats.textsPerDevice.values.reduce(0, +) == n)
    }

    @Test("out of memory at submit: the batch is halved and requeued, the batch in flight still finishes")
    func oomAtSubmit() throws {
        let fake = PipelinedFake("gpu", finishDelay: 0.001)
        fake.submitFault = { $0 == 3 ? BackendError.outOfMemory(device: "gpu", call: "clCreateBuffer", bytes: 1) : nil }
        let (out, order, stats) = try runPipelined(rows: n, devices: [fake.device], fallback: RecordingFallback().device)
        #expect(order == Array(0..<n) && out == expected)
        #expect(stats.oomSplits == 1 && stats.fallbacks == 0)
        #expect(fake.finishedRows.sorted() == Array(0..<n))
        // The failed submit's batch came back as two halves: one more submit than planned batches + 1.
        #expect(fake.submits == stats.batches + 2)
    }

    @Test("out of memory at finish (batch k+1 already submitted): k halved and requeued, nothing lost")
    func oomAtFinish() throws {
        let fake = PipelinedFake("gpu", finishDelay: 0.001)
        fake.finishFault = { $0 == 3 ? BackendError.outOfMemory(device: "gpu", call: "clEnqueueNDRangeKernel", bytes: 0) : nil }
        let (out, order, stats) = try runPipelined(rows: n, devices: [fake.device], fallback: RecordingFallback().device)
        #expect(order == Array(0..<n) && out == expected)
        #expect(stats.oomSplits == 1 && stats.fallbacks == 0)
        #expect(fake.finishedRows.sorted() == Array(0..<n))
        #expect(fake.maxInFlight == 2)
    }

    @Test("device dies at the finish of batch k while k+1 is submitted: k and k+1 both re-run once on the fallback")
    func deviceFailureAtFinish() throws {
        let fake = PipelinedFake("gpu", finishDelay: 0.002)
        // From its 3rd finish on every call fails (a lost device): the finish of k, of the k+1 in flight, later submits.
        let dead = UncheckedBox(false)
        fake.finishFault = { k in
            if k >= 3 { dead.value = true }
            return dead.value ? BackendError.deviceFailure(device: "gpu", call: "clWaitForEvents", code: -5, name: "CL_OUT_OF_RESOURCES") : nil
        }
        fake.submitFault = { _ in dead.value ? BackendError.deviceFailure(device: "gpu", call: "clEnqueueNDRangeKernel", code: -5, name: "CL_OUT_OF_RESOURCES") : nil }
        let fallback = RecordingFallback()
        let (out, order, stats) = try runPipelined(rows: n, devices: [fake.device], fallback: fallback.device)
        #expect(order == Array(0..<n) && out == expected)
        #expect(stats.unhealthyDevices == ["gpu"])
        // Rows split between the device and the fallback with no overlap.
        #expect((fake.finishedRows + fallback.rows).sorted() == Array(0..<n))
        #expect(Set(fake.finishedRows).isDisjoint(with: fallback.rows))
        // The 3rd finished batch is the 3rd submitted; if the 4th was in flight when the device died, it too ran
        // on the fallback (it failed at its finish), each exactly once.
        let k = fake.submittedIDs[2]
        #expect(fallback.batchIDs.filter { $0 == k }.count == 1)
        if fake.finishes >= 4 { #expect(fallback.batchIDs.filter { $0 == fake.submittedIDs[3] }.count == 1) }
        // Re-runs after a failure: k, the batch whose submit failed, and k+1 if it was in flight; after that the
        // device is unhealthy and the fallback simply serves the rest.
        #expect(stats.fallbacks == fake.finishes - 1)
        #expect(fallback.batchIDs.count == stats.batches - 2)
        #expect(stats.batchesPerDevice["gpu"] == 2)
    }

    @Test("a transient failure at one finish: only that batch re-runs on the fallback, the one in flight finishes on the device")
    func transientFailureAtFinish() throws {
        let fake = PipelinedFake("gpu", finishDelay: 0.001)
        fake.finishFault = { $0 == 3 ? BackendError.deviceFailure(device: "gpu", call: "clWaitForEvents", code: -5, name: "CL_OUT_OF_RESOURCES") : nil }
        let fallback = RecordingFallback()
        let (out, order, stats) = try runPipelined(rows: n, devices: [fake.device], fallback: fallback.device)
        #expect(order == Array(0..<n) && out == expected)
        #expect(stats.fallbacks == 1 && stats.unhealthyDevices.isEmpty)
        #expect(fallback.batchIDs == [fake.submittedIDs[2]])
        #expect(fake.finishes == stats.batches)
    }

    @Test("an unhealthy device stops pipelining: after its failures every batch runs on the fallback, no more submits")
    func unhealthyStopsPipelining() throws {
        let fake = PipelinedFake("gpu", finishDelay: 0.001)
        fake.submitFault = { $0 >= 2 ? BackendError.deviceFailure(device: "gpu", call: "clEnqueueWriteBuffer", code: -5, name: "CL_OUT_OF_RESOURCES") : nil }
        let fallback = RecordingFallback()
        let (out, order, stats) = try runPipelined(rows: n, devices: [fake.device], fallback: fallback.device)
        #expect(order == Array(0..<n) && out == expected)
        #expect(stats.unhealthyDevices == ["gpu"])
        // Submit 1 succeeds, submits 2 and 3 fail: unhealthy, whether or not batch 1 was still in flight when
        // submit 2 failed (its later success does not clear a failure of a batch started after it).
        #expect(fake.submits == 3, "\(fake.submits) submits")
        #expect(fake.finishes == 1)
        #expect(stats.batches > 20 && fallback.batchIDs.count == stats.batches - 1)
        #expect(stats.fallbacks == fake.submits - 1)
    }

    @Test("two failures in a row in start order mark the device unhealthy, though the batch in flight before them succeeds")
    func consecutiveFailuresInStartOrder() throws {
        let fake = PipelinedFake("gpu", finishDelay: 0.002)
        // Batches 3 and 4 fail at submit (as FEATURIZE_INJECT_FAULT=gpu@3:failx2 does); batch 2, in flight while
        // 3 fails, finishes fine afterwards.
        fake.submitFault = { ($0 == 3 || $0 == 4) ? BackendError.deviceFailure(device: "gpu", call: "clEnqueueNDRangeKernel", code: -5, name: "CL_OUT_OF_RESOURCES") : nil }
        let fallback = RecordingFallback()
        let (out, order, stats) = try runPipelined(rows: n, devices: [fake.device], fallback: fallback.device)
        #expect(order == Array(0..<n) && out == expected)
        #expect(stats.unhealthyDevices == ["gpu"] && stats.fallbacks == 2)
        #expect(fake.submits == 4 && fake.finishes == 2)
    }

    @Test("no deadlock: a tiny window, a slow sink, pipelined devices", .timeLimit(.minutes(1)))
    func tinyWindowSlowSink() throws {
        let done = DispatchSemaphore(value: 0)
        let result = UncheckedBox<Result<([[Float]], [Int], SchedulerStats), Error>?>(nil)
        let a = PipelinedFake("gpu0"), b = PipelinedFake("gpu1")
        let rows = 120
        let thread = Thread {
            result.value = Result {
                try runPipelined(rows: rows, devices: [a.device, b.device],
                                 policy: BatchingPolicy(maxBatchTokens: 256, maxBatchSize: 2, window: 3), sinkDelay: 0.001)
            }
            done.signal()
        }
        thread.start()
        #expect(done.wait(timeout: .now() + 30) == .success, "the pipelined run did not finish in 30 s (deadlock)")
        let (out, order, _) = try #require(result.value).get()
        #expect(order == Array(0..<rows))
        #expect(out == (0..<rows).map { fakeRow($0, length(of: $0)) })
    }
}
