import Foundation
import Testing
@testable import Scheduler

/// Items that expand into several units (the windows of a long text): units are batched like texts, an item is
/// delivered once all its units are done, in input order; after a failure the finished items come first.
@Suite struct UnitSchedulingTests {
    /// Item i has `i % 4` units (0 to 3), unit k of it has payload i * 10 + k and 2 + (i * 7 + k * 13) % 29 tokens.
    static func units(_ window: [Int]) -> [[(Int, Int)]] {
        window.map { i in (0..<(i % 4)).map { k in (i * 10 + k, 2 + (i * 7 + k * 13) % 29) } }
    }

    static func device(_ name: String, delay: Double = 0, batches: UncheckedBox<[[Int]]>? = nil) -> ExecutionDevice<Int> {
        ExecutionDevice(name: name) { batch in
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            batches?.value.append(batch.payloads)
            return batch.payloads.map { [Float($0), Float($0) / 2] }
        }
    }

    @Test func unitsOfOneItemShareBatchesWithOthersAndItemsComeBackInOrder() throws {
        let batches = UncheckedBox<[[Int]]>([])
        let scheduler = try BatchScheduler<Int, Int>(devices: [Self.device("fast", batches: batches), Self.device("slow", delay: 0.002)],
                                                     fallback: nil, policy: BatchingPolicy(maxBatchTokens: 120, maxBatchSize: 6, window: 25))
        var seen: [Int] = []
        let stats = try scheduler.run(items: 100..<300, startIndex: 100, prepareUnits: Self.units, sinkItem: { item, units in
            seen.append(item)
            #expect(units.map(\.payload) == (0..<(item % 4)).map { item * 10 + $0 }, "item \(item)")
            #expect(units.map(\.row) == units.map { [Float($0.payload), Float($0.payload) / 2] })
        })
        #expect(seen == Array(100..<300))
        let unitCount = (100..<300).reduce(0) { $0 + $1 % 4 }
        #expect(stats.texts == unitCount && stats.realTokens == Self.units(Array(100..<300)).joined().reduce(0) { $0 + $1.1 })
        // The units of one item are split over batches (sorted by length within the window), not kept together.
        let split = (100..<300).filter { i in i % 4 > 1 && Set(batches.value.indices.filter { b in batches.value[b].contains { $0 / 10 == i } }).count > 1 }
        #expect(!split.isEmpty)
    }

    @Test func overBudgetUnitNamesItsItem() throws {
        let scheduler = try BatchScheduler<Int, Int>(devices: [Self.device("d")], fallback: nil, policy: BatchingPolicy(maxBatchTokens: 20, window: 10))
        #expect(throws: SchedulerError.textOverBudget(index: 7, tokens: 25, budget: 20)) {
            _ = try scheduler.run(items: 0..<10, prepareUnits: { w in w.map { i in i == 7 ? [(0, 3), (1, 25)] : [(0, 3)] } }, sinkItem: { _, _ in })
        }
    }

    @Test func afterAFailureTheItemsFinishedBeforeItAreDelivered() throws {
        // One device, no fallback: batch 5 fails. Items of windows whose batches all ran before it come out.
        let counter = UncheckedBox(0)
        let failing = ExecutionDevice<Int>(name: "d") { batch in
            counter.value += 1
            if counter.value == 5 { throw SchedulerError.badResult(device: "d", detail: "boom") }
            return batch.payloads.map { [Float($0)] }
        }
        let policy = BatchingPolicy(maxBatchTokens: 60, maxBatchSize: 3, window: 6)
        let planned = try (0..<5).map { w in
            try LengthBucketing.plan(startIndex: 0, lengths: Self.units(Array((w * 6)..<(w * 6 + 6))).joined().map(\.1),
                                     payloads: Array(0..<Self.units(Array((w * 6)..<(w * 6 + 6))).joined().count), policy: policy).count
        }
        // The window holding batch 5, and so the items delivered: every item of the windows before it.
        var before = 0, window = 0
        while before + planned[window] < 5 { before += planned[window]; window += 1 }
        let scheduler = try BatchScheduler<Int, Int>(devices: [failing], fallback: nil, policy: policy)
        var delivered: [Int] = []
        #expect(throws: SchedulerError.self) {
            _ = try scheduler.run(items: 0..<30, prepareUnits: Self.units, sinkItem: { item, _ in delivered.append(item) })
        }
        #expect(window >= 1 && delivered.count >= window * 6 && delivered == Array(0..<delivered.count), "\(delivered)")
    }
}
