import Backend
import CBLAS
import CPUKernels
import Pooling
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A float32 buffer in host memory (64-byte aligned), owned by `CPUBackend`.
public final class CPUBuffer: DeviceBuffer {
    /// Logical element count (for a packed weight: outFeatures x inFeatures).
    public let count: Int
    let pointer: UnsafeMutablePointer<Float>
    /// Set for a `linear` weight stored in the packed panel layout of `fz_pack_weight` (immutable).
    let packedShape: (outFeatures: Int, inFeatures: Int)?
    /// A packed weight's Strassen form (`fz_strassen_pack_weight`: 7 packed half-size matrices, 7/4 of the
    /// weight), built by `encoderLayers` on first use (`CPUBackend.strassen`); nil before, or when a dimension is
    /// odd. Written once under `CPUBackend`'s lock before any reader sees it.
    private(set) var strassenForm: UnsafeMutablePointer<Float>?

    /// Nil when the allocation fails. `storage` (>= count) is the number of floats actually allocated.
    init?(count: Int, storage: Int? = nil, packedShape: (outFeatures: Int, inFeatures: Int)? = nil) {
        guard let main = Self.allocate(storage ?? count) else { return nil }
        self.count = count
        self.packedShape = packedShape
        pointer = main
    }

    deinit { free(pointer); if let strassenForm { free(strassenForm) } }

    /// `floats` 64-byte aligned floats, or nil.
    static func allocate(_ floats: Int) -> UnsafeMutablePointer<Float>? {
        var raw: UnsafeMutableRawPointer? = nil
        let bytes = Swift.max(floats, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard !bytes.overflow, posix_memalign(&raw, 64, bytes.partialValue) == 0, let raw else { return nil }
        return raw.bindMemory(to: Float.self, capacity: Swift.max(floats, 1))
    }

    /// Builds the Strassen form of a packed weight with even dimensions (from the exact unpacked weight); false
    /// when it has none or memory runs out. Callers hold `CPUBackend`'s Strassen lock.
    func buildStrassenForm() -> Bool {
        if strassenForm != nil { return true }
        guard let shape = packedShape else { return false }
        let n = Int32(shape.outFeatures), k = Int32(shape.inFeatures)
        let floats = fz_strassen_weight_count(n, k)
        guard floats > 0, let form = Self.allocate(floats), let plain = Self.allocate(count) else { return false }
        defer { free(plain) }
        fz_unpack_weight(pointer, n, k, plain)
        guard fz_strassen_pack_weight(plain, n, k, form) == 0 else { free(form); return false }
        strassenForm = form
        return true
    }
}

/// The CPU backend: a packed-weight SGEMM micro-kernel (`CPUKernels`) for the encoder's linear layers, a SIMD
/// attention kernel per (sequence, head) and C row kernels (LayerNorm, residual add) — AVX2+FMA variants where
/// the CPU has them, portable C elsewhere (`kernelPath`) — and OpenBLAS `sgemm` for plain (unpacked) weights.
///
/// Threading: the backend owns the cores. OpenBLAS is set to one thread and each op is split by rows over
/// `threads` workers (`DispatchQueue.concurrentPerform`), each worker running the single-threaded kernel on its
/// rows with the epilogue (bias, activation) applied in registers. The packed GEMM and attention are split into
/// pieces (GEMM row blocks, groups of sequences) handed out dynamically, so that a worker the OS deschedules on a
/// busy machine does not hold up the whole op. OpenBLAS's own worker threads spin after every
/// call and would fight our element-wise loops for the same cores.
/// Weights given to `makeLinearWeight` are packed once into 16-column panels (`fz_pack_weight`), so `linear`
/// never re-packs them; `linearRealRows` skips padding rows entirely. Ops run synchronously; `synchronize()`
/// is a no-op.
public final class CPUBackend: ComputeBackend {
    public let threads: Int
    public var name: String {
        "cpu (\(packedWeights ? "packed \(CPUBackend.kernelPath) GEMM" : "OpenBLAS"), \(threads) thread\(threads == 1 ? "" : "s"))"
    }

    /// The `CPUKernels` variant this process runs: `avx2+fma` (x86-64 CPUs with AVX2 and FMA) or `portable`
    /// (any other CPU, or `FEATURIZE_CPU_KERNELS=portable`).
    public static var kernelPath: String { String(cString: fz_kernel_path()) }

    /// True (default): `linear` weights are packed once for the `CPUKernels` micro-kernel GEMM. False (set
    /// `FEATURIZE_CPU_GEMM=openblas`): plain weights and OpenBLAS `sgemm` (kept as the benchmark baseline).
    public let packedWeights: Bool

    /// True (default with packed weights): `encoderLayers` multiplies pairs of rows of the same sequence with one
    /// level of Strassen's algorithm (7/8 of the multiply-adds; rounding differs from the plain product by a few
    /// units in the last place, and a text's features still never depend on the other texts of its batch) when
    /// every dimension is even and a layer's linear weights are at most `strassenLayerBytes`; their Strassen forms
    /// (7/4 of those weights' memory again) are built on the first batch. False (`FEATURIZE_CPU_STRASSEN=0`): the
    /// plain product everywhere.
    public let strassen: Bool

    /// Largest sum of one layer's linear weights (bytes, float32) that gets Strassen: 16 MB. Measured on the
    /// 2-core machine: all-MiniLM-L6-v2 (7.1 MB a layer) 1.02-1.04x faster; random BERT-base (28 MB a layer) the
    /// same wall time at 2.5% less CPU, but +0.36 s to build the forms and +570 MB.
    public static let strassenLayerBytes = 16 << 20

    /// Serialises building Strassen forms (a backend's weights may serve more than one caller).
    private let strassenLock: UnsafeMutablePointer<pthread_mutex_t> = {
        let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        return lock
    }()

    deinit {
        pthread_mutex_destroy(strassenLock)
        strassenLock.deallocate()
    }

    /// - Parameters:
    ///   - threads: worker threads (default: the number of active processors).
    ///   - packedWeights: nil reads `FEATURIZE_CPU_GEMM` (`packed`, the default, or `openblas`).
    ///   - strassen: nil reads `FEATURIZE_CPU_STRASSEN` (on unless `0`); only with packed weights.
    public init(threads: Int? = nil, packedWeights: Bool? = nil, strassen: Bool? = nil) {
        let available = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        self.threads = Swift.max(1, threads ?? Int(available > 0 ? available : 1))
        self.packedWeights = packedWeights ?? (getenv("FEATURIZE_CPU_GEMM").map { String(cString: $0) } != "openblas")
        self.strassen = self.packedWeights && (strassen ?? (getenv("FEATURIZE_CPU_STRASSEN").map { String(cString: $0) } != "0"))
        // Already 1 when `CPUKernels` stopped OpenBLAS's idle thread pool at start-up (openblas_idle.c): setting
        // it again would restart the pool, whose threads spin for ~0.1 s.
        if openblas_get_num_threads() != 1 { openblas_set_num_threads(1) }
    }

    // MARK: Buffers

    public func allocate(count: Int) throws -> any DeviceBuffer {
        guard count >= 0 else { throw BackendError.invalidArgument(op: "allocate", detail: "negative count \(count)") }
        guard let buffer = CPUBuffer(count: count) else {
            throw BackendError.outOfMemory(device: name, call: "posix_memalign", bytes: count.multipliedReportingOverflow(by: 4).partialValue)
        }
        return buffer
    }

