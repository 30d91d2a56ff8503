/// Limited-memory BFGS minimiser (two-loop recursion + strong-Wolfe line search), in Float64.
///
/// Stopping rules follow SciPy's L-BFGS-B as used by scikit-learn: stop when `max|g_i| <= gradientTolerance`,
/// or when the relative decrease `(f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= functionTolerance`,
/// or after `maxIterations` iterations (then `converged` is false).
public struct LBFGSOptions: Sendable {
    public var memory: Int = 10
    public var maxIterations: Int = 1000
    public var gradientTolerance: Double = 1e-4
    public var functionTolerance: Double = 64 * Double.ulpOfOne
    /// Maximum function evaluations per line search (scikit-learn passes maxls=50).
    public var maxLineSearchSteps: Int = 50
    public init() {}
}

/// Why the minimiser stopped.
public enum LBFGSStatus: String, Codable, Sendable {
    case gradientTolerance
    case functionTolerance
    case maxIterations
    case lineSearchFailed
}

public struct LBFGSResult: Sendable {
    public var x: [Double]
    public var value: Double
    public var iterations: Int
    public var evaluations: Int
    public var status: LBFGSStatus
    /// True when a tolerance was met (not the iteration limit, not a line-search failure).
    public var converged: Bool { status == .gradientTolerance || status == .functionTolerance }
}

public enum LBFGS {
    /// Minimises `objective`, which writes the gradient into its second argument and returns the value.
    public static func minimize(start: [Double], options: LBFGSOptions,
                                objective: (_ x: [Double], _ gradient: inout [Double]) -> Double) -> LBFGSResult {
        let n = start.count
        var x = start
        var g = [Double](repeating: 0, count: n)
        var f = objective(x, &g)
        var evaluations = 1
        var sHistory: [[Double]] = [], yHistory: [[Double]] = [], rhoHistory: [Double] = []
        var iterations = 0
        if maxAbs(g) <= options.gradientTolerance {
            return LBFGSResult(x: x, value: f, iterations: 0, evaluations: evaluations, status: .gradientTolerance)
        }
        var alphaBuffer = [Double](repeating: 0, count: options.memory)
        while iterations < options.maxIterations {
            // Two-loop recursion: d = -H g.
            var d = g.map { -$0 }
            let m = sHistory.count
            if m > 0 {
                for i in stride(from: m - 1, through: 0, by: -1) {
                    let a = rhoHistory[i] * dot(sHistory[i], d)
                    alphaBuffer[i] = a
                    axpy(-a, yHistory[i], &d)
                }
                let gamma = dot(sHistory[m - 1], yHistory[m - 1]) / dot(yHistory[m - 1], yHistory[m - 1])
                for j in 0..<n { d[j] *= gamma }
                for i in 0..<m {
                    let b = rhoHistory[i] * dot(yHistory[i], d)
                    axpy(alphaBuffer[i] - b, sHistory[i], &d)
                }
            }
            var slope = dot(g, d)
            if !(slope < 0) {  // not a descent direction: restart from steepest descent
                sHistory.removeAll(); yHistory.removeAll(); rhoHistory.removeAll()
                d = g.map { -$0 }
                slope = dot(g, d)
            }
            // As L-BFGS-B: the first step (and any restart) has length 1 along the normalised steepest descent.
            let initialStep = sHistory.isEmpty ? 1.0 / norm(d) : 1.0
            let search = lineSearch(x: x, f0: f, g0: g, direction: d, slope0: slope, initialStep: initialStep,
                                    maxSteps: options.maxLineSearchSteps, objective: objective)
            evaluations += search.evaluations
            guard let step = search.accepted else {
                if !sHistory.isEmpty {  // drop curvature memory and retry once with steepest descent
                    sHistory.removeAll(); yHistory.removeAll(); rhoHistory.removeAll()
                    continue
                }
                return LBFGSResult(x: x, value: f, iterations: iterations, evaluations: evaluations, status: .lineSearchFailed)
            }
            iterations += 1
            var s = [Double](repeating: 0, count: n), y = [Double](repeating: 0, count: n)
            for j in 0..<n {
                s[j] = step.x[j] - x[j]
                y[j] = step.g[j] - g[j]
            }
            let fOld = f
            x = step.x; f = step.f; g = step.g
            let sy = dot(s, y)
            if sy > Double.ulpOfOne * dot(y, y) {
                if sHistory.count == options.memory {
                    sHistory.removeFirst(); yHistory.removeFirst(); rhoHistory.removeFirst()
                }
                sHistory.append(s); yHistory.append(y); rhoHistory.append(1 / sy)
            }
            if maxAbs(g) <= options.gradientTolerance {
                return LBFGSResult(x: x, value: f, iterations: iterations, evaluations: evaluations, status: .gradientTolerance)
            }
            if (fOld - f) / max(abs(fOld), abs(f), 1) <= options.functionTolerance {
                return LBFGSResult(x: x, value: f, iterations: iterations, evaluations: evaluations, status: .functionTolerance)
            }
        }
        return LBFGSResult(x: x, value: f, iterations: iterations, evaluations: evaluations, status: .maxIterations)
    }

