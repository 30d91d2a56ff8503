import Backend
import Foundation
import OpenCLBackend

/// The devices a job runs on, from a `--device` value: `auto`, `cpu`, `opencl`, `opencl:N`, or a
/// comma-separated list of them (e.g. `opencl:0,opencl:1,cpu`).
///
/// - `auto` means every OpenCL GPU, else the CPU. If the OpenCL backend cannot start (no loader, no device,
///   a kernel that does not build), `auto` warns once and runs on the CPU.
/// - An explicit `opencl`/`opencl:N` that cannot start is an error naming the device and the reason.
/// - Whenever an OpenCL device takes part, a CPU extractor is kept as the fallback that re-runs failed batches.
public struct DevicePlan {
    public var devices: [FeatureExtractor]
    public var fallback: FeatureExtractor?
    /// Warnings to show the user (e.g. "auto: OpenCL unavailable, using the CPU").
    public var warnings: [String]

    /// Parses a `--device` value into the devices it names (validation only, no backend is started).
    public static func parse(_ text: String) throws -> [DeviceSelection] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !parts.isEmpty else { throw FeaturizeError.invalidOption("--device is empty; use auto, cpu, opencl or opencl:N") }
        return try parts.map { part in
            do { return try DeviceSelection(parsing: part) } catch let e as BackendError {
                throw FeaturizeError.invalidOption(e.description)
            }
        }
    }

    /// Starts one extractor per selected device; `make` builds an extractor on a device.
    public static func make(_ text: String, make: (ComputeDevice) throws -> FeatureExtractor) throws -> DevicePlan {
        var devices: [FeatureExtractor] = []
        var warnings: [String] = []
        var wantsCPU = false
        var seen = Set<String>()
        for selection in try parse(text) {
            var targets: [ComputeDevice] = []
            switch selection {
            case .cpu: wantsCPU = true
            case .auto:
                let gpus = OpenCLDiscovery.devices.filter { $0.type == .gpu }
                if gpus.isEmpty { wantsCPU = true } else { targets = gpus.map { .opencl(index: $0.index) } }
            case .opencl:
                do {
                    guard case let .opencl(index) = try selection.resolve() else { continue }
                    targets = [.opencl(index: index)]
                } catch let e as BackendError {
                    throw FeaturizeError.deviceUnavailable(device: "\(selection)", reason: e.description)
                }
            }
            for target in targets where seen.insert(target.description).inserted {
                do {
                    devices.append(try make(target))
                } catch {
                    if case .auto = selection {
                        warnings.append("--device auto: \(target) is not usable (\(error)); running on the CPU")
                        wantsCPU = true
                    } else {
                        throw FeaturizeError.deviceUnavailable(device: target.description, reason: "\(error)")
                    }
                }
            }
        }
        let cpu = (wantsCPU || !devices.isEmpty) ? try make(.cpu) : nil
        if wantsCPU, let cpu { devices.append(cpu) }
        // With GPUs, the CPU extractor re-runs failed batches; it only takes batches itself if asked for.
        let fallback = devices.contains(where: { $0 !== cpu }) ? cpu : nil
        return DevicePlan(devices: devices, fallback: fallback, warnings: warnings)
    }
}