    /// Packs the weight once for the micro-kernel GEMM (`CPUKernels`); `linear` then reads it without
    /// re-packing. The buffer is read-only: `upload`/`copy` into it are errors, `download` unpacks.
    public func makeLinearWeight(_ values: [Float], outFeatures: Int, inFeatures: Int) throws -> any DeviceBuffer {
        try values.withUnsafeBufferPointer {
            try makeLinearWeight(copying: $0, outFeatures: outFeatures, inFeatures: inFeatures)
        }
    }

    /// Packs straight from `values` (e.g. the mapped safetensors bytes): no intermediate array.
    public func makeLinearWeight(copying values: UnsafeBufferPointer<Float>, outFeatures: Int,
                                 inFeatures: Int) throws -> any DeviceBuffer {
        guard outFeatures > 0, inFeatures > 0, values.count == outFeatures * inFeatures,
              outFeatures <= Int(Int32.max), inFeatures <= Int(Int32.max), let base = values.baseAddress else {
            throw BackendError.invalidArgument(op: "makeLinearWeight",
                                               detail: "\(values.count) values for a \(outFeatures) x \(inFeatures) weight")
        }
        if !packedWeights { return try makeBuffer(copying: values) }
        let storage = fz_packed_weight_count(Int32(outFeatures), Int32(inFeatures))
        guard let buffer = CPUBuffer(count: values.count, storage: storage,
                                     packedShape: (outFeatures, inFeatures)) else {
            throw BackendError.outOfMemory(device: name, call: "posix_memalign", bytes: storage * 4)
        }
        fz_pack_weight(base, Int32(outFeatures), Int32(inFeatures), buffer.pointer)
        return buffer
    }

    public func upload(_ source: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws {
        let b = try cpu(buffer, "upload")
        try check(b.packedShape == nil, "upload", "a packed linear weight is read-only")
        guard offset >= 0, offset + source.count <= b.count else {
            throw BackendError.invalidArgument(op: "upload", detail: "\(source.count) elements at offset \(offset) exceed buffer of \(b.count)")
        }
        guard let base = source.baseAddress, source.count > 0 else { return }
        (b.pointer + offset).update(from: base, count: source.count)
    }

    public func download(_ buffer: any DeviceBuffer, offset: Int, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let b = try cpu(buffer, "download")
        guard offset >= 0, offset + destination.count <= b.count else {
            throw BackendError.invalidArgument(op: "download", detail: "\(destination.count) elements at offset \(offset) exceed buffer of \(b.count)")
        }
        guard let base = destination.baseAddress, destination.count > 0 else { return }
        if let shape = b.packedShape {
            var logical = [Float](repeating: 0, count: b.count)
            logical.withUnsafeMutableBufferPointer {
                fz_unpack_weight(b.pointer, Int32(shape.outFeatures), Int32(shape.inFeatures), $0.baseAddress!)
            }
            logical.withUnsafeBufferPointer { base.update(from: $0.baseAddress! + offset, count: destination.count) }
            return
        }
        base.update(from: b.pointer + offset, count: destination.count)
    }

    public func synchronize() throws {}

    // MARK: Ops

    public func embed(ids: [Int32], typeIds: [Int32]?, batch: Int, seq: Int, hidden: Int,
                      word: any DeviceBuffer, position: any DeviceBuffer, tokenType: (any DeviceBuffer)?,
                      gamma: any DeviceBuffer, beta: any DeviceBuffer, eps: Float,
                      out: any DeviceBuffer) throws {
        let op = "embed"
        let rows = batch * seq
        let w = try cpu(word, op), p = try cpu(position, op), g = try cpu(gamma, op), bt = try cpu(beta, op)
        let o = try cpu(out, op)
        let tt = try tokenType.map { try cpu($0, op) }
        try check(ids.count == rows, op, "ids has \(ids.count) entries, expected batch*seq = \(rows)")
        if let typeIds { try check(typeIds.count == rows, op, "typeIds has \(typeIds.count) entries, expected \(rows)") }
        try check(hidden > 0 && w.count % hidden == 0 && p.count % hidden == 0, op, "tables are not multiples of hidden \(hidden)")
        try check(g.count >= hidden && bt.count >= hidden && o.count >= rows * hidden, op, "buffers too small")
        let vocab = w.count / hidden, positions = p.count / hidden, types = (tt?.count ?? 0) / hidden
        try check(seq <= positions, op, "sequence length \(seq) exceeds \(positions) position embeddings")
        for (i, id) in ids.enumerated() where id < 0 || Int(id) >= vocab {
            throw BackendError.invalidArgument(op: op, detail: "token id \(id) at row \(i) outside vocabulary of \(vocab)")
        }
        if let typeIds, tt != nil {
            for (i, t) in typeIds.enumerated() where t < 0 || Int(t) >= types {
                throw BackendError.invalidArgument(op: op, detail: "token type \(t) at row \(i) outside \(types) types")
            }
        }
        ids.withUnsafeBufferPointer { idp in
            parallelRows(rows, minChunk: 16) { range in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: hidden) { tmp in
                    let row = tmp.baseAddress!
                    for r in range {
                        let t = r % seq
                        let wr = w.pointer + Int(idp[r]) * hidden
                        let pr = p.pointer + t * hidden
                        for c in 0..<hidden { row[c] = wr[c] + pr[c] }
                        if let tt {
                            let type = typeIds.map { Int($0[r]) } ?? 0
                            let tr = tt.pointer + type * hidden
                            for c in 0..<hidden { row[c] += tr[c] }
                        }
                        layerNormRow(row, cols: hidden, gamma: g.pointer, beta: bt.pointer, eps: eps,
                                     out: o.pointer + r * hidden)
                    }
                }
            }
        }
    }

    public func linear(input: any DeviceBuffer, rows: Int, inFeatures: Int,
                       weight: any DeviceBuffer, bias: (any DeviceBuffer)?, outFeatures: Int,
                       activation: Activation?, residual: (any DeviceBuffer)?, out: any DeviceBuffer) throws {
        let op = "linear"
        let x = try cpu(input, op), w = try cpu(weight, op), o = try cpu(out, op)
        let b = try bias.map { try cpu($0, op) }
        let res = try residual.map { try cpu($0, op) }
        try checkResidual(res, rows: rows, outFeatures: outFeatures, out: o)
        try check(rows >= 0 && inFeatures > 0 && outFeatures > 0, op, "bad shape rows \(rows) in \(inFeatures) out \(outFeatures)")
        try check(x.count >= rows * inFeatures, op, "input holds \(x.count) < \(rows)x\(inFeatures)")
        try check(w.count >= outFeatures * inFeatures, op, "weight holds \(w.count) < \(outFeatures)x\(inFeatures)")
        try check(o.count >= rows * outFeatures, op, "out holds \(o.count) < \(rows)x\(outFeatures)")
        if let b { try check(b.count >= outFeatures, op, "bias holds \(b.count) < \(outFeatures)") }
        try check(x !== o, op, "input and out must not alias")
        guard rows > 0 else { return }
        if w.packedShape != nil {
            try packedLinear(x: x, rows: rows, index: nil, inFeatures: inFeatures, w: w, b: b, outFeatures: outFeatures,
                             activation: activation, residual: res, o: o)
            return
        }
        // Rows per worker: multiples of 16 keep OpenBLAS's packed panels whole.
        parallelRows(rows, minChunk: 32, align: 16) { range in
            let m = range.count
            let xin = x.pointer + range.lowerBound * inFeatures
            let yout = o.pointer + range.lowerBound * outFeatures
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(outFeatures), Int32(inFeatures),
                        1, xin, Int32(inFeatures), w.pointer, Int32(inFeatures), 0, yout, Int32(outFeatures))
            if b != nil || activation != nil || res != nil {
                for r in 0..<m {
                    let residualRow = res.map { UnsafePointer($0.pointer + (range.lowerBound + r) * outFeatures) }
                    epilogue(yout + r * outFeatures, count: outFeatures, bias: b?.pointer, activation: activation,
                             residual: residualRow)
                }
            }
        }
    }

