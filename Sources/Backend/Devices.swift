/// Devices and their selection, answered once for every command and the Swift API (ggml's shape: a registry of
/// devices, each able to make its backend).
///
/// - `DeviceInfo` describes one device (id, kind, name, memory, capabilities) and makes its `ComputeBackend`.
/// - `DeviceRegistry` lists the devices of this process: the CPU always, plus what each backend discovered.
/// - `DeviceSpec` is one parsed `--device` value; `DeviceRegistry.resolve` turns it into devices.
/// Policy that depends on the device (default token budget, warm-up) is keyed on `DeviceKind`, never on the
/// backend's type.

/// What kind of processor a device is. Policy (batch budgets, warm-up, fallback) is chosen by kind.
public enum DeviceKind: String, Sendable, CaseIterable {
    /// The host CPU through the CPU backend (the numerical oracle and the fallback).
    case cpu
    /// A GPU (OpenCL `CL_DEVICE_TYPE_GPU`).
    case gpu
    /// A CPU exposed through OpenCL (e.g. PoCL): used in tests; not picked by `auto`.
    case openCLCPU = "opencl-cpu"
    /// Any other accelerator.
    case accelerator
}

/// Per-kind defaults of the batching policy.
public struct DeviceDefaults: Sendable, Equatable {
    /// Default token budget of one batch (longest text × texts, padding included).
    public var maxBatchTokens: Int
    /// Whether the job runs its largest batch once before starting (allocations and kernel builds up front, so
    /// a budget that does not fit fails at once).
    public var warmUp: Bool

    public init(maxBatchTokens: Int, warmUp: Bool) {
        self.maxBatchTokens = maxBatchTokens
        self.warmUp = warmUp
    }

    /// CPU: 4,096 tokens (its GEMMs skip padding rows; larger batches reuse each weight panel more — measured
    /// fastest there), no warm-up. Devices: 16,384 tokens and a warm-up batch.
    public static func of(_ kind: DeviceKind) -> DeviceDefaults {
        switch kind {
        case .cpu: return DeviceDefaults(maxBatchTokens: 4_096, warmUp: false)
        case .gpu, .openCLCPU, .accelerator: return DeviceDefaults(maxBatchTokens: 16_384, warmUp: true)
        }
    }

    /// The defaults of a job on several devices: the largest budget, and warm-up where any device wants it.
    public static func combined(_ kinds: [DeviceKind]) -> DeviceDefaults {
        let all = kinds.map(DeviceDefaults.of)
        return DeviceDefaults(maxBatchTokens: all.map(\.maxBatchTokens).max() ?? DeviceDefaults.of(.cpu).maxBatchTokens,
                              warmUp: all.contains { $0.warmUp })
    }
}

/// Optional capabilities a device reports (what reduced-precision paths may use).
public struct DeviceCapabilities: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Half-precision arithmetic (`cl_khr_fp16`).
    public static let fp16 = DeviceCapabilities(rawValue: 1 << 0)
    /// Double precision (`cl_khr_fp64`).
    public static let fp64 = DeviceCapabilities(rawValue: 1 << 1)
    /// AVX2 + FMA CPU kernels.
    public static let avx2 = DeviceCapabilities(rawValue: 1 << 2)

    /// Names of the set capabilities, e.g. `["fp16", "fp64"]`.
    public var names: [String] {
        [(DeviceCapabilities.fp16, "fp16"), (.fp64, "fp64"), (.avx2, "avx2+fma")].filter { contains($0.0) }.map(\.1)
    }
}

/// One device of this process: what `--device` names and what `featurize devices` lists.
public struct DeviceInfo: Sendable, CustomStringConvertible {
    /// What `--device` calls it: `cpu`, `opencl:N`.
    public let id: String
    /// Position among the devices of its backend (N of `opencl:N`; 0 for the CPU).
    public let ordinal: Int
    public let kind: DeviceKind
    /// Human-readable name, e.g. "NVIDIA H200" or "cpu (avx2+fma C kernels, OpenBLAS)".
    public let name: String
    /// Device memory in bytes (nil for the CPU: host memory).
    public let memoryBytes: Int?
    public let capabilities: DeviceCapabilities
    /// Extra lines for `featurize devices` (platform, driver, kernel parameters, ...).
    public let details: [String]
    private let factory: @Sendable (_ threads: Int?) throws -> any ComputeBackend

    public init(id: String, ordinal: Int = 0, kind: DeviceKind, name: String, memoryBytes: Int? = nil,
                capabilities: DeviceCapabilities = [], details: [String] = [],
                makeBackend: @escaping @Sendable (_ threads: Int?) throws -> any ComputeBackend) {
        self.id = id
        self.ordinal = ordinal
        self.kind = kind
        self.name = name
        self.memoryBytes = memoryBytes
        self.capabilities = capabilities
        self.details = details
        self.factory = makeBackend
    }

    /// The defaults of this device's kind.
    public var defaults: DeviceDefaults { .of(kind) }

    /// A new backend on this device. `threads`: CPU worker threads (nil: every processor; ignored by devices).
    public func makeBackend(threads: Int? = nil) throws -> any ComputeBackend { try factory(threads) }

    /// "opencl:0 NVIDIA H200".
    public var description: String { "\(id) \(name)" }
}

