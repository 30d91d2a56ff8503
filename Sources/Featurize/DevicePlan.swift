import Backend
import CPUBackend
import Foundation
import OpenCLBackend

extension DeviceRegistry {
    /// This process's devices: every OpenCL device (`opencl:N`, enumerated once) and the CPU backend (`cpu`).
    public static let system = DeviceRegistry(devices: OpenCLDiscovery.registryDevices + [CPUBackend.deviceInfo],
                                              warnings: OpenCLDiscovery.warnings)
}

/// The extractors a job runs on, from a `DeviceSpec` (`auto`, `cpu`, `opencl`, `opencl:N` or a list).
///
/// - `auto` means every GPU, else the CPU (`DeviceRegistry.autoDevices`). If a device `auto` chose cannot
///   start (no loader, a kernel that does not build), the plan warns and runs on the CPU.
/// - An explicit device that cannot start is an error naming the device and the reason.
/// - Whenever a non-CPU device takes part, a CPU extractor is kept as the fallback that re-runs failed batches.
public struct DevicePlan {
    public var devices: [FeatureExtractor]
    public var fallback: FeatureExtractor?
    /// Warnings to show the user (e.g. "auto: opencl:0 is not usable ..., running on the CPU").
    public var warnings: [String]

    /// The batching defaults of the plan's devices (largest budget; warm-up where a device wants it).
    public var defaults: DeviceDefaults { .combined(devices.map(\.device.kind)) }

    /// Starts one extractor per device of `spec`; `make` builds an extractor on a device.
    /// - Parameter cpuFallback: keep a CPU fallback extractor even when the plan runs on the CPU alone (under
    ///   fault injection, so "a failing device loses no row" is testable without a GPU).
    public static func make(_ spec: DeviceSpec, registry: DeviceRegistry = .system, cpuFallback: Bool = false,
                            make: (DeviceInfo) throws -> FeatureExtractor) throws -> DevicePlan {
        let resolution: DeviceResolution
        do { resolution = try registry.resolve(spec) } catch let e as BackendError {
            throw FeaturizeError.deviceUnavailable(device: "\(spec)", reason: e.description)
        }
        var devices: [FeatureExtractor] = []
        var warnings: [String] = []
        var wantsCPU = false
        for device in resolution.devices {
            if device.kind == .cpu { wantsCPU = true; continue }
            do {
                devices.append(try make(device))
            } catch {
                guard resolution.chosenByAuto.contains(device.id) else {
                    throw FeaturizeError.deviceUnavailable(device: device.id, reason: "\(error)")
                }
                warnings.append("--device auto: \(device.id) is not usable (\(error)); running on the CPU")
                wantsCPU = true
            }
        }
        let cpu = (wantsCPU || !devices.isEmpty) ? try make(registry.cpu) : nil
        if wantsCPU, let cpu { devices.append(cpu) }
        // With other devices, the CPU extractor re-runs failed batches; it only takes batches itself if asked for.
        var fallback = devices.contains(where: { $0 !== cpu }) ? cpu : nil
        if cpuFallback, fallback == nil { fallback = try make(registry.cpu) }
        return DevicePlan(devices: devices, fallback: fallback, warnings: warnings)
    }
}
