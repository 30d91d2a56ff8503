import Backend
import COpenCL
import Kernels

/// Builds the backend's one OpenCL program (all `Kernels/*.cl`, `common` first) for one device, with a disk
/// cache of the compiled binary keyed by device name + driver version + build options + source hash.
enum ProgramBuilder {
    /// Serialises program builds process-wide (see `build`).
    static let compilerLock = ProcessLock()

    /// The concatenated kernel sources (`gemm_mma.cl` is empty unless built with `-DFZ_MMA=1`).
    static let source: String = concatenated(KernelSources.names)

    /// `common` first, then `names`, each headed by its file name.
    private static func concatenated(_ names: [String]) -> String {
        let ordered = (KernelSources.names.contains("common") ? ["common"] : []) + names.filter { $0 != "common" }
        return ordered.compactMap { name in
            KernelSources.source(named: name).map { "// ---- Kernels/\(name).cl\n" + $0 + "\n" }
        }.joined()
    }

    /// Cache file for this device / options / source.
    static func cachePath(device: OpenCLDeviceInfo, options: String, source: String = source) -> String {
        let key = device.name + "\u{1}" + device.driverVersion + "\u{1}" + device.platformVersion + "\u{1}" + options
            + "\u{1}" + KernelCache.hex(KernelCache.fnv1a(source.utf8))
        return KernelCache.cacheDirectory() + "/opencl/" + KernelCache.hex(KernelCache.fnv1a(key.utf8)) + ".bin"
    }

    /// A built program. Tries the cached binary first; on any problem with it, builds from source and
    /// refreshes the cache (cache write failures are ignored: the cache is an optimisation).
    static func build(context: cl_context, device: OpenCLDeviceInfo, options: String,
                      source: String = source) throws -> (cl_program, fromCache: Bool) {
        // One build at a time in the process: backends opened on several threads (several devices, or tests
        // in parallel) would otherwise run the ICD's compiler concurrently; PoCL 3.1 shares its kernel cache
        // between programs of the same source and options, and crashes when first used from several threads.
        compilerLock.lock()
        defer { compilerLock.unlock() }
        let path = cachePath(device: device, options: options, source: source)
        if let binary = KernelCache.readBytes(path), !binary.isEmpty,
           let program = programFromBinary(context: context, device: device, binary: binary, options: options) {
            return (program, true)
        }
        let program = try programFromSource(context: context, device: device, options: options, source: source)
        if let binary = programBinary(program) { KernelCache.writeBytes(binary, to: path) }
        return (program, false)
    }

    private static func programFromBinary(context: cl_context, device: OpenCLDeviceInfo, binary: [UInt8],
                                          options: String) -> cl_program? {
        var status: cl_int = 0
        var binaryStatus: cl_int = 0
        var deviceID: cl_device_id? = device.deviceID
        var length = binary.count
        let program: cl_program? = binary.withUnsafeBufferPointer { bytes in
            var pointer: UnsafePointer<UInt8>? = bytes.baseAddress
            return clCreateProgramWithBinary(context, 1, &deviceID, &length, &pointer, &binaryStatus, &status)
        }
        guard let program, status == CL_SUCCESS, binaryStatus == CL_SUCCESS else {
            if let program { clReleaseProgram(program) }
            return nil
        }
        guard clBuildProgram(program, 1, &deviceID, options, nil, nil) == CL_SUCCESS else {
            clReleaseProgram(program)
            return nil
        }
        return program
    }

    private static func programFromSource(context: cl_context, device: OpenCLDeviceInfo, options: String,
                                          source: String) throws -> cl_program {
        var status: cl_int = 0
        var deviceID: cl_device_id? = device.deviceID
        let program: cl_program? = source.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            var length = source.utf8.count
            return clCreateProgramWithSource(context, 1, &pointer, &length, &status)
        }
        guard let program, status == CL_SUCCESS else {
            throw BackendError.deviceFailure(device: device.label, call: "clCreateProgramWithSource",
                                             code: Int(status), name: openCLErrorName(Int(status)))
        }
        let buildStatus = clBuildProgram(program, 1, &deviceID, options, nil, nil)
        if buildStatus != CL_SUCCESS {
            let log = buildLog(program, device: device.deviceID)
            clReleaseProgram(program)
            throw BackendError.unavailable(reason: "\(device.label): clBuildProgram failed with "
                + "\(openCLErrorName(Int(buildStatus))) (\(buildStatus)), options '\(options)'; compiler log:\n\(log)")
        }
        return program
    }

    static func buildLog(_ program: cl_program, device: cl_device_id) -> String {
        var size = 0
        let info = cl_program_build_info(CL_PROGRAM_BUILD_LOG)
        guard clGetProgramBuildInfo(program, device, info, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "(no log)" }
        var bytes = [CChar](repeating: 0, count: size + 1)
        guard clGetProgramBuildInfo(program, device, info, size, &bytes, nil) == CL_SUCCESS else { return "(no log)" }
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The program's binary for its single device (CL_PROGRAM_BINARIES), or nil.
    private static func programBinary(_ program: cl_program) -> [UInt8]? {
        var size = 0
        guard clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil)
                == CL_SUCCESS, size > 0 else { return nil }
        var binary = [UInt8](repeating: 0, count: size)
        let status = binary.withUnsafeMutableBufferPointer { buffer -> cl_int in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARIES),
                                    MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &pointer, nil)
        }
        return status == CL_SUCCESS ? binary : nil
    }
}
