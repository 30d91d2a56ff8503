import Backend
import CPUBackend
import Testing

/// `--device` parsing and its one meaning of `auto`, on registries of fake devices (several GPUs, none, an
/// OpenCL CPU device), so every case is tested without the hardware.
@Suite("Device registry and --device")
struct DeviceRegistryTests {
    private static func fake(_ id: String, _ kind: DeviceKind, ordinal: Int = 0) -> DeviceInfo {
        DeviceInfo(id: id, ordinal: ordinal, kind: kind, name: "fake \(id)") { threads in CPUBackend(threads: threads ?? 1) }
    }

    private static let cpu = fake("cpu", .cpu)

    @Test("--device values parse into selectors; bad items are named")
    func parsing() throws {
        #expect(try DeviceSpec(parsing: "auto") == .auto)
        #expect(try DeviceSpec(parsing: "CPU") == .cpu)
        #expect(try DeviceSpec(parsing: "opencl").selectors == [.opencl(index: nil)])
        #expect(try DeviceSpec(parsing: "opencl:3, opencl:1,cpu").selectors == [.opencl(index: 3), .opencl(index: 1), .cpu])
        #expect(try DeviceSpec(parsing: "opencl:2,cpu").description == "opencl:2,cpu")
        for bad in ["", "gpu", "opencl:", "opencl:-1", "opencl:x", "cuda:0", "cpu,", ",cpu", "opencl:99999999999999999999"] {
            do {
                _ = try DeviceSpec(parsing: bad)
                Issue.record("'\(bad)' was accepted")
            } catch let error as BackendError {
                #expect(error.description.contains("--device"), "\(error)")
            }
        }
    }

    @Test("auto means every GPU (several included), else the CPU; an OpenCL CPU device is never picked by auto")
    func autoHasOneMeaning() throws {
        let twoGPUs = DeviceRegistry(devices: [Self.fake("opencl:0", .gpu), Self.fake("opencl:1", .openCLCPU, ordinal: 1),
                                               Self.fake("opencl:2", .gpu, ordinal: 2), Self.cpu])
        #expect(twoGPUs.autoDevices.map(\.id) == ["opencl:0", "opencl:2"])
        let resolved = try twoGPUs.resolve(.auto)
        #expect(resolved.devices.map(\.id) == ["opencl:0", "opencl:2"])
        #expect(resolved.chosenByAuto == ["opencl:0", "opencl:2"])
        let noGPU = DeviceRegistry(devices: [Self.fake("opencl:0", .openCLCPU), Self.cpu])
        #expect(try noGPU.resolve(.auto).devices.map(\.id) == ["cpu"])
        #expect(try DeviceRegistry(devices: [Self.cpu]).resolve(.auto).devices.map(\.id) == ["cpu"])
    }

    @Test("explicit devices resolve in order without duplicates; missing ones are errors naming what exists")
    func explicitDevices() throws {
        let registry = DeviceRegistry(devices: [Self.fake("opencl:0", .gpu), Self.fake("opencl:1", .gpu, ordinal: 1), Self.cpu])
        let list = try registry.resolve(try DeviceSpec(parsing: "opencl:1,cpu,opencl:1,auto"))
        #expect(list.devices.map(\.id) == ["opencl:1", "cpu", "opencl:0"])
        #expect(list.chosenByAuto == ["opencl:0"], "opencl:1 was named explicitly before auto")
        #expect(try registry.resolve(try DeviceSpec(parsing: "opencl")).devices.map(\.id) == ["opencl:0"])
        #expect(try registry.resolveOpenCLDevice(try DeviceSpec(parsing: "opencl:1")).ordinal == 1)
        do {
            _ = try registry.resolve(try DeviceSpec(parsing: "opencl:2"))
            Issue.record("opencl:2 does not exist")
        } catch let error as BackendError {
            #expect(error.description.contains("only 2 OpenCL device(s)"), "\(error)")
        }
        do {
            _ = try DeviceRegistry(devices: [Self.cpu]).resolve(try DeviceSpec(parsing: "opencl"))
            Issue.record("no OpenCL device exists")
        } catch let error as BackendError {
            #expect(error.description.contains("no OpenCL platform or device"), "\(error)")
        }
        #expect(throws: BackendError.self) { try registry.resolveOpenCLDevice(.cpu) }
    }

    @Test("defaults are keyed on the device kind")
    func defaultsByKind() {
        #expect(DeviceDefaults.of(.cpu) == DeviceDefaults(maxBatchTokens: 4_096, warmUp: false))
        #expect(DeviceDefaults.of(.gpu) == DeviceDefaults(maxBatchTokens: 16_384, warmUp: true))
        #expect(DeviceDefaults.combined([.cpu]).maxBatchTokens == 4_096)
        #expect(DeviceDefaults.combined([.gpu, .cpu]) == DeviceDefaults(maxBatchTokens: 16_384, warmUp: true))
        #expect(CPUBackend.deviceInfo.id == "cpu" && CPUBackend.deviceInfo.kind == .cpu)
    }
}
