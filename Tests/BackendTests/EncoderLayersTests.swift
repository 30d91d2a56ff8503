import Backend
@testable import CPUBackend
import DataFormats
import Testing

/// `encoderLayers` on the CPU backend (groups of whole sequences taken through each layer in per-worker buffers)
/// against `composedEncoderLayers` (Q/K/V projection, attention and the rest of the layer as separate ops over the
/// whole batch): bit-identical hidden states on every row, padding rows included, for odd shapes, padded batches,
/// empty sequences, a position bias, many small groups and one sequence longer than a group, 1 and 2 threads, the
/// packed GEMM and the OpenBLAS path (unpacked weights, which fall back to the composed ops). With Strassen (row
/// pairs in the grouped layers only) within 2e-5 instead, and bit for bit where a dimension is odd (no Strassen form).
@Suite("encoderLayers: the CPU's per-group layers equal the composed ops bit for bit (within 2e-5 with Strassen)")
struct EncoderLayersTests {
    /// (heads, head size, intermediate, layers, lengths, seq, position bias)
    static let shapes: [(Int, Int, Int, Int, [Int], Int, Bool)] = [
        (3, 5, 37, 3, [3, 1, 7, 0], 7, false),
        (4, 16, 256, 2, [130, 127, 5, 64], 130, true),
        // 40 short sequences: many groups, the group count rounded to a multiple of the workers.
        (2, 24, 1000, 2, (0..<40).map { 1 + ($0 * 7) % 20 }, 20, false),
    ]

    @Test("packed and OpenBLAS weights, 1 and 2 threads; with Strassen: within 2e-5, bit for bit where a dimension is odd",
          arguments: [(1, true, false), (2, true, false), (2, false, false), (2, true, true), (1, true, true)])
    func stackEqualsComposed(threads: Int, packed: Bool, strassen: Bool) throws {
        try Self.compare(threads: threads, packed: packed, strassen: strassen, shapes: Self.shapes)
    }

    @Test("Strassen only up to strassenLayerBytes a layer: a BERT-base-sized layer (28 MB) keeps the plain products")
    func strassenSizeLimit() throws {
        // 12 heads x 64, intermediate 3072: 4 x 7.1M floats a layer, past the 16 MB limit -> bit for bit.
        try Self.compare(threads: 2, packed: true, strassen: true, shapes: [(12, 64, 3072, 1, [3, 2], 3, false)],
                         strassenLimit: true)
    }