    /// Packed weights: the micro-kernel GEMM reads and writes only the real rows (a row-index table) and
    /// padding rows of `out` are zeroed. Plain (OpenBLAS) weights: every row, like `linear`.
    public func linearRealRows(input: any DeviceBuffer, lengths: [Int32], seq: Int, inFeatures: Int,
                               weight: any DeviceBuffer, bias: (any DeviceBuffer)?, outFeatures: Int,
                               activation: Activation?, residual: (any DeviceBuffer)?, out: any DeviceBuffer) throws {
        let op = "linear"
        let rows = lengths.count * seq
        let w = try cpu(weight, op)
        guard w.packedShape != nil else {
            try linear(input: input, rows: rows, inFeatures: inFeatures, weight: weight, bias: bias,
                       outFeatures: outFeatures, activation: activation, residual: residual, out: out)
            return
        }
        let x = try cpu(input, op), o = try cpu(out, op)
        let b = try bias.map { try cpu($0, op) }
        let res = try residual.map { try cpu($0, op) }
        try checkResidual(res, rows: rows, outFeatures: outFeatures, out: o)
        try check(seq > 0 && inFeatures > 0 && outFeatures > 0, op, "bad shape seq \(seq) in \(inFeatures) out \(outFeatures)")
        try check(x.count >= rows * inFeatures, op, "input holds \(x.count) < \(rows)x\(inFeatures)")
        try check(o.count >= rows * outFeatures, op, "out holds \(o.count) < \(rows)x\(outFeatures)")
        if let b { try check(b.count >= outFeatures, op, "bias holds \(b.count) < \(outFeatures)") }
        try check(x !== o, op, "input and out must not alias")
        try check(rows <= Int(Int32.max), op, "\(rows) rows exceed Int32")
        let (index, padding) = try realRows(lengths: lengths, seq: seq, op: op)
        for range in padding { (o.pointer + range.lowerBound * outFeatures).update(repeating: 0, count: range.count * outFeatures) }
        try packedLinear(x: x, rows: index.count, index: index, inFeatures: inFeatures, w: w, b: b,
                         outFeatures: outFeatures, activation: activation, residual: res, o: o)
    }

    /// `postAttention` per piece of real rows: each worker takes a piece (`gemmPieceRows` rows) through the output
    /// projection (+ residual), LayerNorm 1, FFN1 (+ activation), FFN2 (+ residual) and LayerNorm 2 while the
    /// piece's rows are still in its caches, instead of each op streaming the whole batch from memory, with one
    /// join per layer instead of five. The float operations per row, and their order, are those of
    /// `composedPostAttention` (bit-identical; padding rows zeroed and normalised as there). Weights that are not
    /// packed (the OpenBLAS path) go through `composedPostAttention`.
    public func postAttention(_ layer: PostAttentionLayer, context: any DeviceBuffer, x: any DeviceBuffer,
                              lengths: [Int32], seq: Int, afterAttention: any DeviceBuffer,
                              intermediate: any DeviceBuffer, out: any DeviceBuffer) throws {
        let op = "postAttention"
        guard let rest = try packedRest(layer, op: op) else {
            try composedPostAttention(layer, context: context, x: x, lengths: lengths, seq: seq,
                                      afterAttention: afterAttention, intermediate: intermediate, out: out)
            return
        }
        let rows = lengths.count * seq
        let ctx = try cpu(context, op), res = try cpu(x, op), mid = try cpu(afterAttention, op)
        let inter = try cpu(intermediate, op), o = try cpu(out, op)
        try check(seq > 0, op, "bad shape seq \(seq)")
        try checkActivations([(ctx, rest.h, "context"), (res, rest.h, "x"), (mid, rest.h, "afterAttention"),
                              (inter, rest.f, "intermediate"), (o, rest.h, "out")], rows: rows, op: op)
        let (index, padding) = try realRows(lengths: lengths, seq: seq, op: op)
        for range in padding { rest.setPadding(range, afterAttention: mid, intermediate: inter, out: o) }
        index.withUnsafeBufferPointer { all in
            guard let base = all.baseAddress else { return }
            parallelPieces(all.count, minChunk: 24, piece: Self.gemmPieceRows, align: 6) { range in
                rest.run(rows: base + range.lowerBound, count: range.count, context: ctx.pointer, x: res.pointer,
                         afterAttention: mid.pointer, intermediate: inter.pointer, out: o.pointer)
            }
        }
    }

