#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ModelIO

/// MPNet's relative position bias: one table `[buckets, heads]` shared by every layer, looked up by the bucket
/// of `key position - query position` and added to the scaled attention scores before the masked softmax.
///
/// Buckets are computed as transformers' `MPNetEncoder.relative_position_bucket` does (bidirectional,
/// 32 buckets, `max_distance` 128, float32 logarithm truncated toward zero), so the result matches it bit for
/// bit in bucket choice. The bias depends only on the padded length `seq`, not on the sequences' contents.
public struct RelativePositionBias {
    /// `encoder.relative_attention_bias.weight`: `[tableRows, heads]`, row-major.
    public let table: [Float]
    public let tableRows: Int
    public let heads: Int
    /// Buckets the relative positions fall into (transformers uses 32 whatever the config's table size).
    public let numBuckets: Int
    public let maxDistance: Int

    public init(table: [Float], tableRows: Int, heads: Int,
                numBuckets: Int = EncoderConfig.mpnetPositionBuckets, maxDistance: Int = 128) throws {
        guard tableRows >= numBuckets, heads > 0, table.count == tableRows * heads, numBuckets >= 4, maxDistance > numBuckets / 4 else {
            throw EncoderError.invalidConfig("relative attention bias table \(tableRows) x \(heads) (\(table.count) values) for \(numBuckets) buckets")
        }
        self.table = table; self.tableRows = tableRows; self.heads = heads
        self.numBuckets = numBuckets; self.maxDistance = maxDistance
    }

    /// The bucket of `relative = key position - query position`, as transformers computes it:
    /// half the buckets for keys before the query, half for keys after; exact buckets for distances below a
    /// quarter of `numBuckets`, logarithmic ones up to `maxDistance`, the last bucket beyond.
    public static func bucket(_ relative: Int, numBuckets: Int = EncoderConfig.mpnetPositionBuckets,
                              maxDistance: Int = 128) -> Int {
        let half = numBuckets / 2
        let n = -relative
        var result = n < 0 ? half : 0
        let distance = abs(n)
        let maxExact = half / 2
        if distance < maxExact { return result + distance }
        // float32 throughout, like torch: log(n.float() / max_exact) / log(max_distance / max_exact) * (...)
        let ratio = Float(distance) / Float(maxExact)
        let logRatio = Float(log(Double(maxDistance) / Double(maxExact)))
        let scaled = logf(ratio) / logRatio * Float(half - maxExact)
        result += min(maxExact + Int(scaled), half - 1)
        return result
    }

    /// The bias for a padded length `seq`: `[heads, seq, seq]` with `bias[h][i][j] = table[bucket(j - i)][h]`.
    public func values(seq: Int) -> [Float] {
        var bias = [Float](repeating: 0, count: heads * seq * seq)
        // One bucket per relative distance -(seq-1)...(seq-1).
        let buckets = (0..<(2 * seq - 1)).map { RelativePositionBias.bucket($0 - (seq - 1), numBuckets: numBuckets, maxDistance: maxDistance) }
        for h in 0..<heads {
            for i in 0..<seq {
                let row = (h * seq + i) * seq
                for j in 0..<seq { bias[row + j] = table[buckets[j - i + seq - 1] * heads + h] }
            }
        }
        return bias
    }
}
