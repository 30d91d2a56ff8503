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
    private func accumulate(rows range: Range<Int>, params: UnsafePointer<Double>, gradient: UnsafeMutablePointer<Double>) -> Double {
        let d = columns, stride = columns + 1, v = vectorCount
        var logits = [Double](repeating: 0, count: v)
        var loss = 0.0
        features.withUnsafeBufferPointer { xAll in
            logits.withUnsafeMutableBufferPointer { z in
                for r in range {
                    let x = xAll.baseAddress! + r * d
                    for k in 0..<v {
                        z[k] = mixedDot(x, params + k * stride, d) + params[k * stride + d]
                    }
                    let weight = sampleWeights?[r] ?? 1
                    let t = Int(targets[r])
                    if v == 1 {
                        let zz = z[0]
                        let y: Double = t == 1 ? 1 : 0
                        // log(1 + e^z) - y z, computed stably.
                        let softplus = max(zz, 0) + log1p(exp(-abs(zz)))
                        loss += weight * (softplus - y * zz)
                        let sigmoid = zz >= 0 ? 1 / (1 + exp(-zz)) : exp(zz) / (1 + exp(zz))
                        z[0] = weight * (sigmoid - y)
                    } else {
                        var m = z[0]
                        for k in 1..<v { m = max(m, z[k]) }
                        var sum = 0.0
                        for k in 0..<v {
                            let e = exp(z[k] - m)
                            z[k] = e
                            sum += e
                        }
                        // Loss = logsumexp - z_t = log(sum) - (z_t - m) = log(sum) - log(e_t).
                        loss += weight * (log(sum) - log(z[t]))
                        let inv = 1 / sum
                        for k in 0..<v { z[k] = weight * (z[k] * inv - (k == t ? 1 : 0)) }
                    }
                    for k in 0..<v {
                        let residual = z[k]
                        mixedAxpy(residual, x, gradient + k * stride, d)
                        gradient[k * stride + d] += residual
                    }
                }
            }
        }
        return loss
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
        a0 = a0.addingProduct(x0, wr.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self))
        a1 = a1.addingProduct(x1, wr.loadUnaligned(fromByteOffset: (j + 8) * 8, as: SIMD8<Double>.self))
        j += 16
    }
    if j + 8 <= n {
        let x0 = SIMD8<Double>(xr.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self))
        a0 = a0.addingProduct(x0, wr.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self))
        j += 8
    }
    var s = (a0 + a1).sum()
    while j < n {
        s += Double(x[j]) * w[j]
        j += 1
    }
    return s
}

/// y[j] += alpha * Double(x[j]).
@inline(__always)
func mixedAxpy(_ alpha: Double, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Double>, _ n: Int) {
    let xr = UnsafeRawPointer(x), yr = UnsafeMutableRawPointer(y)
    let a = SIMD8<Double>(repeating: alpha)
    var j = 0
    while j + 8 <= n {
        let xv = SIMD8<Double>(xr.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self))
        let yv = yr.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self)
        yr.storeBytes(of: yv.addingProduct(a, xv), toByteOffset: j * 8, as: SIMD8<Double>.self)
        j += 8
    }
    while j < n {
        y[j] += alpha * Double(x[j])
        j += 1
    }
}