    /// `encoderLayers` per group of whole sequences, layer after layer: the sequences of a batch are cut into
    /// groups of about `sequenceGroupRows` real rows (a multiple of the workers, balanced by rows), and each worker
    /// takes a group through the whole layer (the Q/K/V projection, attention per head and the rest of the layer)
    /// in small work buffers of its own, holding the group's real rows only, that stay in its caches from group
    /// to group: only the layer's input and output rows are read and written in the batch-sized hidden states.
    /// One join per batch: a group's next layer waits only for that group. Each row's float operations, and their
    /// order, are those of `composedEncoderLayers` (bit-identical hidden states, padding rows included); `scratch`
    /// is not used. Weights that are not packed (the OpenBLAS path) go through `composedEncoderLayers`.
    public func encoderLayers(_ layers: [EncoderLayerWeights], attention shape: AttentionShape,
                              positionBias: (any DeviceBuffer)?, lengths: [Int32], seq: Int,
                              hiddenStates: [any DeviceBuffer], scratch: EncoderScratch) throws {
        let op = "encoderLayers"
        try check(hiddenStates.count == layers.count + 1, op,
                  "\(hiddenStates.count) hidden-state buffers for \(layers.count) layers (expected \(layers.count + 1))")
        let h = shape.heads * shape.headDim
        try check(shape.heads > 0 && shape.headDim > 0 && seq > 0, op,
                  "bad shape heads \(shape.heads) head size \(shape.headDim) seq \(seq)")
        var stack: [(qkvWeight: CPUBuffer, qkvBias: CPUBuffer, rest: PackedRest)] = []
        for layer in layers {
            let w = try cpu(layer.qkvWeight, op)
            guard w.packedShape.map({ $0.outFeatures == 3 * h && $0.inFeatures == h }) == true,
                  layer.rest.hidden == h, let rest = try packedRest(layer.rest, op: op) else {
                try composedEncoderLayers(layers, attention: shape, positionBias: positionBias, lengths: lengths,
                                          seq: seq, hiddenStates: hiddenStates, scratch: scratch)
                return
            }
            let b = try cpu(layer.qkvBias, op)
            try check(b.count >= 3 * h, op, "Q/K/V bias holds \(b.count) < \(3 * h)")
            stack.append((w, b, rest))
        }
        guard let f = stack.map({ $0.rest.f }).max() else { return }
        let rows = lengths.count * seq
        let states = try hiddenStates.map { try cpu($0, op) }
        try checkActivations(states.map { ($0, h, "hidden state") }, rows: rows, op: op)
        let bias = try positionBias.map { try cpu($0, op) }
        if let bias {
            try check(bias.count >= shape.heads * seq * seq, op,
                      "positionBias holds \(bias.count) < \(shape.heads)x\(seq)x\(seq)")
        }
        try checkLengths(lengths, seq: seq, op: op)
        let groups = Self.sequenceGroups(lengths: lengths, rowsPerGroup: Self.sequenceGroupRows, workers: threads)
        // Where each sequence's real rows start among the batch's real rows.
        var firstRow = [Int](repeating: 0, count: lengths.count + 1)
        for (s, n) in lengths.enumerated() { firstRow[s + 1] = firstRow[s] + Int(n) }
        let groupRows = groups.map { firstRow[$0.upperBound] - firstRow[$0.lowerBound] }
        let capacity = Swift.max(groupRows.max() ?? 0, 1)
        let workers = Swift.max(1, Swift.min(threads, groups.count))
        // Each worker's buffers, [capacity, width] row-major, the group's real rows packed from row 0: the layer
        // input x, qkv, context, afterAttention, intermediate, out.
        // With Strassen forms: also the scratch of `fz_gemm_strassen_pairs` (row pairs of one sequence each) and
        // each worker's pair and single-row tables.
        let useStrassen = strassenForms(stack.flatMap { [$0.qkvWeight, $0.rest.wo, $0.rest.w1, $0.rest.w2] }, layers: stack.count)
        let strassenScratch = useStrassen ? [(3 * h, h), (h, h), (f, h), (h, f)].map {
            fz_strassen_scratch_count(Int32(capacity), Int32($0.0), Int32($0.1))
        }.max()! : 0
        let widths = [h, 3 * h, h, h, f, h]
        let perWorker = widths.reduce(0, +) * capacity + (strassenScratch + 15) / 16 * 16
        guard let work = CPUBuffer(count: workers * perWorker) else {
            throw BackendError.outOfMemory(device: name, call: "posix_memalign", bytes: workers * perWorker * 4)
        }
        let rowTables = UnsafeMutablePointer<Int32>.allocate(capacity: useStrassen ? workers * 2 * capacity : 1)
        defer { rowTables.deallocate() }
        let stride = 3 * h, heads = shape.heads, headDim = shape.headDim, scale = shape.scale
        let hi = Int32(h), none = Int32(FZ_ACT_NONE)
        // Tasks (layer, group) in layer-major order, taken in turn: a worker that takes group g of layer l waits
        // (rarely: only near a layer's end) until g's layer l - 1 is done, instead of both workers joining at the
        // end of every layer; the workers stay on the same layer's weights (shared in L3) but for one group.
        let tasks = stack.count * groups.count
        var failed = [UInt8](repeating: 0, count: workers)
        var layersDone = [Int](repeating: 0, count: groups.count)
        var next = 0
        withUnsafeMutablePointer(to: &next) { counter in
            failed.withUnsafeMutableBufferPointer { failures in
                layersDone.withUnsafeMutableBufferPointer { done in
                    DispatchQueue.concurrentPerform(iterations: workers) { worker in
                        var offsets: [Int] = []
                        var at = worker * perWorker
                        for width in widths { offsets.append(at); at += width * capacity }
                        let xg = work.pointer + offsets[0], qkv = work.pointer + offsets[1]
                        let ctx = work.pointer + offsets[2], mid = work.pointer + offsets[3]
                        let inter = work.pointer + offsets[4], og = work.pointer + offsets[5]
                        let strassenWork = work.pointer + at
                        let pairRows = rowTables + (useStrassen ? worker * 2 * capacity : 0), singleRows = pairRows + capacity
                        while true {
                            let task = fz_take_next(counter)
                            guard task < tasks else { break }
                            let l = task / groups.count, g = task % groups.count
                            while fz_load_acquire(done.baseAddress! + g) < l { sched_yield() }
                            let layer = stack[l], x = states[l], o = states[l + 1]
                            let sequences = groups[g], count = groupRows[g]
                            let first = firstRow[sequences.lowerBound]
                            // The group's input rows, packed (each sequence's real rows are contiguous).
                            for s in sequences {
                                (xg + (firstRow[s] - first) * h).update(from: x.pointer + s * seq * h,
                                                                        count: Int(lengths[s]) * h)
                            }
                            // Strassen: rows (2i, 2i + 1) of each sequence in pairs, the last row of an odd length alone.
                            var pairs = 0, singles = 0
                            if useStrassen {
                                for s in sequences {
                                    let r0 = Int32(firstRow[s] - first), n = Int32(lengths[s])
                                    var i: Int32 = 0
                                    while i + 1 < n {
                                        pairRows[2 * pairs] = r0 + i; pairRows[2 * pairs + 1] = r0 + i + 1
                                        pairs += 1; i += 2
                                    }
                                    if i < n { singleRows[singles] = r0 + i; singles += 1 }
                                }
                            }
                            let split = useStrassen ? StrassenRows(pairs: pairs, pairRows: pairRows, singles: singles,
                                                                   singleRows: singleRows, scratch: strassenWork) : nil
                            if count > 0 {
                                if let split {
                                    split.gemm(layer.qkvWeight, n: stride, k: h, a: xg, bias: layer.qkvBias.pointer,
                                               act: none, residual: nil, c: qkv)
                                } else {
                                    fz_gemm_packed_rows(Int32(count), nil, Int32(stride), hi, xg, hi, layer.qkvWeight.pointer,
                                                        layer.qkvBias.pointer, none, nil, qkv, Int32(stride))
                                }
                                for s in sequences where !attentionHeads(0..<heads, length: Int(lengths[s]),
                                                                         qkv: qkv + (firstRow[s] - first) * stride,
                                                                         headDim: headDim, hidden: h, scale: scale,
                                                                         bias: bias, seq: seq,
                                                                         out: ctx + (firstRow[s] - first) * h,
                                                                         nextLength: s + 1 < sequences.upperBound ? Int(lengths[s + 1]) : 0) {
                                    failures[worker] = 1
                                }
                                layer.rest.run(rows: nil, count: count, context: ctx, x: xg, afterAttention: mid,
                                               intermediate: inter, out: og, strassen: split)
                            }
                            // Out: the real rows unpacked, padding rows as the composed ops leave them (zero, then
                            // LayerNorm 2).
                            for s in sequences {
                                let n = Int(lengths[s])
                                (o.pointer + s * seq * h).update(from: og + (firstRow[s] - first) * h, count: n * h)
                                if n < seq { layer.rest.setPaddingOut((s * seq + n)..<((s + 1) * seq), out: o) }
                            }
                            fz_store_release(done.baseAddress! + g, l + 1)
                        }
                    }
                }
            }
        }
        if failed.contains(1) {
            throw BackendError.outOfMemory(device: name, call: "attention scratch", bytes: (headDim + seq) * seq * 4)
        }
    }