    struct Point { var alpha: Double; var f: Double; var slope: Double; var x: [Double]; var g: [Double] }

    /// Strong-Wolfe line search (Nocedal & Wright, algorithms 3.5 and 3.6) with c1 = 1e-4, c2 = 0.9
    /// and safeguarded cubic interpolation in the zoom phase.
    static func lineSearch(x: [Double], f0: Double, g0: [Double], direction d: [Double], slope0: Double,
                           initialStep: Double, maxSteps: Int,
                           objective: (_ x: [Double], _ gradient: inout [Double]) -> Double)
        -> (accepted: Point?, evaluations: Int) {
        let c1 = 1e-4, c2 = 0.9
        var evaluations = 0
        func evaluate(_ alpha: Double) -> Point {
            var xNew = x
            axpy(alpha, d, &xNew)
            var gNew = [Double](repeating: 0, count: x.count)
            var fNew = objective(xNew, &gNew)
            if !fNew.isFinite { fNew = .infinity }
            evaluations += 1
            return Point(alpha: alpha, f: fNew, slope: dot(gNew, d), x: xNew, g: gNew)
        }
        func armijo(_ p: Point) -> Bool { p.f <= f0 + c1 * p.alpha * slope0 }
        func curvature(_ p: Point) -> Bool { abs(p.slope) <= -c2 * slope0 }

        func zoom(_ lowIn: Point, _ highIn: Point) -> Point? {
            var low = lowIn, high = highIn
            var best: Point? = low.alpha > 0 && armijo(low) && low.f < f0 ? low : nil
            while evaluations < maxSteps {
                let a = interpolate(low, high)
                let p = evaluate(a)
                if !armijo(p) || p.f >= low.f {
                    high = p
                } else {
                    if curvature(p) { return p }
                    if p.slope * (high.alpha - low.alpha) >= 0 { high = low }
                    low = p
                    best = p
                }
                if abs(high.alpha - low.alpha) <= 1e-16 * max(1, abs(low.alpha)) { break }
            }
            return best
        }

        var previous = Point(alpha: 0, f: f0, slope: slope0, x: x, g: g0)
        var alpha = initialStep
        while evaluations < maxSteps {
            let p = evaluate(alpha)
            if !armijo(p) || (evaluations > 1 && p.f >= previous.f) {
                return (zoom(previous, p), evaluations)
            }
            if curvature(p) { return (p, evaluations) }
            if p.slope >= 0 { return (zoom(p, previous), evaluations) }
            previous = p
            alpha = min(alpha * 4, 1e10)
        }
        // Out of evaluations: accept the last sufficient-decrease point if any.
        return (previous.alpha > 0 ? previous : nil, evaluations)
    }

    /// Minimiser of the cubic through (alpha, f, slope) at both ends, kept inside the middle 80% of the interval;
    /// bisection when the cubic is unusable.
    static func interpolate(_ a: Point, _ b: Point) -> Double {
        let lo = min(a.alpha, b.alpha), hi = max(a.alpha, b.alpha)
        let width = hi - lo
        var candidate = 0.5 * (a.alpha + b.alpha)
        if a.f.isFinite, b.f.isFinite {
            let d1 = a.slope + b.slope - 3 * (a.f - b.f) / (a.alpha - b.alpha)
            let disc = d1 * d1 - a.slope * b.slope
            if disc >= 0 {
                let d2 = (b.alpha > a.alpha ? 1.0 : -1.0) * disc.squareRoot()
                let denom = b.slope - a.slope + 2 * d2
                if denom != 0 {
                    let c = b.alpha - (b.alpha - a.alpha) * (b.slope + d2 - d1) / denom
                    if c.isFinite { candidate = c }
                }
            }
        }
        return min(max(candidate, lo + 0.1 * width), hi - 0.1 * width)
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in 0..<a.count { s += a[i] * b[i] }
        return s
    }
    static func axpy(_ alpha: Double, _ x: [Double], _ y: inout [Double]) {
        for i in 0..<x.count { y[i] += alpha * x[i] }
    }
    static func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }
    static func maxAbs(_ a: [Double]) -> Double { a.reduce(0) { max($0, abs($1)) } }
}
