import ArgumentParser
import OpenCLBackend

/// `featurize selftest --device opencl[:N]` (hidden): every OpenCL kernel against naive host loops at the
/// test shapes; prints each max difference; fails when one exceeds its tolerance. Needs no test toolchain.
struct SelfTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check every OpenCL kernel against a naive host reference (max differences).",
        shouldDisplay: false)

    @OptionGroup var openCL: OpenCLDeviceOptions
    @OptionGroup var precision: ComputePrecisionOption

    func run() throws {
        let index = try openCL.index()
        let computePrecision = precision.resolved(deviceIndex: index)
        let backend = try OpenCLBackend(deviceIndex: index, precision: computePrecision)
        if let note = backend.tensorCoreNote { StandardError.line(note) }
        // The other GEMM variant with otherwise identical parameters, so both kernels are checked on this device.
        var otherParameters = backend.parameters
        otherParameters.gemmVariant = backend.parameters.gemmVariant == .tiled ? .registerBlocked : .tiled
        if otherParameters.gemmVariant == .tiled, otherParameters.validationProblem(for: backend.device) != nil {
            otherParameters = .smallGPU
            otherParameters.gemmVariant = .tiled
        }
        let other = try OpenCLBackend(deviceIndex: index, parameters: otherParameters, precision: computePrecision)
        print("selftest on \(backend.name), compute precision \(backend.precision.rawValue): parameters from \(backend.parameterSource)")
        print("  \(backend.parameters)")
        let results = try OpenCLSelfTest.run(backend, otherVariant: other) { print($0) }
        let failed = results.filter { !$0.passed }
        print("\(results.count - failed.count)/\(results.count) checks passed")
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