    /// Whether `encoderLayers` uses Strassen on these packed weights (`layers` layers' worth): the backend's
    /// setting, every dimension even, at most `strassenLayerBytes` a layer; builds the missing forms (in parallel,
    /// once). False when a form cannot be built (then the plain product runs).
    private func strassenForms(_ weights: [CPUBuffer], layers: Int) -> Bool {
        guard strassen, layers > 0, !weights.isEmpty else { return false }
        let bytes = weights.reduce(0) { $0 + $1.count * 4 }
        guard bytes / layers <= Self.strassenLayerBytes,
              weights.allSatisfy({ w in w.packedShape.map { $0.outFeatures % 2 == 0 && $0.inFeatures % 2 == 0 } == true })
        else { return false }
        pthread_mutex_lock(strassenLock)
        defer { pthread_mutex_unlock(strassenLock) }
        var seen = Set<ObjectIdentifier>()   // a weight shared by layers (ALBERT-style) is built once
        let missing = weights.filter { $0.strassenForm == nil && seen.insert(ObjectIdentifier($0)).inserted }
        if !missing.isEmpty {
            DispatchQueue.concurrentPerform(iterations: Swift.min(threads, missing.count)) { worker in
                for i in stride(from: worker, to: missing.count, by: Swift.min(threads, missing.count)) {
                    _ = missing[i].buildStrassenForm()
                }
            }
        }
        return weights.allSatisfy { $0.strassenForm != nil }
    }

    /// Groups of consecutive sequences of about `rowsPerGroup` real rows each (at least one sequence a group): the
    /// group count is rounded up to a multiple of `workers`, and each sequence joins the group its middle row falls
    /// in when the real rows are cut into that many equal parts (empty groups dropped). A batch with no real row is
    /// one group.
    static func sequenceGroups(lengths: [Int32], rowsPerGroup: Int, workers: Int) -> [Range<Int>] {
        let total = lengths.reduce(0) { $0 + Int(Swift.max($1, 0)) }
        guard total > 0, !lengths.isEmpty else { return lengths.isEmpty ? [] : [0..<lengths.count] }
        let w = Swift.max(workers, 1)
        var parts = Swift.max(1, (total + rowsPerGroup - 1) / Swift.max(rowsPerGroup, 1))
        parts = (parts + w - 1) / w * w
        var groups: [Range<Int>] = []
        var start = 0, current = 0, before = 0
        for (s, n) in lengths.enumerated() {
            let middle = 2 * before + Int(Swift.max(n, 0))   // twice the middle row, so that it stays whole
            let part = Swift.min(parts - 1, middle * parts / (2 * total))
            if part != current, s > start {
                groups.append(start..<s)
                start = s
            }
            current = part
            before += Int(Swift.max(n, 0))
        }
        groups.append(start..<lengths.count)
        return groups
    }

    /// All heads of attention for one sequence of `length` real rows (`fz_attention_head` per head): `qkv` points
    /// at its first `[q | k | v]` row (row stride `3 * hidden`), `out` at its first output row (stride `hidden`),
    /// each head writing its `headDim` columns; `bias`: the `[heads, seq, seq]` position bias or nil; `nextLength`:
    /// the real rows of the sequence whose `[q | k | v]` rows follow this one's (0: none), prefetched during the
    /// last head. False when a head's scratch could not be allocated.
    private func attentionHeads(_ heads: Range<Int>, length: Int, qkv: UnsafePointer<Float>, headDim: Int, hidden: Int,
                                scale: Float, bias: CPUBuffer?, seq: Int, out: UnsafeMutablePointer<Float>, nextLength: Int = 0) -> Bool {
        guard length > 0 else { return true }
        var ok = true
        for head in heads {
            let q = qkv + head * headDim
            // The next head's q, k and v columns (or the next sequence's first head's) are asked for now, so they
            // arrive from L2/L3 while this head computes: its strided reads are latency-bound otherwise.
            let (ahead, rows) = head + 1 < heads.upperBound ? (q + headDim, length)
                : (qkv + length * 3 * hidden + heads.lowerBound * headDim, nextLength)
            for part in 0..<3 where rows > 0 {
                fz_prefetch_rows(ahead + part * hidden, Int32(rows), 3 * hidden, Int32(headDim))
            }
            // Scores over real positions only (padding keys excluded), softmax, · V, into this head's columns.
            let headBias = bias.map { UnsafePointer($0.pointer + head * seq * seq) }
            if fz_attention_head(Int32(length), Int32(headDim), q, q + hidden, q + 2 * hidden, Int32(3 * hidden), scale,
                                 headBias, Int32(seq), out + head * headDim, Int32(hidden)) != 0 {
                ok = false
            }
        }
        return ok
    }

    /// The checked CPU buffers of a `PostAttentionLayer` whose weights are packed with its shapes; nil when they
    /// are not (the OpenBLAS path).
    private func packedRest(_ layer: PostAttentionLayer, op: String) throws -> PackedRest? {
        let wo = try cpu(layer.outWeight, op), w1 = try cpu(layer.ffn1Weight, op), w2 = try cpu(layer.ffn2Weight, op)
        let h = layer.hidden, f = layer.intermediateSize
        guard h > 0, f > 0, wo.packedShape.map({ $0.outFeatures == h && $0.inFeatures == h }) == true,
              w1.packedShape.map({ $0.outFeatures == f && $0.inFeatures == h }) == true,
              w2.packedShape.map({ $0.outFeatures == h && $0.inFeatures == f }) == true else { return nil }
        let rest = PackedRest(h: h, f: f, eps: layer.eps, activation: Self.kernelActivation(layer.activation),
                              wo: wo, bo: try cpu(layer.outBias, op), g1: try cpu(layer.norm1Gamma, op),
                              be1: try cpu(layer.norm1Beta, op), w1: w1, b1: try cpu(layer.ffn1Bias, op), w2: w2,
                              b2: try cpu(layer.ffn2Bias, op), g2: try cpu(layer.norm2Gamma, op),
                              be2: try cpu(layer.norm2Beta, op))
        try check(rest.bo.count >= h && rest.b2.count >= h && rest.b1.count >= f && rest.g1.count >= h &&
                  rest.be1.count >= h && rest.g2.count >= h && rest.be2.count >= h, op,
                  "bias or LayerNorm vectors shorter than their layer")
        return rest
    }

    /// Activation buffers of an op: plain (not packed weights), each at least `rows` x its width, none aliasing another.
    private func checkActivations(_ buffers: [(CPUBuffer, Int, String)], rows: Int, op: String) throws {
        for (buffer, width, role) in buffers {
            try check(buffer.packedShape == nil && buffer.count >= rows * width, op,
                      "\(role) holds \(buffer.count) < \(rows)x\(width)")
        }
        try check(Set(buffers.map { ObjectIdentifier($0.0) }).count == buffers.count, op, "buffers must not alias")
        try check(rows <= Int(Int32.max), op, "\(rows) rows exceed Int32")
    }

    /// The real token rows of a right-padded batch (`b*seq + t` for `t < lengths[b]`, in order) and its padding
    /// row ranges; a length outside `0...seq` is refused, naming `op`.
    private func realRows(lengths: [Int32], seq: Int, op: String) throws -> (index: [Int32], padding: [Range<Int>]) {
        try checkLengths(lengths, seq: seq, op: op)
        var index: [Int32] = []
        index.reserveCapacity(lengths.count * seq)
        var padding: [Range<Int>] = []
        for (s, n) in lengths.enumerated() {
            for t in 0..<Int(n) { index.append(Int32(s * seq + t)) }
            if Int(n) < seq { padding.append((s * seq + Int(n))..<((s + 1) * seq)) }
        }
        return (index, padding)
    }

