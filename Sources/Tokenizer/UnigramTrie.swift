/// A double-array trie over UTF-8 byte strings, for the Unigram model's common-prefix searches: from node `n`,
/// byte `b` leads to `base[n] + b` if that slot's `check` is `n`. A node's `value` is the id of the key ending
/// there, or -1. Built once from the vocabulary; raw storage, immutable, safe to share between threads.
final class UnigramTrie: @unchecked Sendable {
    struct Slot {
        var base: Int32
        var check: Int32
        var value: Int32
    }

    private let slots: UnsafeMutablePointer<Slot>
    let slotCount: Int

    /// `keys[k]` maps to `ids[k]`; when a key repeats, the last id wins (HF's vocabulary map). The empty key is
    /// never matched.
    init(keys: [[UInt8]], ids: [Int32]) {
        var final: [[UInt8]: Int32] = [:]
        for (key, id) in zip(keys, ids) where !key.isEmpty { final[key] = id }
        let sorted = final.sorted { $0.key.lexicographicallyPrecedes($1.key) }

        var slots: [Slot] = [Slot(base: 0, check: -2, value: -1)]  // root at 0
        slots.reserveCapacity(sorted.reduce(0) { $0 + $1.key.count } / 2 + 512)
        // Slots below 256 stay unused (a base must be at least 1), so the first free slot is always usable.
        var firstFree = 256, wideStart = 256
        func ensure(_ count: Int) {
            while slots.count < count { slots.append(Slot(base: 0, check: -1, value: -1)) }
        }
        // Work list: (node, range of `sorted` sharing the node's prefix, depth).
        var work: [(node: Int, lower: Int, upper: Int, depth: Int)] = [(0, 0, sorted.count, 0)]
        var labels: [Int] = [], childRanges: [(Int, Int)] = []
        while let (node, lower, upper, depth) = work.popLast() {
            labels.removeAll(keepingCapacity: true)
            childRanges.removeAll(keepingCapacity: true)
            var k = lower
            while k < upper, sorted[k].key.count == depth {
                slots[node].value = sorted[k].value
                k += 1
            }
            while k < upper {
                let label = Int(sorted[k].key[depth])
                let groupStart = k
                while k < upper, Int(sorted[k].key[depth]) == label { k += 1 }
                labels.append(label)
                childRanges.append((groupStart, k))
            }
            guard !labels.isEmpty else { continue }
            // A base whose child slots are all free. Single-child nodes (most of a vocabulary trie) take the first
            // free slot; wider nodes search free slots from `wideStart`, which moves on past crowded regions.
            while firstFree < slots.count, slots[firstFree].check != -1 { firstFree += 1 }
            var base: Int
            if labels.count == 1 {
                var p = firstFree
                ensure(p + 1)
                while slots[p].check != -1 { p += 1; ensure(p + 1) }
                base = p - labels[0]
            } else {
                var p = max(firstFree, wideStart)
                var tries = 0
                search: while true {
                    ensure(p + 257)
                    if slots[p].check == -1 {
                        base = p - labels[0]
                        var fits = true
                        for label in labels.dropFirst() where slots[base + label].check != -1 { fits = false; break }
                        if fits { break search }
                        tries += 1
                    }
                    p += 1
                }
                if tries > 32 { wideStart = p }
            }
            ensure(base + 257)
            slots[node].base = Int32(base)
            for label in labels { slots[base + label].check = Int32(node) }
            for (label, range) in zip(labels, childRanges) {
                work.append((base + label, range.0, range.1, depth + 1))
            }
        }
        let storage = UnsafeMutablePointer<Slot>.allocate(capacity: slots.count)
        storage.initialize(from: slots, count: slots.count)
        self.slots = storage
        slotCount = slots.count
    }

    deinit { slots.deallocate() }

    /// Calls `body(end, id)` for every key that is a prefix of `bytes[start...]`, shortest first.
    @inline(__always)
    func forEachPrefix(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, _ body: (Int, Int32) -> Void) {
        var node = 0
        var p = start
        let n = bytes.count
        while p < n {
            let next = Int(slots[node].base) + Int(bytes[p])
            guard next < slotCount, slots[next].check == Int32(node) else { return }
            node = next
            p += 1
            let value = slots[node].value
            if value >= 0 { body(p, value) }
        }
    }

    /// The id of exactly `bytes[start..<end]`, or -1.
    func exactMatch(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int32 {
        guard end > start else { return -1 }
        var node = 0
        for p in start..<end {
            let next = Int(slots[node].base) + Int(bytes[p])
            guard next < slotCount, slots[next].check == Int32(node) else { return -1 }
            node = next
        }
        return slots[node].value
    }
}
