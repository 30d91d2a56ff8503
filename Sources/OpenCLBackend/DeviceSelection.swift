import Backend

/// What `--device` asks for: `auto`, `cpu`, `opencl` (the first OpenCL device) or `opencl:N`.
public enum DeviceSelection: Equatable, Sendable, CustomStringConvertible {
    /// The first OpenCL GPU, else the CPU backend.
    case auto
    /// The CPU backend (OpenBLAS).
    case cpu
    /// An OpenCL device: `index` into `OpenCLDiscovery.devices`, or nil for the first one.
    case opencl(index: Int?)

    /// Where a selection resolves to.
    public enum Resolved: Equatable, Sendable {
        case cpu
        case opencl(index: Int)
    }

    /// Parses `auto`, `cpu`, `opencl`, `opencl:N` (case-insensitive). Throws `.invalidArgument` otherwise.
    public init(parsing text: String) throws {
        let value = text.lowercased()
        switch value {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "opencl": self = .opencl(index: nil)
        default:
            if value.hasPrefix("opencl:"), let index = Int(value.dropFirst("opencl:".count)), index >= 0 {
                self = .opencl(index: index)
            } else {
                throw BackendError.invalidArgument(
                    op: "--device", detail: "'\(text)' is not one of auto, cpu, opencl, opencl:N (N >= 0)")
            }
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .cpu: return "cpu"
        case .opencl(nil): return "opencl"
        case let .opencl(index?): return "opencl:\(index)"
        }
    }

    /// Resolves against `devices` (default: the discovered OpenCL devices). `auto` gives the first GPU, else
    /// `.cpu`. An explicit OpenCL selection with no such device throws `.unavailable` with a clear reason.
    public func resolve(devices: [OpenCLDeviceInfo] = OpenCLDiscovery.devices) throws -> Resolved {
        switch self {
        case .cpu: return .cpu
        case .auto:
            if let gpu = devices.first(where: { $0.type == .gpu }) { return .opencl(index: gpu.index) }
            return .cpu
        case let .opencl(index):
            if devices.isEmpty {
                throw BackendError.unavailable(reason: "--device \(self): no OpenCL platform or device found "
                    + "(is an ICD installed? see /etc/OpenCL/vendors or OCL_ICD_VENDORS)")
            }
            let wanted = index ?? 0
            guard wanted < devices.count else {
                throw BackendError.unavailable(reason: "--device \(self): there are only \(devices.count) OpenCL "
                    + "device(s) (opencl:0...opencl:\(devices.count - 1)); run `featurize devices`")
            }
            return .opencl(index: wanted)
        }
    }
}
