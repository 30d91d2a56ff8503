import ArgumentParser
import OpenCLBackend

/// `featurize devices`: lists OpenCL platforms and devices and says which one `--device auto` picks.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List OpenCL platforms and devices, and the device `--device auto` picks.")

    func run() throws {
        let platforms = OpenCLDiscovery.platforms
        let devices = OpenCLDiscovery.devices
        print("OpenCL platforms: \(platforms.count)")
        for (i, platform) in platforms.enumerated() { print("  platform \(i): \(platform)") }
        for warning in OpenCLDiscovery.warnings { print("  warning: \(warning)") }
        if devices.isEmpty {
            print("No OpenCL devices (no ICD installed, or none usable; see /etc/OpenCL/vendors or OCL_ICD_VENDORS).")
        }
        for d in devices {
            let (parameters, source) = KernelParameters.resolved(for: d)
            print("opencl:\(d.index)  \(d.name)")
            print("    platform \(d.platformIndex) (\(d.platformName)), vendor \(d.vendor), type \(d.type.rawValue), "
                + "compute units \(d.computeUnits)")
            print("    global memory \(formatBytes(d.globalMemory)), local memory \(formatBytes(d.localMemory)), "
                + "max allocation \(formatBytes(d.maxAllocation)), max work-group \(d.maxWorkGroupSize)")
            print("    \(d.openCLCVersion), \(d.deviceVersion), driver \(d.driverVersion), "
                + "fp16 \(d.supportsFP16 ? "yes" : "no"), fp64 \(d.supportsFP64 ? "yes" : "no")")
            print("    kernels: \(parameters.gemmVariant.rawValue) GEMM, parameters from \(source)")
        }
        print("cpu  always available (OpenBLAS)")
        switch try DeviceSelection.auto.resolve() {
        case .cpu: print("auto picks: cpu (no OpenCL GPU)")
        case let .opencl(index): print("auto picks: opencl:\(index) \(devices[index].name)")
        }
    }
}

/// "1.5 GiB"-style sizes.
func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    return (unit == 0 ? String(bytes) : formatFixed(value, digits: 1)) + " " + units[unit]
}

/// Resolves a `--device` value that must name an OpenCL device; a clear error otherwise.
func openCLDeviceIndex(_ text: String) throws -> Int {
    let selection = try DeviceSelection(parsing: text)
    switch try selection.resolve() {
    case let .opencl(index): return index
    case .cpu: throw ValidationError("--device \(text) resolves to the CPU backend; this command needs an OpenCL device (opencl or opencl:N)")
    }
}
