/// Largest |a[i] - b[i]| over the given index ranges (all of `a` when nil); a NaN on either side counts as
/// infinite, so a backend that leaves NaN where the reference has a number always fails the tolerance.
func maxAbsDifference(_ a: [Float], _ b: [Float], in ranges: [Range<Int>]? = nil) -> Float {
    let indices = ranges.map { $0.flatMap { $0 } } ?? Array(a.indices)
    return indices.reduce(Float(0)) { m, i in
        let d = abs(a[i] - b[i])
        return d.isNaN ? .infinity : max(m, d)
    }
}
