import Backend

/// A buffer of the reference backend: host floats.
public final class ReferenceBuffer: DeviceBuffer {
    public var values: [Float]
    public var count: Int { values.count }
    init(count: Int) { values = [Float](repeating: .nan, count: count) }
}

/// The oracle as a backend: every op is `ReferenceMath`'s plain loops (Double accumulation), one thread, no
/// tricks. The conformance tests run the same ops on every other backend (CPU, OpenCL on PoCL, ...) and on this
/// one, at odd shapes. New buffers are NaN-filled, so an op that reads what nothing wrote shows up as NaN.
public final class ReferenceBackend: ComputeBackend {
    public init() {}

    public var name: String { "reference (plain loops)" }

    public func allocate(count: Int) throws -> any DeviceBuffer {
        guard count >= 0 else { throw BackendError.invalidArgument(op: "allocate", detail: "negative count \(count)") }
        return ReferenceBuffer(count: count)
    }

    public func upload(_ source: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws {
        let b = try host(buffer, "upload")
        try check(offset >= 0 && offset + source.count <= b.count, "upload", "\(source.count) values at \(offset) into \(b.count)")
        for (i, v) in source.enumerated() { b.values[offset + i] = v }
    }

    public func download(_ buffer: any DeviceBuffer, offset: Int, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let b = try host(buffer, "download")
        try check(offset >= 0 && offset + destination.count <= b.count, "download", "\(destination.count) values at \(offset) from \(b.count)")
        for i in 0..<destination.count { destination[i] = b.values[offset + i] }
    }

    public func synchronize() throws {}

    public func embed(ids: [Int32], typeIds: [Int32]?, batch: Int, seq: Int, hidden: Int,
                      word: any DeviceBuffer, position: any DeviceBuffer, tokenType: (any DeviceBuffer)?,
                      gamma: any DeviceBuffer, beta: any DeviceBuffer, eps: Float, out: any DeviceBuffer) throws {
        let op = "embed"
        let w = try host(word, op), p = try host(position, op), t = try tokenType.map { try host($0, op) }
        let o = try host(out, op)
        try check(ids.count == batch * seq && (typeIds?.count ?? ids.count) == ids.count, op, "ids/typeIds are not batch*seq")
        try check(hidden > 0 && w.count % hidden == 0 && p.count >= seq * hidden, op, "tables do not fit hidden \(hidden), seq \(seq)")
        let vocab = w.count / hidden, types = (t?.count ?? 0) / hidden
        for (i, id) in ids.enumerated() where id < 0 || Int(id) >= vocab {
            throw BackendError.invalidArgument(op: op, detail: "token id \(id) at row \(i) outside vocabulary of \(vocab)")
        }
        if let typeIds, t != nil {
            for (i, type) in typeIds.enumerated() where type < 0 || Int(type) >= types {
                throw BackendError.invalidArgument(op: op, detail: "token type \(type) at row \(i) outside \(types) types")
            }
        }
        let values = ReferenceMath.embed(ids: ids, typeIds: t == nil ? nil : typeIds, batch: batch, seq: seq, hidden: hidden,
                                         word: w.values, position: p.values, tokenType: t?.values,
                                         gamma: try host(gamma, op).values, beta: try host(beta, op).values, eps: eps)
        try check(o.count >= values.count, op, "out smaller than \(values.count)")
        o.values.replaceSubrange(0..<values.count, with: values)
    }

    public func linear(input: any DeviceBuffer, rows: Int, inFeatures: Int, weight: any DeviceBuffer,
                       bias: (any DeviceBuffer)?, outFeatures: Int, activation: Activation?,
                       residual: (any DeviceBuffer)?, out: any DeviceBuffer) throws {
        let op = "linear"
        let x = try host(input, op), w = try host(weight, op), b = try bias.map { try host($0, op) }, o = try host(out, op)
        let res = try residual.map { try host($0, op) }
        try check(x.count >= rows * inFeatures && w.count == outFeatures * inFeatures && (b?.count ?? outFeatures) >= outFeatures
                  && o.count >= rows * outFeatures, op, "shapes \(rows)x\(inFeatures) -> \(outFeatures) do not fit the buffers")
        try check((res?.count ?? rows * outFeatures) >= rows * outFeatures, op, "residual smaller than \(rows)x\(outFeatures)")
        try check(res !== o, op, "residual must not alias out")
        var values = ReferenceMath.linear(Array(x.values.prefix(rows * inFeatures)), rows: rows, inFeatures: inFeatures,
                                          weight: w.values, bias: b.map { Array($0.values.prefix(outFeatures)) },
                                          outFeatures: outFeatures, activation: activation).values
        if let res {
            // The residual is added to the (rounded) output of the layer, as the contract orders it.
            for i in values.indices { values[i] = Float(Double(values[i]) + Double(res.values[i])) }
        }
        o.values.replaceSubrange(0..<values.count, with: values)
    }

    public func attention(qkv: any DeviceBuffer, lengths: [Int32], batch: Int, seq: Int, heads: Int, headDim: Int,
                          scale: Float, positionBias: (any DeviceBuffer)?, out: any DeviceBuffer) throws {
        let op = "attention"
        let q = try host(qkv, op), o = try host(out, op), bias = try positionBias.map { try host($0, op) }
        let hidden = heads * headDim
        try check(lengths.count == batch && lengths.allSatisfy { $0 >= 0 && Int($0) <= seq }, op, "lengths must be batch values in 0...seq")
        try check(q.count >= batch * seq * 3 * hidden && o.count >= batch * seq * hidden, op, "buffers smaller than the batch")
        try check((bias?.count ?? heads * seq * seq) >= heads * seq * seq, op, "position bias smaller than [heads, seq, seq]")
        let values = ReferenceMath.attention(Array(q.values.prefix(batch * seq * 3 * hidden)), lengths: lengths, batch: batch,
                                             seq: seq, heads: heads, headDim: headDim, scale: scale,
                                             positionBias: bias.map { Array($0.values.prefix(heads * seq * seq)) })
        o.values.replaceSubrange(0..<values.count, with: values)
    }

    public func addLayerNorm(x: any DeviceBuffer, residual: any DeviceBuffer, rows: Int, cols: Int,
                             gamma: any DeviceBuffer, beta: any DeviceBuffer, eps: Float, out: any DeviceBuffer) throws {
        let op = "addLayerNorm"
        let a = try host(x, op), r = try host(residual, op), g = try host(gamma, op), b = try host(beta, op), o = try host(out, op)
        try check(a.count >= rows * cols && r.count >= rows * cols && o.count >= rows * cols && g.count >= cols && b.count >= cols,
                  op, "buffers smaller than \(rows)x\(cols)")
        for row in 0..<rows {
            let sum = (0..<cols).map { Double(a.values[row * cols + $0]) + Double(r.values[row * cols + $0]) }
            let normed = ReferenceMath.layerNorm(sum, gamma: g.values, beta: b.values, eps: eps)
            o.values.replaceSubrange((row * cols)..<((row + 1) * cols), with: normed)
        }
    }

    public func layerNorm(x: any DeviceBuffer, rows: Int, cols: Int, gamma: any DeviceBuffer, beta: any DeviceBuffer,
                          eps: Float, out: any DeviceBuffer) throws {
        let op = "layerNorm"
        let a = try host(x, op), g = try host(gamma, op), b = try host(beta, op), o = try host(out, op)
        try check(rows >= 0 && cols > 0, op, "bad shape \(rows)x\(cols)")
        try check(a.count >= rows * cols && o.count >= rows * cols && g.count >= cols && b.count >= cols,
                  op, "buffers smaller than \(rows)x\(cols)")
        for row in 0..<rows {
            let v = (0..<cols).map { Double(a.values[row * cols + $0]) }
            let normed = ReferenceMath.layerNorm(v, gamma: g.values, beta: b.values, eps: eps)
            o.values.replaceSubrange((row * cols)..<((row + 1) * cols), with: normed)
        }
    }

    public func pool(hidden: any DeviceBuffer, lengths: [Int32], batch: Int, seq: Int, cols: Int, mode: PoolingMode,
                     out: any DeviceBuffer, outOffset: Int, outStride: Int) throws {
        let op = "pool"
        let h = try host(hidden, op), o = try host(out, op)
        try check(lengths.count == batch && h.count >= batch * seq * cols, op, "hidden smaller than [batch, seq, cols]")
        try check(batch == 0 || o.count >= outOffset + (batch - 1) * outStride + cols, op, "out too small for stride \(outStride)")
        let pooled = ReferenceMath.pool(Array(h.values.prefix(batch * seq * cols)), lengths: lengths, batch: batch, seq: seq,
                                        cols: cols, mode: mode)
        for b in 0..<batch {
            for c in 0..<cols { o.values[outOffset + b * outStride + c] = pooled[b * cols + c] }
        }
    }

    public func copy(_ source: any DeviceBuffer, sourceOffset: Int, to destination: any DeviceBuffer,
                     destinationOffset: Int, count: Int) throws {
        let s = try host(source, "copy"), d = try host(destination, "copy")
        try check(sourceOffset >= 0 && destinationOffset >= 0 && sourceOffset + count <= s.count
                  && destinationOffset + count <= d.count, "copy", "range outside the buffers")
        for i in 0..<count { d.values[destinationOffset + i] = s.values[sourceOffset + i] }
    }

    private func host(_ buffer: any DeviceBuffer, _ op: String) throws -> ReferenceBuffer {
        guard let b = buffer as? ReferenceBuffer else {
            throw BackendError.invalidArgument(op: op, detail: "buffer of another backend (\(type(of: buffer)))")
        }
        return b
    }

    private func check(_ condition: Bool, _ op: String, _ detail: @autoclosure () -> String) throws {
        if !condition { throw BackendError.invalidArgument(op: op, detail: detail()) }
    }
}