    /// Every length in `0...seq`; else an error naming `op` and the sequence.
    private func checkLengths(_ lengths: [Int32], seq: Int, op: String) throws {
        if let s = lengths.firstIndex(where: { $0 < 0 || Int($0) > seq }) {
            throw BackendError.invalidArgument(op: op, detail: "length \(lengths[s]) of sequence \(s) outside 0...\(seq)")
        }
    }

    /// A residual of `linear`: a plain buffer of at least `rows x outFeatures`, not `out` itself.
    private func checkResidual(_ res: CPUBuffer?, rows: Int, outFeatures: Int, out: CPUBuffer) throws {
        guard let res else { return }
        try check(res.packedShape == nil, "linear", "a packed linear weight cannot be a residual")
        try check(res.count >= rows * outFeatures, "linear", "residual holds \(res.count) < \(rows)x\(outFeatures)")
        try check(res !== out, "linear", "residual and out must not alias")
    }

    /// The packed-weight GEMM over `rows` logical rows (row i is physical row `index[i]`, or i without an index),
    /// split over the workers in multiples of 6 rows (the micro-kernel's row panel). Buffers already checked.
    private func packedLinear(x: CPUBuffer, rows: Int, index: [Int32]?, inFeatures: Int, w: CPUBuffer, b: CPUBuffer?,
                              outFeatures: Int, activation: Activation?, residual: CPUBuffer?, o: CPUBuffer) throws {
        let op = "linear"
        guard let shape = w.packedShape else { return }
        try check(shape.outFeatures == outFeatures && shape.inFeatures == inFeatures, op,
                  "packed weight is \(shape.outFeatures)x\(shape.inFeatures), expected \(outFeatures)x\(inFeatures)")
        try check(rows <= Int(Int32.max), op, "\(rows) rows exceed Int32")
        guard rows > 0 else { return }
        let act = Self.kernelActivation(activation)
        func run(_ idx: UnsafePointer<Int32>?) {
            parallelPieces(rows, minChunk: 24, piece: Self.gemmPieceRows, align: 6) { range in
                fz_gemm_packed_rows(Int32(range.count), idx.map { $0 + range.lowerBound }, Int32(outFeatures),
                                    Int32(inFeatures), x.pointer + (idx == nil ? range.lowerBound * inFeatures : 0),
                                    Int32(inFeatures), w.pointer, b?.pointer, act,
                                    residual.map { UnsafePointer($0.pointer + (idx == nil ? range.lowerBound * outFeatures : 0)) },
                                    o.pointer + (idx == nil ? range.lowerBound * outFeatures : 0), Int32(outFeatures))
            }
        }
        if let index { index.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
    }

    /// Rows of one piece of a packed GEMM (what one worker takes at a time; rounded to multiples of 6): 96 by
    /// default, `FEATURIZE_GEMM_PIECE_ROWS` for comparisons. Smaller than the kernel's own row block
    /// (`FZ_GEMM_ROW_BLOCK`, 240) because every op ends in a join: the last piece of one worker is the other's idle
    /// time. A 2-thread, 6-layer GEMM sequence (4,096 rows) ran at 197 GFLOP/s wall with 240-row pieces and
    /// 205-209 with 96 or 60, at the same CPU time. Results do not depend on it (each row's sums are the same).
    static let gemmPieceRows: Int = {
        if let v = getenv("FEATURIZE_GEMM_PIECE_ROWS"), let n = Int(String(cString: v)), n >= 6 { return n }
        return 96
    }()

    /// Real rows of one group of sequences in `encoderLayers` (what one worker takes through a layer at a time):
    /// 192 by default, `FEATURIZE_GROUP_ROWS` for comparisons. Each group streams the layer's weights once, so
    /// larger groups read them fewer times: random BERT-base (768 wide, 28 MB of weights a layer), 500 texts,
    /// 12.4 s with 96 rows and 12.1 s with 144 or 192, 13.6 s with 48; MiniLM on 5,000 short texts the same
    /// (11.5-11.6 s) from 96 to 192. Results do not depend on it.
    static let sequenceGroupRows: Int = {
        if let v = getenv("FEATURIZE_GROUP_ROWS"), let n = Int(String(cString: v)), n >= 1 { return n }
        return 192
    }()

    static func kernelActivation(_ activation: Activation?) -> Int32 {
        switch activation {
        case nil: return Int32(FZ_ACT_NONE)
        case .geluErf: return Int32(FZ_ACT_GELU_ERF)
        case .geluTanh: return Int32(FZ_ACT_GELU_TANH)
        case .relu: return Int32(FZ_ACT_RELU)
        case .tanh: return Int32(FZ_ACT_TANH)
        }
    }

    public func attention(qkv: any DeviceBuffer, lengths: [Int32], batch: Int, seq: Int, heads: Int, headDim: Int,
                          scale: Float, positionBias: (any DeviceBuffer)?, out: any DeviceBuffer) throws {
        let op = "attention"
        let q = try cpu(qkv, op), o = try cpu(out, op)
        let bias = try positionBias.map { try cpu($0, op) }
        let hidden = heads * headDim
        if let bias {
            try check(bias.count >= heads * seq * seq, op, "positionBias holds \(bias.count) < \(heads)x\(seq)x\(seq)")
        }
        try check(lengths.count == batch, op, "lengths has \(lengths.count) entries, expected batch \(batch)")
        try check(q.count >= batch * seq * 3 * hidden, op, "qkv holds \(q.count) < \(batch * seq)x\(3 * hidden)")
        try check(o.count >= batch * seq * hidden, op, "out holds \(o.count) < \(batch * seq)x\(hidden)")
        try checkLengths(lengths, seq: seq, op: op)
        let stride = 3 * hidden
        let items = batch * heads
        // One flag per item (distinct slots, so no lock): scratch allocation failures.
        var failures = [UInt8](repeating: 0, count: items)
        failures.withUnsafeMutableBufferPointer { failed in
            parallelPieces(items, minChunk: 1, piece: 8 * heads, align: 1) { range in
                for item in range {
                    let b = item / heads, h = item % heads
                    let n = Int(lengths[b])
                    guard n > 0 else { continue }
                    if h == 0 || item == range.lowerBound {
                        // This sequence's q/k/v rows (contiguous) read once in address order: its heads then
                        // find them in the caches (each head alone reads 3 short slices of every row, a
                        // page apart, at memory latency).
                        _ = fz_touch_lines(q.pointer + b * seq * stride, n * stride)
                    }
                    if !attentionHeads(h..<(h + 1), length: n, qkv: q.pointer + b * seq * stride, headDim: headDim,
                                       hidden: hidden, scale: scale, bias: bias, seq: seq,
                                       out: o.pointer + b * seq * hidden) {
                        failed[item] = 1
                    }
                }
            }
        }
        if failures.contains(1) {
            throw BackendError.outOfMemory(device: name, call: "attention scratch", bytes: (headDim + seq) * seq * 4)
        }
    }

    public func addLayerNorm(x: any DeviceBuffer, residual: any DeviceBuffer, rows: Int, cols: Int,
                             gamma: any DeviceBuffer, beta: any DeviceBuffer, eps: Float, out: any DeviceBuffer) throws {
        let op = "addLayerNorm"
        let xb = try cpu(x, op), rb = try cpu(residual, op), g = try cpu(gamma, op), bt = try cpu(beta, op)
        let o = try cpu(out, op)
        try check(cols > 0 && rows >= 0, op, "bad shape \(rows)x\(cols)")
        try check(xb.count >= rows * cols && rb.count >= rows * cols && o.count >= rows * cols, op, "buffers smaller than \(rows)x\(cols)")
        try check(g.count >= cols && bt.count >= cols, op, "gamma/beta smaller than \(cols)")
        parallelRows(rows, minChunk: 16) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: cols) { tmp in
                let row = tmp.baseAddress!
                for r in range {
                    let a = xb.pointer + r * cols, c = rb.pointer + r * cols
                    addRows(a, c, into: row, count: cols)
                    layerNormRow(row, cols: cols, gamma: g.pointer, beta: bt.pointer, eps: eps, out: o.pointer + r * cols)
                }
            }
        }
    }

    /// The second half of `addLayerNorm` alone (the same row kernel), so `linear` with a residual followed by
    /// `layerNorm` is bit-identical to `linear` then `addLayerNorm`.
    public func layerNorm(x: any DeviceBuffer, rows: Int, cols: Int, gamma: any DeviceBuffer, beta: any DeviceBuffer,
                          eps: Float, out: any DeviceBuffer) throws {
        let op = "layerNorm"
        let xb = try cpu(x, op), g = try cpu(gamma, op), bt = try cpu(beta, op), o = try cpu(out, op)
        try check(cols > 0 && rows >= 0, op, "bad shape \(rows)x\(cols)")
        try check(xb.count >= rows * cols && o.count >= rows * cols, op, "buffers smaller than \(rows)x\(cols)")
        try check(g.count >= cols && bt.count >= cols, op, "gamma/beta smaller than \(cols)")
        try check(xb.packedShape == nil && o.packedShape == nil, op, "packed linear weights are not activations")
        parallelRows(rows, minChunk: 16) { range in
            for r in range {
                layerNormRow(xb.pointer + r * cols, cols: cols, gamma: g.pointer, beta: bt.pointer, eps: eps,
                             out: o.pointer + r * cols)
            }
        }
    }

    public func pool(hidden: any DeviceBuffer, lengths: [Int32], batch: Int, seq: Int, cols: Int,
                     mode: PoolingMode, out: any DeviceBuffer, outOffset: Int, outStride: Int) throws {
        let op = "pool"
        let h = try cpu(hidden, op), o = try cpu(out, op)
        try check(lengths.count == batch, op, "lengths has \(lengths.count) entries, expected batch \(batch)")
        try check(h.count >= batch * seq * cols, op, "hidden holds \(h.count) < \(batch)x\(seq)x\(cols)")
        try check(outStride >= cols && outOffset >= 0, op, "outStride \(outStride) < cols \(cols)")
        try check(batch == 0 || o.count >= outOffset + (batch - 1) * outStride + cols, op, "out too small")
        try checkLengths(lengths, seq: seq, op: op)
        for b in 0..<batch {
            HostPooling.poolSequence(h.pointer + b * seq * cols, length: Int(lengths[b]), cols: cols, mode: mode,
                                     out: o.pointer + outOffset + b * outStride)
        }
    }

    public func copy(_ source: any DeviceBuffer, sourceOffset: Int, to destination: any DeviceBuffer,
                     destinationOffset: Int, count: Int) throws {
        let s = try cpu(source, "copy"), d = try cpu(destination, "copy")
        try check(s.packedShape == nil && d.packedShape == nil, "copy", "packed linear weights cannot be copied")
        try check(count >= 0 && sourceOffset >= 0 && destinationOffset >= 0 &&
                  sourceOffset + count <= s.count && destinationOffset + count <= d.count,
                  "copy", "\(count) elements from \(sourceOffset) to \(destinationOffset) out of bounds")
        guard count > 0 else { return }
        (d.pointer + destinationOffset).update(from: s.pointer + sourceOffset, count: count)
    }

    // MARK: Helpers

    private func cpu(_ buffer: any DeviceBuffer, _ op: String) throws -> CPUBuffer {
        guard let b = buffer as? CPUBuffer else {
            throw BackendError.invalidArgument(op: op, detail: "buffer of type \(type(of: buffer)) does not belong to the CPU backend")
        }
        return b
    }

    private func check(_ condition: Bool, _ op: String, _ detail: @autoclosure () -> String) throws {
        if !condition { throw BackendError.invalidArgument(op: op, detail: detail()) }
    }

    /// Like `parallelRows`, but in pieces of at most about `piece` rows (multiples of `align`) that the workers take
    /// in turn (`concurrentPerform` hands out iterations dynamically): a worker the OS deschedules for a while
    /// delays the op by one piece, not by its whole static share. The piece count is a multiple of the workers, so
    /// that with no interference every worker does the same work. A GEMM piece (`gemmPieceRows`) is at most one row
    /// block of the kernel (`FZ_GEMM_ROW_BLOCK`); results do not depend on the split (bit-identical).
    private func parallelPieces(_ count: Int, minChunk: Int, piece: Int, align: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let workers = Swift.min(threads, Swift.max(1, count / Swift.max(minChunk, 1)))
        if workers <= 1 { body(0..<count); return }
        var pieces = Swift.max(workers, (count + piece - 1) / piece)
        pieces = (pieces + workers - 1) / workers * workers
        var size = (count + pieces - 1) / pieces
        size = (size + align - 1) / align * align
        let used = (count + size - 1) / size
        DispatchQueue.concurrentPerform(iterations: used) { i in
            let start = i * size
            let end = Swift.min(count, start + size)
            if start < end { body(start..<end) }
        }
    }

    /// Runs `body` on contiguous row ranges covering `0..<count`, split over the worker threads when there is
    /// enough work (at least `minChunk` rows per worker). Range starts are multiples of `align`.
    private func parallelRows(_ count: Int, minChunk: Int, align: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let workers = Swift.min(threads, Swift.max(1, count / Swift.max(minChunk, 1)))
        if workers <= 1 { body(0..<count); return }
        var chunk = (count + workers - 1) / workers
        chunk = (chunk + align - 1) / align * align
        DispatchQueue.concurrentPerform(iterations: workers) { i in
            let start = i * chunk
            let end = Swift.min(count, start + chunk)
            if start < end { body(start..<end) }
        }
    }
}

