import Foundation

/// Paired significance tests used to compare two classifiers on the same rows.
public enum SignificanceTests {
    /// McNemar's exact test (two-sided binomial test on the discordant pairs), as statsmodels'
    /// `mcnemar(table, exact=True)`: `b` = rows only the first classifier gets right, `c` = rows only the second
    /// gets right; p = min(1, 2 · P(X ≤ min(b, c))) with X ~ Binomial(b + c, 1/2). No discordant pair: p = 1.
    public static func mcnemarExact(b: Int, c: Int) -> Double {
        precondition(b >= 0 && c >= 0, "McNemar counts must be non-negative")
        let n = b + c
        guard n > 0 else { return 1 }
        return min(1, 2 * binomialCDF(min(b, c), trials: n))
    }

    /// Discordant counts of two prediction lists against the truth: (b: only `a` right, c: only `b` right).
    public static func discordantPairs(truth: [Int], a: [Int], b: [Int]) -> (b: Int, c: Int) {
        var onlyA = 0, onlyB = 0
        for i in truth.indices {
            let ra = a[i] == truth[i], rb = b[i] == truth[i]
            if ra && !rb { onlyA += 1 } else if rb && !ra { onlyB += 1 }
        }
        return (onlyA, onlyB)
    }

    /// P(X ≤ k) for X ~ Binomial(n, 1/2), summed in log space (exact to ~1e-15 relative for any n).
    public static func binomialCDF(_ k: Int, trials n: Int) -> Double {
        guard k >= 0 else { return 0 }
        guard k < n else { return 1 }
        let log2n = Double(n) * log(2.0)
        var terms: [Double] = []
        terms.reserveCapacity(k + 1)
        for i in 0...k { terms.append(logChoose(n, i) - log2n) }
        let m = terms.max() ?? 0
        return min(1, exp(m) * terms.reduce(0) { $0 + exp($1 - m) })
    }

    static func logChoose(_ n: Int, _ k: Int) -> Double {
        lgamma(Double(n) + 1) - lgamma(Double(k) + 1) - lgamma(Double(n - k) + 1)
    }

    /// Paired t-test on differences `d` (e.g. per-fold score of the best minus score of another combination).
    ///
    /// With `testTrainRatio` = 0 this is the ordinary paired t-test (scipy's `ttest_rel`); with
    /// `testTrainRatio` = n_test / n_train it is Nadeau & Bengio's (2003) corrected resampled t-test, whose
    /// variance term `(1/k + n_test/n_train) · s²` accounts for the overlap of the training sets of
    /// cross-validation folds (the plain test is badly over-confident there). Two-sided p-value from Student's t
    /// with k - 1 degrees of freedom. All differences equal: p = 1 if they are 0, else 0. Fewer than 2: p = 1.
    public static func pairedTTest(differences d: [Double], testTrainRatio: Double = 0) -> (t: Double, p: Double) {
        let k = d.count
        guard k >= 2 else { return (0, 1) }
        let mean = d.reduce(0, +) / Double(k)
        var ss = 0.0
        for x in d { ss += (x - mean) * (x - mean) }
        let variance = ss / Double(k - 1)
        guard variance > 0 else { return mean == 0 ? (0, 1) : (mean > 0 ? .infinity : -.infinity, 0) }
        let t = mean / (variance * (1 / Double(k) + testTrainRatio)).squareRoot()
        return (t, studentTwoSidedP(t: t, degreesOfFreedom: Double(k - 1)))
    }

    /// Two-sided p-value P(|T| ≥ |t|) of Student's t with `df` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2).
    public static func studentTwoSidedP(t: Double, degreesOfFreedom df: Double) -> Double {
        guard t.isFinite else { return 0 }
        return min(1, max(0, regularizedIncompleteBeta(x: df / (df + t * t), a: df / 2, b: 0.5)))
    }

    /// Regularised incomplete beta function I_x(a, b) by its continued fraction (modified Lentz), using the
    /// symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges faster.
    public static func regularizedIncompleteBeta(x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logBeta: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let logFront = logBeta + logPowers
        if x < (a + 1) / (a + b + 2) {
            return exp(logFront) * betaContinuedFraction(x: x, a: a, b: b) / a
        }
        return 1 - exp(logFront) * betaContinuedFraction(x: 1 - x, a: b, b: a) / b
    }

    private static func betaContinuedFraction(x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300, epsilon = 1e-16
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...500 {
            let md = Double(m)
            // Even step.
            var numerator = md * (b - md) * x / ((a + 2 * md - 1) * (a + 2 * md))
            d = 1 + numerator * d; if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            // Odd step.
            numerator = -(a + md) * (a + b + md) * x / ((a + 2 * md) * (a + 2 * md + 1))
            d = 1 + numerator * d; if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return h
    }
}