/// One item of a `--device` value.
public enum DeviceSelector: Equatable, Sendable, CustomStringConvertible {
    /// Every GPU, else the CPU.
    case auto
    case cpu
    /// An OpenCL device by index, or the first one (nil).
    case opencl(index: Int?)

    /// Parses `auto`, `cpu`, `opencl`, `opencl:N` (case-insensitive).
    public init(parsing text: String) throws {
        let value = text.lowercased()
        switch value {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "opencl": self = .opencl(index: nil)
        default:
            if value.hasPrefix("opencl:"), let index = Int(value.dropFirst("opencl:".count)), (0...65_535).contains(index) {
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
}

/// A parsed `--device` value: one selector or a comma-separated list (`opencl:0,opencl:1,cpu`).
public struct DeviceSpec: Equatable, Sendable, CustomStringConvertible {
    public var selectors: [DeviceSelector]

    public init(_ selectors: [DeviceSelector]) { self.selectors = selectors }

    /// Parses a `--device` value; throws `BackendError.invalidArgument` naming the bad item.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            String(part.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        }
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else {
            throw BackendError.invalidArgument(op: "--device", detail: "'\(text)' has an empty item; use auto, cpu, opencl or opencl:N, comma-separated")
        }
        selectors = try parts.map { try DeviceSelector(parsing: $0) }
    }

    public static let auto = DeviceSpec([.auto])
    public static let cpu = DeviceSpec([.cpu])

    public var description: String { selectors.map(\.description).joined(separator: ",") }
}

/// The devices a spec resolved to.
public struct DeviceResolution: Sendable {
    /// Distinct devices in the order the spec named them.
    public var devices: [DeviceInfo]
    /// Ids of devices that `auto` chose (not named explicitly): if one cannot start, the job warns and runs on
    /// the CPU instead of failing.
    public var chosenByAuto: Set<String>
}

/// Every device of this process. Built once by the composing module (`Featurize`: the CPU backend plus each
/// OpenCL device); tests build their own with fake devices.
public struct DeviceRegistry: Sendable {
    /// The CPU device and the discovered devices (OpenCL devices in `opencl:N` order).
    public let devices: [DeviceInfo]
    /// Problems met while discovering devices (for `featurize devices`).
    public let warnings: [String]

    /// - Parameter devices: must contain exactly one device of kind `.cpu` with id `cpu`.
    public init(devices: [DeviceInfo], warnings: [String] = []) {
        precondition(devices.filter { $0.id == "cpu" && $0.kind == .cpu }.count == 1, "a registry needs one cpu device")
        self.devices = devices
        self.warnings = warnings
    }

    /// The CPU device (always present).
    public var cpu: DeviceInfo { devices.first { $0.id == "cpu" }! }

    /// The OpenCL devices, in `opencl:N` order.
    public var openCLDevices: [DeviceInfo] { devices.filter { $0.id.hasPrefix("opencl:") } }

    /// What `auto` means, everywhere: every GPU, else the CPU.
    public var autoDevices: [DeviceInfo] {
        let gpus = devices.filter { $0.kind == .gpu }
        return gpus.isEmpty ? [cpu] : gpus
    }

    /// The device with this id (`cpu`, `opencl:N`), or nil.
    public func device(id: String) -> DeviceInfo? { devices.first { $0.id == id } }

    /// Resolves a spec to distinct devices in order. An explicit OpenCL device that does not exist is an error
    /// naming the spec and the devices there are.
    public func resolve(_ spec: DeviceSpec) throws -> DeviceResolution {
        var result: [DeviceInfo] = []
        var byAuto = Set<String>()
        func add(_ device: DeviceInfo, auto: Bool) {
            guard !result.contains(where: { $0.id == device.id }) else { return }
            result.append(device)
            if auto { byAuto.insert(device.id) }
        }
        let opencl = openCLDevices
        for selector in spec.selectors {
            switch selector {
            case .auto: autoDevices.forEach { add($0, auto: true) }
            case .cpu: add(cpu, auto: false)
            case let .opencl(index):
                guard !opencl.isEmpty else {
                    throw BackendError.unavailable(reason: "--device \(selector): no OpenCL platform or device found "
                        + "(is an ICD installed? see /etc/OpenCL/vendors or OCL_ICD_VENDORS)")
                }
                let wanted = index ?? 0
                guard wanted < opencl.count else {
                    throw BackendError.unavailable(reason: "--device \(selector): there are only \(opencl.count) OpenCL "
                        + "device(s) (opencl:0...opencl:\(opencl.count - 1)); run `featurize devices`")
                }
                add(opencl[wanted], auto: false)
            }
        }
        return DeviceResolution(devices: result, chosenByAuto: byAuto)
    }

    /// Resolves a spec that must name exactly one OpenCL device (tools such as `tune` and `selftest`).
    public func resolveOpenCLDevice(_ spec: DeviceSpec) throws -> DeviceInfo {
        let devices = try resolve(spec).devices
        guard devices.count == 1, let device = devices.first, device.id.hasPrefix("opencl:") else {
            throw BackendError.invalidArgument(op: "--device", detail: "'\(spec)' resolves to \(devices.map(\.id).joined(separator: ", ")); "
                + "this command needs one OpenCL device (opencl or opencl:N)")
        }
        return device
    }
}
