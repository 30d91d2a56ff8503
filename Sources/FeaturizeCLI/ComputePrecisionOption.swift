import ArgumentParser
import OpenCLBackend

extension ComputePrecision: ExpressibleByArgument {}

/// `--compute-precision fp32|fp16|tf32` of the OpenCL tools (`selftest`, `bench-gemm`, `bench-encoder`);
/// `extract` has the same option in `DeviceOptions`.
struct ComputePrecisionOption: ParsableArguments {
    @Option(name: .customLong("compute-precision"),
            help: "OpenCL arithmetic: fp32 (exact, default), fp16 (half storage, float32 accumulation; any OpenCL device) or tf32 (tensor cores; falls back to fp32 with a note where unavailable). Not --precision, which quantises the output.")
    var computePrecision: ComputePrecision = .fp32

    /// The precision that runs on OpenCL device `index` (writes the one line saying which path runs).
    func resolved(deviceIndex index: Int) -> ComputePrecision {
        guard let device = OpenCLDiscovery.devices.first(where: { $0.index == index }) else { return .fp32 }
        let (precision, note) = ComputePrecision.resolve(computePrecision, for: device)
        if let note { StandardError.line(note) }
        return precision
    }
}