    static func compare(threads: Int, packed: Bool, strassen: Bool, shapes: [(Int, Int, Int, Int, [Int], Int, Bool)],
                        strassenLimit: Bool = false) throws {
        let backend = CPUBackend(threads: threads, packedWeights: packed, strassen: strassen)
        #expect(backend.strassen == strassen)
        var random = SplitMix64(seed: 0xE7C0_DE12)
        for (heads, headDim, f, depth, lengths, seq, withBias) in shapes {
            let h = heads * headDim, rows = lengths.count * seq
            func weight(_ n: Int, _ k: Int) throws -> any DeviceBuffer {
                try backend.makeLinearWeight(random.floats(n * k, scale: 0.2), outFeatures: n, inFeatures: k)
            }
            func vector(_ n: Int, offset: Float = 0) throws -> any DeviceBuffer {
                try backend.makeBuffer(random.floats(n, scale: 0.5).map { $0 + offset })
            }
            let layers = try (0..<depth).map { _ in
                EncoderLayerWeights(qkvWeight: try weight(3 * h, h), qkvBias: try vector(3 * h), rest: PostAttentionLayer(
                    hidden: h, intermediateSize: f, outWeight: try weight(h, h), outBias: try vector(h),
                    norm1Gamma: try vector(h, offset: 1), norm1Beta: try vector(h), ffn1Weight: try weight(f, h),
                    ffn1Bias: try vector(f), activation: .geluErf, ffn2Weight: try weight(h, f), ffn2Bias: try vector(h),
                    norm2Gamma: try vector(h, offset: 1), norm2Beta: try vector(h), eps: 1e-5))
            }
            let input = random.floats(rows * h, scale: 2)
            let bias = withBias ? try backend.makeBuffer(random.floats(heads * seq * seq, scale: 1)) : nil
            let shape = AttentionShape(heads: heads, headDim: headDim, scale: 1 / Float(headDim).squareRoot())
            let lengths32 = lengths.map(Int32.init)
            func run(grouped: Bool) throws -> [[Float]] {
                // Outputs start as NaN: every row, padding included, must be written.
                let states = try [backend.makeBuffer(input)] + (0..<depth).map { _ in
                    try backend.makeBuffer([Float](repeating: .nan, count: rows * h))
                }
                let scratch = EncoderScratch(qkv: try backend.allocate(count: rows * 3 * h),
                                             context: try backend.allocate(count: rows * h),
                                             afterAttention: try backend.allocate(count: rows * h),
                                             intermediate: try backend.allocate(count: rows * f))
                if grouped {
                    try backend.encoderLayers(layers, attention: shape, positionBias: bias, lengths: lengths32, seq: seq,
                                              hiddenStates: states, scratch: scratch)
                } else {
                    try backend.composedEncoderLayers(layers, attention: shape, positionBias: bias, lengths: lengths32,
                                                      seq: seq, hiddenStates: states, scratch: scratch)
                }
                return try states.dropFirst().map { try backend.read($0) }
            }
            let grouped = try run(grouped: true), composed = try run(grouped: false)
            let label = "threads \(threads) packed \(packed) strassen \(strassen) hidden \(h) intermediate \(f) lengths \(lengths)"
            // Strassen (pairs of rows of a sequence, 7/8 of the multiply-adds) in the grouped layers only: where
            // every dimension is even the rounding differs from the composed ops' plain products.
            let layerBytes = 4 * (4 * h * h + 2 * h * f)
            #expect((layerBytes > CPUBackend.strassenLayerBytes) == strassenLimit, "\(layerBytes) bytes a layer")
            let strassenRan = strassen && h % 2 == 0 && f % 2 == 0 && layerBytes <= CPUBackend.strassenLayerBytes
            // Every row with packed weights; real rows only on the OpenBLAS path, whose composed `linear` computes
            // padding rows from the unspecified padding rows of attention's output.
            let real = lengths.enumerated().map { b, n in (b * seq * h)..<((b * seq + n) * h) }
            let compared = packed ? [0..<(rows * h)] : real
            for layer in 0..<depth {
                let a = compared.flatMap { grouped[layer][$0] }, b = compared.flatMap { composed[layer][$0] }
                #expect(!b.contains { $0.isNaN }, "\(label): composed layer \(layer + 1) has NaN")
                if strassenRan {
                    #expect(maxAbsDifference(a, b) <= 2e-5, "\(label): layer \(layer + 1) max abs \(maxAbsDifference(a, b))")
                } else {
                    #expect(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern },
                            "\(label): layer \(layer + 1) differs (max abs \(maxAbsDifference(a, b)))")
                }
            }
            if strassenRan {
                // The Strassen path did run: the last layer is not bit-identical to the plain products.
                #expect(!grouped[depth - 1].elementsEqual(composed[depth - 1]) { $0.bitPattern == $1.bitPattern },
                        "\(label): Strassen gave the plain products' bits")
            }
            // Not a constant: real rows differ from one another.
            #expect(Set(grouped[depth - 1].prefix(2 * h)).count > h, "\(label): output looks constant")
        }
    }

    @Test("groups: whole consecutive sequences, every one once, balanced by rows, a multiple of the workers")
    func sequenceGroups() {
        func check(_ lengths: [Int32], rowsPerGroup: Int, workers: Int) -> [Range<Int>] {
            let groups = CPUBackend.sequenceGroups(lengths: lengths, rowsPerGroup: rowsPerGroup, workers: workers)
            #expect(groups.first?.lowerBound == 0 && groups.last?.upperBound == lengths.count, "\(lengths): not covered")
            #expect(zip(groups, groups.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "\(lengths): gaps")
            #expect(groups.allSatisfy { !$0.isEmpty }, "\(lengths): an empty group")
            return groups
        }
        // 200 sequences of 20 rows, 96 rows a group: 4,000 rows -> 42 parts (a multiple of 2) of ~95 rows.
        let even = check([Int32](repeating: 20, count: 200), rowsPerGroup: 96, workers: 2)
        #expect(even.count == 42)
        let sizes = even.map { $0.count * 20 }
        #expect(sizes.max()! - sizes.min()! <= 20, "rows per group \(sizes)")
        // Sorted mixed lengths: each group's rows within one sequence of the target.
        let mixed: [Int32] = (0..<57).map { Int32(3 + $0 * 2) }
        let total = mixed.reduce(0) { $0 + Int($1) }
        let mixedGroups = check(mixed, rowsPerGroup: 240, workers: 3)
        let parts = ((total + 239) / 240 + 2) / 3 * 3   // ceil(total / 240) rounded up to a multiple of 3
        #expect(mixedGroups.count <= parts && mixedGroups.count >= parts - 1)
        for group in mixedGroups {
            let rows = group.reduce(0) { $0 + Int(mixed[$1]) }
            #expect(rows <= total / parts + Int(mixed[group.upperBound - 1]), "group \(group) has \(rows) rows")
        }
        // One sequence longer than a group; no real rows at all; one worker.
        #expect(check([300], rowsPerGroup: 96, workers: 2) == [0..<1])
        #expect(check([0, 0, 0], rowsPerGroup: 96, workers: 2) == [0..<3])
        #expect(check([50, 50, 50, 50], rowsPerGroup: 100, workers: 1).count == 2)
        #expect(CPUBackend.sequenceGroups(lengths: [], rowsPerGroup: 96, workers: 2).isEmpty)
    }

    @Test("bad shapes are refused by name")
    func refusesBadShapes() throws {
        let backend = CPUBackend(threads: 2)
        var random = SplitMix64(seed: 11)
        let heads = 2, headDim = 4, h = 8, f = 16, seq = 4
        func weight(_ n: Int, _ k: Int) throws -> any DeviceBuffer {
            try backend.makeLinearWeight(random.floats(n * k), outFeatures: n, inFeatures: k)
        }
        let v = try backend.makeBuffer(random.floats(3 * f))
        let layer = EncoderLayerWeights(qkvWeight: try weight(3 * h, h), qkvBias: v, rest: PostAttentionLayer(
            hidden: h, intermediateSize: f, outWeight: try weight(h, h), outBias: v, norm1Gamma: v, norm1Beta: v,
            ffn1Weight: try weight(f, h), ffn1Bias: v, activation: .relu, ffn2Weight: try weight(h, f), ffn2Bias: v,
            norm2Gamma: v, norm2Beta: v, eps: 1e-5))
        let shape = AttentionShape(heads: heads, headDim: headDim, scale: 0.5)
        let scratch = EncoderScratch(qkv: try backend.allocate(count: seq * 3 * h), context: try backend.allocate(count: seq * h),
                                     afterAttention: try backend.allocate(count: seq * h),
                                     intermediate: try backend.allocate(count: seq * f))
        let full = try backend.makeBuffer(random.floats(seq * h)), out = try backend.allocate(count: seq * h)
        let small = try backend.allocate(count: (seq - 1) * h)
        // Two layers but two hidden-state buffers.
        #expect(throws: BackendError.self) {
            try backend.encoderLayers([layer, layer], attention: shape, positionBias: nil, lengths: [Int32(seq)],
                                      seq: seq, hiddenStates: [full, out], scratch: scratch)
        }
        // A length past seq; an output buffer too small.
        #expect(throws: BackendError.self) {
            try backend.encoderLayers([layer], attention: shape, positionBias: nil, lengths: [Int32(seq + 1)], seq: seq,
                                      hiddenStates: [full, out], scratch: scratch)
        }
        #expect(throws: BackendError.self) {
            try backend.encoderLayers([layer], attention: shape, positionBias: nil, lengths: [Int32(seq)], seq: seq,
                                      hiddenStates: [full, small], scratch: scratch)
        }
        // A position bias smaller than [heads, seq, seq].
        let bias = try backend.makeBuffer(random.floats(heads * seq * seq - 1))
        #expect(throws: BackendError.self) {
            try backend.encoderLayers([layer], attention: shape, positionBias: bias, lengths: [Int32(seq)], seq: seq,
                                      hiddenStates: [full, out], scratch: scratch)
        }
    }
}
