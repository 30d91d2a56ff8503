/// How the OpenCL kernels store and compute (`--compute-precision`; not to be confused with `extract
/// --precision`, which quantises the output).
public enum ComputePrecision: String, Sendable, CaseIterable {
    /// Every buffer float32, every operation float32: the exact path (default).
    case fp32
    /// Weights and activations stored as IEEE half on the device (core `vload_half` / `vstore_half`, no
    /// extension), every accumulation, softmax and LayerNorm statistic in float32. Any OpenCL device.
    case fp16
    /// TF32 tensor-core GEMMs (NVIDIA `mma.sync`): requested, never assumed — see `resolved(for:)`.
    case tf32

    /// The precision that actually runs on `device`, and the one line saying which path runs (nil for fp32,
    /// which needs no note). This build has portable kernels only: fp16 runs them with half storage on any
    /// device; tf32 needs tensor-core kernels, which this build does not have, so it falls back to fp32 and
    /// says so (never a result of unknown accuracy).
    public static func resolve(_ requested: ComputePrecision, for device: OpenCLDeviceInfo)
        -> (precision: ComputePrecision, note: String?) {
        switch requested {
        case .fp32:
            return (.fp32, nil)
        case .fp16:
            return (.fp16, "\(device.label): compute precision fp16: half storage, float32 arithmetic (portable kernels)")
        case .tf32:
            let reason = device.vendor.lowercased().contains("nvidia")
                ? "no tensor-core (mma.sync) kernels in this build"
                : "tensor cores need an NVIDIA device"
            return (.fp32, "\(device.label): compute precision tf32 unavailable (\(reason)); running fp32 portable kernels")
        }
    }

    /// Bytes per stored element.
    var elementSize: Int { self == .fp16 ? 2 : 4 }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ComputePrecision {
    private static let requestLock = ProcessLock()
    nonisolated(unsafe) private static var requestedValue: ComputePrecision = .fp32

    /// What `--compute-precision` asked for: the precision of the backends the device registry makes for
    /// `opencl:N` (set once by the CLI before any device starts; default fp32). CPU devices ignore it.
    public static var requested: ComputePrecision {
        get { requestLock.withLock { requestedValue } }
        set { requestLock.withLock { requestedValue = newValue } }
    }
}

extension OpenCLBackend {
    /// A backend on device `deviceIndex` in the precision that `requested` resolves to there; writes the
    /// resolution's one line (which path runs) to standard error when there is one.
    public static func make(deviceIndex: Int, requested: ComputePrecision) throws -> OpenCLBackend {
        let devices = OpenCLDiscovery.devices
        guard deviceIndex >= 0, deviceIndex < devices.count else { return try OpenCLBackend(deviceIndex: deviceIndex) }
        let (precision, note) = ComputePrecision.resolve(requested, for: devices[deviceIndex])
        if let note { fputs(note + "\n", stderr) }
        return try OpenCLBackend(deviceIndex: deviceIndex, precision: precision)
    }
}
