import Foundation

/// Test-only fault injection: makes a device fail at its k-th batch, so tests (and users checking their
/// setup) can prove that a failing device loses no row.
///
/// Set `FEATURIZE_INJECT_FAULT=DEVICE@K[:oom|:fail][xR]`: the device named DEVICE (or `*` for every device)
/// fails its K-th batch (1-based) with an out-of-memory or a device error, R times in a row (default 1).
public struct FaultInjection: Equatable, Sendable {
    public enum Kind: String, Sendable { case oom, fail }
    public var device: String
    public var atBatch: Int
    public var kind: Kind
    public var repeats: Int

    public init(device: String, atBatch: Int, kind: Kind, repeats: Int = 1) {
        self.device = device; self.atBatch = atBatch; self.kind = kind; self.repeats = repeats
    }

    /// Parses the variable's value; nil and a clear error for malformed values.
    public init(parsing text: String) throws {
        var rest = Substring(text)
        var repeats = 1
        if let x = rest.lastIndex(of: "x"), let r = Int(rest[rest.index(after: x)...]) { repeats = r; rest = rest[..<x] }
        var kind = Kind.fail
        if let c = rest.lastIndex(of: ":"), let k = Kind(rawValue: String(rest[rest.index(after: c)...])) {
            kind = k; rest = rest[..<c]
        }
        guard let at = rest.lastIndex(of: "@"), let k = Int(rest[rest.index(after: at)...]), k >= 1, repeats >= 1 else {
            throw SchedulerError.invalidPolicy("FEATURIZE_INJECT_FAULT='\(text)': expected DEVICE@K[:oom|:fail][xR]")
        }
        self.init(device: String(rest[..<at]), atBatch: k, kind: kind, repeats: repeats)
    }

    /// The value of `FEATURIZE_INJECT_FAULT`, if set.
    public static func fromEnvironment() throws -> FaultInjection? {
        guard let v = ProcessInfo.processInfo.environment["FEATURIZE_INJECT_FAULT"], !v.isEmpty else { return nil }
        return try FaultInjection(parsing: v)
    }

    /// Wraps `device` so that it fails as configured (other devices are returned unchanged).
    public func wrap<P>(_ device: ExecutionDevice<P>) -> ExecutionDevice<P> {
        guard self.device == "*" || self.device == device.name else { return device }
        let counter = UncheckedBox(0)
        let spec = self
        // A pipelined device stays pipelined: the fault is thrown where the batch starts (`run` or `submit`).
        let fault: () throws -> Void = {
            counter.value += 1
            if counter.value >= spec.atBatch && counter.value < spec.atBatch + spec.repeats {
                switch spec.kind {
                case .oom: throw InjectedFault.outOfMemory(device: device.name, batch: counter.value)
                case .fail: throw InjectedFault.failure(device: device.name, batch: counter.value)
                }
            }
        }
        return ExecutionDevice(name: device.name, run: { batch in try fault(); return try device.runBatch(batch) },
                               submit: device.submitBatch.map { submit in { batch in try fault(); return try submit(batch) } })
    }
}

/// The errors injected by `FaultInjection`.
public enum InjectedFault: Error, CustomStringConvertible {
    case outOfMemory(device: String, batch: Int)
    case failure(device: String, batch: Int)
    public var description: String {
        switch self {
        case let .outOfMemory(d, b): return "\(d): injected out-of-memory at batch \(b)"
        case let .failure(d, b): return "\(d): injected device failure at batch \(b)"
        }
    }
}
