import Foundation

/// scikit-learn's scaled logistic objective on standardised Float32 features `[rows, columns]`:
///
///     f(W, b) = (1 / S) * sum_i w_i * crossEntropy_i + 0.5 * l2Strength * ||W||^2,   l2Strength = 1 / (C * S),
///
/// with S the sum of sample weights. Binary problems (2 classes) use one weight vector for class 1 with the
/// binomial loss; K > 2 classes use K vectors with the softmax loss. Parameters are laid out as
/// `[vectorCount][columns + 1]` (weights, then the intercept).
///
/// Rows are split into a fixed number of chunks (a function of the row count only); chunks run in parallel and
/// their partial sums are added in chunk order, so results do not depend on the thread count or scheduling.
final class LogisticObjective: @unchecked Sendable {
    let features: [Float]
    let rows: Int
    let columns: Int
    let targets: [Int32]
    let sampleWeights: [Double]?
    let classCount: Int
    let vectorCount: Int
    let l2Strength: Double
    let weightSum: Double
    let chunkCount: Int
    var parameterCount: Int { vectorCount * (columns + 1) }

    init(features: [Float], rows: Int, columns: Int, targets: [Int32], sampleWeights: [Double]?,
         classCount: Int, l2Strength: Double, weightSum: Double) {
        self.features = features
        self.rows = rows
        self.columns = columns
        self.targets = targets
        self.sampleWeights = sampleWeights
        self.classCount = classCount
        self.vectorCount = classCount == 2 ? 1 : classCount
        self.l2Strength = l2Strength
        self.weightSum = weightSum
        self.chunkCount = max(1, min(8, rows / 512))
    }

    /// Returns f(params) and writes its gradient.
    func evaluate(_ params: [Double], gradient: inout [Double]) -> Double {
        let p = parameterCount
        var partialGradients = [Double](repeating: 0, count: chunkCount * p)
        var partialLosses = [Double](repeating: 0, count: chunkCount)
        params.withUnsafeBufferPointer { w in
            partialGradients.withUnsafeMutableBufferPointer { gAll in
                partialLosses.withUnsafeMutableBufferPointer { lossAll in
                    let wBase = w.baseAddress!, gBase = gAll.baseAddress!, lossBase = lossAll.baseAddress!
                    DispatchQueue.concurrentPerform(iterations: chunkCount) { c in
                        let start = c * rows / chunkCount, end = (c + 1) * rows / chunkCount
                        lossBase[c] = accumulate(rows: start..<end, params: wBase, gradient: gBase + c * p)
                    }
                }
            }
        }
        var loss = 0.0
        for c in 0..<chunkCount { loss += partialLosses[c] }
        for i in 0..<p { gradient[i] = partialGradients[i] }
        for c in 1..<max(chunkCount, 1) {
            let base = c * p
            for i in 0..<p { gradient[i] += partialGradients[base + i] }
        }
        let inverse = 1 / weightSum
        loss *= inverse
        var squaredNorm = 0.0
        let stride = columns + 1
        for k in 0..<vectorCount {
            for j in 0..<columns {
                let index = k * stride + j
                let value = params[index]
                squaredNorm += value * value
                gradient[index] = gradient[index] * inverse + l2Strength * value
            }
            gradient[k * stride + columns] *= inverse
        }
        return loss + 0.5 * l2Strength * squaredNorm
    }

    /// Unscaled weighted loss sum of `rows`, adding the unscaled gradient into `gradient`.
    /// Rows are processed in blocks of 4 so each weight / gradient vector load serves 4 rows.
    private func accumulate(rows range: Range<Int>, params: UnsafePointer<Double>, gradient: UnsafeMutablePointer<Double>) -> Double {
        let d = columns, stride = columns + 1, v = vectorCount
        let block = 4
        // logits[k * block + b] for row b of the block; overwritten with residuals.
        var logits = [Double](repeating: 0, count: v * block)
        var loss = 0.0
        features.withUnsafeBufferPointer { xAll in
            logits.withUnsafeMutableBufferPointer { z in
                var r = range.lowerBound
                while r < range.upperBound {
                    let count = min(block, range.upperBound - r)
                    let x0 = xAll.baseAddress! + r * d
                    let x1 = count > 1 ? x0 + d : x0, x2 = count > 2 ? x0 + 2 * d : x0, x3 = count > 3 ? x0 + 3 * d : x0
                    for k in 0..<v {
                        let w = params + k * stride
                        let dots = count == block ? mixedDot4(x0, x1, x2, x3, w, d)
                            : SIMD4<Double>(mixedDot(x0, w, d), mixedDot(x1, w, d), mixedDot(x2, w, d), mixedDot(x3, w, d))
                        for b in 0..<block { z[k * block + b] = dots[b] + w[d] }
                    }
                    for b in 0..<count {
                        loss += residuals(row: r + b, logits: z.baseAddress! + b, step: block)
                    }
                    for b in count..<block { for k in 0..<v { z[k * block + b] = 0 } }
                    for k in 0..<v {
                        let g = gradient + k * stride
                        let base = k * block
                        mixedAxpy4(z[base], z[base + 1], z[base + 2], z[base + 3], x0, x1, x2, x3, g, d)
                        for b in 0..<count { g[d] += z[base + b] }
                    }
                    r += count
                }
            }
        }
        return loss
    }