/// The rows of one GEMM split for Strassen (`fz_gemm_strassen_pairs`): `pairs` row pairs (`pairRows`, two row
/// numbers each) and `singles` rows alone (`singleRows`), both from the Strassen form, with their scratch.
private struct StrassenRows {
    let pairs: Int, pairRows: UnsafePointer<Int32>, singles: Int, singleRows: UnsafePointer<Int32>
    let scratch: UnsafeMutablePointer<Float>

    /// `c = act(a · wᵀ + bias) + residual` on these rows of compact buffers (row strides k for a, n for c and
    /// residual); `w` has a Strassen form.
    func gemm(_ w: CPUBuffer, n: Int, k: Int, a: UnsafePointer<Float>, bias: UnsafePointer<Float>?, act: Int32,
              residual: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>) {
        guard let form = w.strassenForm else { preconditionFailure("StrassenRows.gemm on a weight without a Strassen form") }
        if pairs > 0 {
            fz_gemm_strassen_pairs(Int32(pairs), pairRows, Int32(n), Int32(k), a, Int32(k), form, bias, act, residual,
                                   c, Int32(n), scratch)
        }
        if singles > 0 {
            fz_gemm_strassen_rows(Int32(singles), singleRows, Int32(n), Int32(k), a, Int32(k), form, bias, act,
                                  residual, c, Int32(n), scratch)
        }
    }
}

