/// How the OpenCL kernels store and compute (`--compute-precision`; not to be confused with `extract
/// --precision`, which quantises the output).
public enum ComputePrecision: String, Sendable, CaseIterable {
    /// Every buffer float32, every operation float32: the exact path (default).
    case fp32
    /// Weights and activations stored as IEEE half on the device (core `vload_half` / `vstore_half`, no
    /// extension), every accumulation, softmax and LayerNorm statistic in float32. Any OpenCL device.
    case fp16
    /// TF32 tensor-core GEMMs (NVIDIA inline PTX `mma.sync`, `Kernels/mma_gemm.cl`), float32 buffers and
    /// everything else float32. Requested, never assumed: the backend builds the kernel and checks a self-test
    /// GEMM at start-up, and runs fp32 when either fails (`OpenCLBackend.tensorCoreNote`).
    case tf32

    /// The precision to open `device` with, and a line saying which path runs when that is already known (nil
    /// for fp32, which needs no note, and for tf32 on NVIDIA, where the backend's start-up probe decides and
    /// says so in `OpenCLBackend.tensorCoreNote`). fp16 runs the portable kernels with half storage on any
    /// device; tf32 elsewhere than on NVIDIA falls back to fp32 at once.
    public static func resolve(_ requested: ComputePrecision, for device: OpenCLDeviceInfo)
        -> (precision: ComputePrecision, note: String?) {
        switch requested {
        case .fp32:
            return (.fp32, nil)
        case .fp16:
            // On NVIDIA the backend probes its tensor-core GEMM and says which path runs.
            if device.vendor.lowercased().contains("nvidia") { return (.fp16, nil) }
            return (.fp16, "\(device.label): compute precision fp16: half storage, float32 arithmetic (portable kernels)")
        case .tf32:
            if device.vendor.lowercased().contains("nvidia") { return (.tf32, nil) }
            return (.fp32, "\(device.label): compute precision tf32 unavailable (tensor cores need an NVIDIA device); "
                + "running fp32 portable kernels")
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
        let backend = try OpenCLBackend(deviceIndex: deviceIndex, precision: precision)
        if let probe = backend.tensorCoreNote { fputs(probe + "\n", stderr) }
        return backend
    }
}
