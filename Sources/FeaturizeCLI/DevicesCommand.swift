import ArgumentParser
import Backend
import Featurize
import OpenCLBackend

/// `featurize devices`: lists the devices of this process (OpenCL platforms and devices, the CPU) and what
/// `--device auto` picks.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List the OpenCL platforms and devices and the CPU, and the devices `--device auto` picks.")

    func run() throws {
        let registry = DeviceRegistry.system
        let out = StandardOutput()
        try out.line("OpenCL platforms: \(OpenCLDiscovery.platforms.count)")
        for (i, platform) in OpenCLDiscovery.platforms.enumerated() { try out.line("  platform \(i): \(platform)") }
        for warning in registry.warnings { try out.line("  warning: \(warning)") }
        if registry.openCLDevices.isEmpty {
            try out.line("No OpenCL devices (no ICD installed, or none usable; see /etc/OpenCL/vendors or OCL_ICD_VENDORS).")
        }
        for device in registry.devices {
            try out.line("\(device.id)  \(device.name)  [\(device.kind.rawValue)]")
            for detail in device.details { try out.line("    \(detail)") }
        }
        let auto = registry.autoDevices.map(\.id).joined(separator: ", ")
        try out.line("auto picks: \(auto)\(registry.autoDevices.first?.kind == .cpu ? " (no OpenCL GPU)" : "")")
    }
}

/// Resolves a `--device` value that must name one OpenCL device; its `opencl:N` index.
func openCLDeviceIndex(_ spec: DeviceSpec) throws -> Int {
    do { return try DeviceRegistry.system.resolveOpenCLDevice(spec).ordinal } catch let error as BackendError {
        throw ValidationError(error.description)
    }
}
