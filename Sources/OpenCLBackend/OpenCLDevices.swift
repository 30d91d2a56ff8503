import Backend

extension OpenCLDeviceInfo {
    /// The registry's description of this device (`opencl:N`), whose backend is `OpenCLBackend(deviceIndex:)`.
    public var deviceInfo: DeviceInfo {
        let kind: DeviceKind
        switch type {
        case .gpu: kind = .gpu
        case .cpu: kind = .openCLCPU
        case .accelerator, .other: kind = .accelerator
        }
        var capabilities: DeviceCapabilities = []
        if supportsFP16 { capabilities.insert(.fp16) }
        if supportsFP64 { capabilities.insert(.fp64) }
        let (parameters, source) = KernelParameters.resolved(for: self)
        let details = [
            "platform \(platformIndex) (\(platformName)), vendor \(vendor), type \(type.rawValue), compute units \(computeUnits)",
            "global memory \(formatByteCount(globalMemory)), local memory \(formatByteCount(localMemory)), "
                + "max allocation \(formatByteCount(maxAllocation)), max work-group \(maxWorkGroupSize)",
            "\(openCLCVersion), \(deviceVersion), driver \(driverVersion), fp16 \(supportsFP16 ? "yes" : "no"), "
                + "fp64 \(supportsFP64 ? "yes" : "no")",
            "kernels: \(parameters.gemmVariant.rawValue) GEMM, parameters from \(source)",
        ]
        let index = self.index
        return DeviceInfo(id: "opencl:\(index)", ordinal: index, kind: kind, name: name, memoryBytes: globalMemory,
                          capabilities: capabilities, details: details) { _ in
            try OpenCLBackend.make(deviceIndex: index, requested: ComputePrecision.requested)
        }
    }
}

extension OpenCLDiscovery {
    /// Every OpenCL device as a registry entry, in `opencl:N` order.
    public static var registryDevices: [DeviceInfo] { devices.map(\.deviceInfo) }
}

/// "1.5 GiB"-style sizes.
public func formatByteCount(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    guard unit > 0 else { return "\(bytes) B" }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) \(units[unit])"
}
