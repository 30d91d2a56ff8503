import Backend
import COpenCL

/// Kind of an OpenCL device (`CL_DEVICE_TYPE`).
public enum OpenCLDeviceType: String, Sendable {
    case gpu, cpu, accelerator, other
}

/// One OpenCL device as discovered at start-up. `index` is its position in the global list (all platforms in
/// loader order, devices in platform order): what `--device opencl:N` names.
public struct OpenCLDeviceInfo: @unchecked Sendable {
    public let index: Int
    public let platformIndex: Int
    public let platformName: String
    public let platformVersion: String
    public let name: String
    public let vendor: String
    public let driverVersion: String
    public let deviceVersion: String
    /// e.g. "OpenCL C 1.2 pocl".
    public let openCLCVersion: String
    public let type: OpenCLDeviceType
    public let computeUnits: Int
    /// Bytes.
    public let globalMemory: Int
    /// Bytes of local (shared) memory per work-group.
    public let localMemory: Int
    /// Bytes; the largest single buffer.
    public let maxAllocation: Int
    public let maxWorkGroupSize: Int
    public let supportsFP16: Bool
    public let supportsFP64: Bool
    let platformID: cl_platform_id
    let deviceID: cl_device_id

    /// "opencl:N Name".
    public var label: String { "opencl:\(index) \(name)" }
}

/// The OpenCL platforms and devices of this process, enumerated exactly once (the loader and some ICDs, e.g.
/// PoCL, crash or report 0 devices when first initialised from several threads at once).
public enum OpenCLDiscovery {
    /// Platforms (name) in loader order, and every device. No ICD installed (CL_PLATFORM_NOT_FOUND_KHR) or no
    /// platform means an empty list, not an error.
    public static var devices: [OpenCLDeviceInfo] { discovered.devices }
    /// Platform names, in loader order.
    public static var platforms: [String] { discovered.platforms }
    /// A problem met while enumerating (e.g. a platform that failed to list devices), for diagnostics.
    public static var warnings: [String] { discovered.warnings }

    private struct Discovered: @unchecked Sendable {
        var platforms: [String] = []
        var devices: [OpenCLDeviceInfo] = []
        var warnings: [String] = []
    }

    // A Swift global/static `let` is initialised once, thread-safely (swift_once).
    private static let discovered: Discovered = enumerate()

    private static func enumerate() -> Discovered {
        var result = Discovered()
        var platformCount: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &platformCount)
        if status == CL_PLATFORM_NOT_FOUND_KHR || platformCount == 0 { return result }
        if status != CL_SUCCESS {
            result.warnings.append("clGetPlatformIDs failed with \(openCLErrorName(Int(status))) (\(status))")
            return result
        }
        var platformIDs = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        guard clGetPlatformIDs(platformCount, &platformIDs, nil) == CL_SUCCESS else {
            result.warnings.append("clGetPlatformIDs failed listing \(platformCount) platform(s)")
            return result
        }
        for (platformIndex, maybePlatform) in platformIDs.enumerated() {
            guard let platform = maybePlatform else { continue }
            let platformName = platformString(platform, cl_platform_info(CL_PLATFORM_NAME))
            let platformVersion = platformString(platform, cl_platform_info(CL_PLATFORM_VERSION))
            result.platforms.append(platformName)
            var deviceCount: cl_uint = 0
            let all = cl_device_type(CL_DEVICE_TYPE_ALL)
            let listStatus = clGetDeviceIDs(platform, all, 0, nil, &deviceCount)
            if listStatus == CL_DEVICE_NOT_FOUND || deviceCount == 0 { continue }
            if listStatus != CL_SUCCESS {
                result.warnings.append("\(platformName): clGetDeviceIDs failed with \(openCLErrorName(Int(listStatus)))")
                continue
            }
            var deviceIDs = [cl_device_id?](repeating: nil, count: Int(deviceCount))
            guard clGetDeviceIDs(platform, all, deviceCount, &deviceIDs, nil) == CL_SUCCESS else { continue }
            for case let device? in deviceIDs {
                let rawType: cl_device_type = deviceValue(device, CL_DEVICE_TYPE, 0)
                let type: OpenCLDeviceType
                if rawType & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 { type = .gpu }
                else if rawType & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 { type = .cpu }
                else if rawType & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 { type = .accelerator }
                else { type = .other }
                let extensions = deviceString(device, CL_DEVICE_EXTENSIONS)
                let info = OpenCLDeviceInfo(
                    index: result.devices.count, platformIndex: platformIndex, platformName: platformName,
                    platformVersion: platformVersion,
                    name: deviceString(device, CL_DEVICE_NAME), vendor: deviceString(device, CL_DEVICE_VENDOR),
                    driverVersion: deviceString(device, CL_DRIVER_VERSION),
                    deviceVersion: deviceString(device, CL_DEVICE_VERSION),
                    openCLCVersion: deviceString(device, CL_DEVICE_OPENCL_C_VERSION),
                    type: type,
                    computeUnits: Int(deviceValue(device, CL_DEVICE_MAX_COMPUTE_UNITS, cl_uint(0))),
                    globalMemory: Int(deviceValue(device, CL_DEVICE_GLOBAL_MEM_SIZE, cl_ulong(0))),
                    localMemory: Int(deviceValue(device, CL_DEVICE_LOCAL_MEM_SIZE, cl_ulong(0))),
                    maxAllocation: Int(deviceValue(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, cl_ulong(0))),
                    maxWorkGroupSize: Int(deviceValue(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, Int(0))),
                    supportsFP16: extensions.contains("cl_khr_fp16"),
                    supportsFP64: extensions.contains("cl_khr_fp64") || deviceValue(device, CL_DEVICE_DOUBLE_FP_CONFIG, cl_ulong(0)) != 0,
                    platformID: platform, deviceID: device)
                result.devices.append(info)
            }
        }
        return result
    }

    private static func platformString(_ platform: cl_platform_id, _ param: cl_platform_info) -> String {
        var size = 0
        guard clGetPlatformInfo(platform, param, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
        var bytes = [CChar](repeating: 0, count: size + 1)
        guard clGetPlatformInfo(platform, param, size, &bytes, nil) == CL_SUCCESS else { return "" }
        return trimmed(bytes)
    }

    static func deviceString(_ device: cl_device_id, _ param: Int32) -> String {
        var size = 0
        let info = cl_device_info(param)
        guard clGetDeviceInfo(device, info, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
        var bytes = [CChar](repeating: 0, count: size + 1)
        guard clGetDeviceInfo(device, info, size, &bytes, nil) == CL_SUCCESS else { return "" }
        return trimmed(bytes)
    }

    static func deviceValue<T>(_ device: cl_device_id, _ param: Int32, _ fallback: T) -> T {
        var value = fallback
        let status = withUnsafeMutableBytes(of: &value) { raw in
            clGetDeviceInfo(device, cl_device_info(param), raw.count, raw.baseAddress, nil)
        }
        return status == CL_SUCCESS ? value : fallback
    }

    private static func trimmed(_ bytes: [CChar]) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        let text = String(decoding: bytes[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var scalars = Substring(text)
        while let last = scalars.last, last == " " || last == "\n" { scalars.removeLast() }
        while let first = scalars.first, first == " " { scalars.removeFirst() }
        return String(scalars)
    }
}