    /// Weighted cross-entropy of one row from its logits `z[k * step]`; replaces them with
    /// the residuals `weight * (p_k - y_k)`.
    @inline(__always)
    private func residuals(row r: Int, logits z: UnsafeMutablePointer<Double>, step: Int) -> Double {
        let weight = sampleWeights?[r] ?? 1
        let t = Int(targets[r])
        if vectorCount == 1 {
            let zz = z[0]
            let y: Double = t == 1 ? 1 : 0
            // log(1 + e^z) - y z, computed stably.
            let softplus = max(zz, 0) + log1p(exp(-abs(zz)))
            let sigmoid = zz >= 0 ? 1 / (1 + exp(-zz)) : exp(zz) / (1 + exp(zz))
            z[0] = weight * (sigmoid - y)
            return weight * (softplus - y * zz)
        }
        let v = vectorCount
        let targetLogit = z[t * step]
        var m = z[0]
        for k in 1..<v { m = max(m, z[k * step]) }
        var sum = 0.0
        for k in 0..<v {
            let e = exp(z[k * step] - m)
            z[k * step] = e
            sum += e
        }
        // Loss = logsumexp - z_t = m + log(sum) - z_t (finite even when e_t underflows).
        let loss = weight * (m + log(sum) - targetLogit)
        let inv = 1 / sum
        for k in 0..<v { z[k * step] = weight * (z[k * step] * inv - (k == t ? 1 : 0)) }
        return loss
    }
}

/// Dot products of 4 Float32 rows with one Float64 vector, each with the same fixed reduction order.
@inline(__always)
func mixedDot4(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>,
               _ x3: UnsafePointer<Float>, _ w: UnsafePointer<Double>, _ n: Int) -> SIMD4<Double> {
    let r0 = UnsafeRawPointer(x0), r1 = UnsafeRawPointer(x1), r2 = UnsafeRawPointer(x2), r3 = UnsafeRawPointer(x3)
    let wr = UnsafeRawPointer(w)
    var a0 = SIMD8<Double>(), a1 = SIMD8<Double>(), a2 = SIMD8<Double>(), a3 = SIMD8<Double>()
    var j = 0
    while j + 8 <= n {
        let wv = wr.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self)
        a0 = (a0 + SIMD8<Double>(r0.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)) * wv)
        a1 = (a1 + SIMD8<Double>(r1.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)) * wv)
        a2 = (a2 + SIMD8<Double>(r2.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)) * wv)
        a3 = (a3 + SIMD8<Double>(r3.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)) * wv)
        j += 8
    }
    var s = SIMD4<Double>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    while j < n {
        s += SIMD4<Double>(Double(x0[j]), Double(x1[j]), Double(x2[j]), Double(x3[j])) * w[j]
        j += 1
    }
    return s
}

/// y[j] += c0 * x0[j] + c1 * x1[j] + c2 * x2[j] + c3 * x3[j] (Float32 rows, Float64 accumulation).
@inline(__always)
func mixedAxpy4(_ c0: Double, _ c1: Double, _ c2: Double, _ c3: Double,
                _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>,
                _ x3: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Double>, _ n: Int) {
    let r0 = UnsafeRawPointer(x0), r1 = UnsafeRawPointer(x1), r2 = UnsafeRawPointer(x2), r3 = UnsafeRawPointer(x3)
    let yr = UnsafeMutableRawPointer(y)
    let v0 = SIMD8<Double>(repeating: c0), v1 = SIMD8<Double>(repeating: c1)
    let v2 = SIMD8<Double>(repeating: c2), v3 = SIMD8<Double>(repeating: c3)
    var j = 0
    while j + 8 <= n {
        var acc = yr.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self)
        acc = (acc + v0 * SIMD8<Double>(r0.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)))
        acc = (acc + v1 * SIMD8<Double>(r1.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)))
        acc = (acc + v2 * SIMD8<Double>(r2.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)))
        acc = (acc + v3 * SIMD8<Double>(r3.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)))
        yr.storeBytes(of: acc, toByteOffset: j * 8, as: SIMD8<Double>.self)
        j += 8
    }
    while j < n {
        y[j] += c0 * Double(x0[j]) + c1 * Double(x1[j]) + c2 * Double(x2[j]) + c3 * Double(x3[j])
        j += 1
    }
}

/// sum_j Double(x[j]) * w[j], SIMD with a fixed reduction order.
@inline(__always)
func mixedDot(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Double>, _ n: Int) -> Double {
    let xr = UnsafeRawPointer(x), wr = UnsafeRawPointer(w)
    var a0 = SIMD8<Double>(), a1 = SIMD8<Double>()
    var j = 0
    while j + 16 <= n {
        let x0 = SIMD8<Double>(xr.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self))
        let x1 = SIMD8<Double>(xr.loadUnaligned(fromByteOffset: (j + 8) * 4, as: SIMD8<Float>.self))
        a0 = (a0 + x0 * wr.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self))
        a1 = (a1 + x1 * wr.loadUnaligned(fromByteOffset: (j + 8) * 8, as: SIMD8<Double>.self))
        j += 16
    }
    if j + 8 <= n {
        let x0 = SIMD8<Double>(xr.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self))
        a0 = (a0 + x0 * wr.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self))
        j += 8
    }
    var s = (a0 + a1).sum()
    while j < n {
        s += Double(x[j]) * w[j]
        j += 1
    }
    return s
}