/// The packed weights and vectors of the rest of a post-LN layer after attention (`PostAttentionLayer`), checked.
private struct PackedRest {
    let h: Int, f: Int, eps: Float, activation: Int32
    let wo: CPUBuffer, bo: CPUBuffer, g1: CPUBuffer, be1: CPUBuffer
    let w1: CPUBuffer, b1: CPUBuffer, w2: CPUBuffer, b2: CPUBuffer, g2: CPUBuffer, be2: CPUBuffer

    /// The layer on `count` real rows (physical row numbers at `rows`; nil: rows 0..<count): the projection +
    /// residual `x`, LayerNorm 1, FFN1 + activation, FFN2 + residual, LayerNorm 2, in that order (the order of
    /// `composedPostAttention`). Row strides: `h`, and `f` in `intermediate`.
    /// `strassen`: the rows 0..<count of compact buffers (`rows` nil) split into Strassen pairs and single rows.
    func run(rows: UnsafePointer<Int32>?, count: Int, context: UnsafePointer<Float>, x: UnsafePointer<Float>,
             afterAttention mid: UnsafeMutablePointer<Float>, intermediate inter: UnsafeMutablePointer<Float>,
             out o: UnsafeMutablePointer<Float>, strassen: StrassenRows? = nil) {
        let m = Int32(count), hi = Int32(h), fi = Int32(f), none = Int32(FZ_ACT_NONE)
        if let strassen {
            strassen.gemm(wo, n: h, k: h, a: context, bias: bo.pointer, act: none, residual: x, c: mid)
        } else {
            fz_gemm_packed_rows(m, rows, hi, hi, context, hi, wo.pointer, bo.pointer, none, x, mid, hi)
        }
        for i in 0..<count {
            let r = Int(rows?[i] ?? Int32(i)) * h
            layerNormRow(mid + r, cols: h, gamma: g1.pointer, beta: be1.pointer, eps: eps, out: mid + r)
        }
        if let strassen {
            strassen.gemm(w1, n: f, k: h, a: mid, bias: b1.pointer, act: activation, residual: nil, c: inter)
            strassen.gemm(w2, n: h, k: f, a: inter, bias: b2.pointer, act: none, residual: mid, c: o)
        } else {
            fz_gemm_packed_rows(m, rows, fi, hi, mid, hi, w1.pointer, b1.pointer, activation, nil, inter, fi)
            fz_gemm_packed_rows(m, rows, hi, fi, inter, fi, w2.pointer, b2.pointer, none, mid, o, hi)
        }
        for i in 0..<count {
            let r = Int(rows?[i] ?? Int32(i)) * h
            layerNormRow(o + r, cols: h, gamma: g2.pointer, beta: be2.pointer, eps: eps, out: o + r)
        }
    }

    /// Padding rows as the composed ops leave them: zero (`linearRealRows`), then normalised in place (LayerNorm
    /// over all rows) in `afterAttention` and `out`; zero in `intermediate`.
    func setPadding(_ range: Range<Int>, afterAttention mid: CPUBuffer, intermediate inter: CPUBuffer, out o: CPUBuffer) {
        (mid.pointer + range.lowerBound * h).update(repeating: 0, count: range.count * h)
        (inter.pointer + range.lowerBound * f).update(repeating: 0, count: range.count * f)
        for r in range {
            layerNormRow(mid.pointer + r * h, cols: h, gamma: g1.pointer, beta: be1.pointer, eps: eps, out: mid.pointer + r * h)
        }
        setPaddingOut(range, out: o)
    }

    /// The padding rows of `out` alone (zero, then LayerNorm 2).
    func setPaddingOut(_ range: Range<Int>, out o: CPUBuffer) {
        (o.pointer + range.lowerBound * h).update(repeating: 0, count: range.count * h)
        for r in range {
            layerNormRow(o.pointer + r * h, cols: h, gamma: g2.pointer, beta: be2.pointer, eps: eps, out: o.pointer + r * h)
        }
    }
}

// MARK: - Row kernels (also used by tests through the public op API)

@inline(__always)
private func addRows(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    fz_add_rows(a, b, out, count)
}

/// LayerNorm of one row (two-pass: mean, then biased variance of the centred values; eps added to the
/// variance). `row` and `out` may be the same memory. (`CPUKernels`: AVX2+FMA or portable.)
@inline(__always)
private func layerNormRow(_ row: UnsafeMutablePointer<Float>, cols: Int, gamma: UnsafePointer<Float>,
                          beta: UnsafePointer<Float>, eps: Float, out: UnsafeMutablePointer<Float>) {
    fz_layer_norm_row(row, Int32(cols), gamma, beta, eps, out)
}

/// Bias add, activation and residual add of one output row, in that order (the OpenBLAS path; the activation is
/// `CPUKernels`' code, the same the packed GEMM applies in registers).
@inline(__always)
private func epilogue(_ row: UnsafeMutablePointer<Float>, count: Int, bias: UnsafePointer<Float>?, activation: Activation?,
                      residual: UnsafePointer<Float>?) {
    if let bias { addRows(row, bias, into: row, count: count) }
    if activation != nil { fz_activate(row, count, CPUBackend.kernelActivation(activation)) }
    if let residual { addRows(row, residual, into: row, count: count) }
}

/// The SIMD math of `CPUKernels` (rational minimax erf and tanh with Eigen/XLA float32 coefficients, Cephes-style
/// exp), exposed for accuracy tests against libm. glibc's scalar `erff` (~40 ns a call here) made GELU as costly
/// as the matrix products.
public enum CPUMath {
    private static func apply(_ x: SIMD8<Float>, _ function: Int32) -> SIMD8<Float> {
        var v = x
        withUnsafeMutableBytes(of: &v) { fz_math($0.baseAddress!.assumingMemoryBound(to: Float.self), 8, function) }
        return v
    }
    /// erf of 8 lanes (clamped to ±4, where float32 erf rounds to ±1).
    public static func erf(_ x: SIMD8<Float>) -> SIMD8<Float> { apply(x, Int32(FZ_MATH_ERF)) }
    /// exp of 8 lanes (inputs clamped to [-87.3, 88.38]).
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> { apply(x, Int32(FZ_MATH_EXP)) }
    /// tanh of 8 lanes (clamped to ±7.9988).
    public static func tanh(_ x: SIMD8<Float>) -> SIMD8<Float> { apply(x, Int32(FZ_MATH_TANH)) }
}


extension CPUBackend {
    /// The registry's description of the host CPU (`cpu`), whose backend is `CPUBackend(threads:)`.
    public static var deviceInfo: DeviceInfo {
        let cores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let path = kernelPath
        return DeviceInfo(id: "cpu", kind: .cpu, name: "cpu (\(path) C kernels, OpenBLAS)",
                          capabilities: path == "avx2+fma" ? [.avx2] : [],
                          details: ["\(cores > 0 ? Int(cores) : 1) processors; C kernels: \(path) "
                                    + "(FEATURIZE_CPU_KERNELS=portable forces the portable ones)"]) { threads in
            CPUBackend(threads: threads)
        }
    }
}
