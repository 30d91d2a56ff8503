import Backend
import COpenCL
import DataFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A float32 buffer in an OpenCL device's global memory (a `cl_mem`), released when the last reference goes.
/// It holds a reference on its context, so a buffer that outlives its backend is still released into a live
/// context (and `context` can never name a freed, reused one).
public final class OpenCLBuffer: DeviceBuffer {
    /// Elements (float32 on the host side; stored as float or half, see `ComputePrecision`).
    public let count: Int
    let memory: cl_mem
    let context: cl_context

    init(count: Int, memory: cl_mem, context: cl_context) {
        self.count = count
        self.memory = memory
        self.context = context
        clRetainContext(context)
    }

    deinit {
        clReleaseMemObject(memory)
        clReleaseContext(context)
    }
}

/// `ComputeBackend` on one OpenCL device: one context, one in-order queue, one program built once (binary
/// cached on disk) with per-device `KernelParameters`.
///
/// Thread safety: every method takes an internal lock, so a backend may be shared; ops still run in call order.
/// Every OpenCL error becomes `BackendError.deviceFailure` naming the call and the error
/// (`CL_OUT_OF_RESOURCES` ...); allocation failures become `.outOfMemory`.
public final class OpenCLBackend: ComputeBackend {
    public let device: OpenCLDeviceInfo
    public let parameters: KernelParameters
    /// Where `parameters` came from ("built-in table", a tuning file path, "explicit").
    public let parameterSource: String
    /// Whether the program came from the on-disk binary cache.
    public let programFromCache: Bool
    /// How buffers are stored and GEMMs computed: fp32; fp16 (half storage with float arithmetic: every
    /// buffer of this backend; `upload`/`download` convert, so callers always see float32); tf32 (float32
    /// buffers, tensor-core GEMMs, only after the start-up probe passed — else fp32, see `tensorCoreNote`).
    public private(set) var precision: ComputePrecision
    /// What the tensor-core start-up probe found (nil when it did not run).
    public private(set) var tensorCoreNote: String?
    /// The tensor-core GEMM (`gemm_nt_mma` of `Kernels/gemm_mma.cl`, in the program when it was built with
    /// `FZ_MMA=1`), when the probe passed.
    private var tensorCoreKernel: cl_kernel?
    /// Why the program was built without the tensor-core GEMM although it was asked for (its build failed).
    private var tensorCoreBuildFailure: String?
    /// Whether the tensor-core GEMM is the emulation (`FZ_MMA_EMULATE`, tests).
    private var tensorCoresEmulated = false
    /// Bytes per stored element.
    private var elementSize: Int { precision.elementSize }
    public var name: String { device.label }

    let context: cl_context
    let queue: cl_command_queue
    let program: cl_program
    private var kernels: [String: cl_kernel] = [:]
    /// Heap-allocated so its address is stable (a mutex must not move).
    private let lock: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
    /// Per-call int arrays (token ids, type ids, lengths), grown as needed, with the values last written (an
    /// unchanged array — `lengths` for every layer of a forward — is not written again).
    private var intScratch: [String: (memory: cl_mem, count: Int, values: [Int32])] = [:]
    /// Host copies of data enqueued with non-blocking writes, in enqueue order, each with its sequence number;
    /// freed once the device is past them (the next blocking read or `clFinish` frees all; waiting for an
    /// asynchronous download frees those enqueued before its read), so a write never waits for the device.
    private var stagedCopies: [(sequence: Int, copy: UnsafeMutableRawPointer, bytes: Int, pinned: PinnedHostPool.Region?)] = []
    private var stagedBytes = 0
    /// Sequence number of the next staged copy.
    private var nextStagedSequence = 0
    /// Page-locked host memory the asynchronous reads land in (ordinary memory where it is unavailable).
    private var pinnedPool: PinnedHostPool?
    /// Page-locked host memory the staged copies of non-blocking uploads live in (ordinary memory where unavailable).
    private var uploadPool: PinnedHostPool?
    /// Set by the first `embed` (a forward has started): from then on small uploads are staged in `uploadPool`.
    private var pinStagedUploads = false
    /// Host waits so far (blocking reads and writes, `clFinish`, event waits): a forward plus its pooled
    /// download costs exactly one.
    private var hostWaits = 0
    /// Uploads up to this size are staged and enqueued without waiting; larger ones (weights at load time) are
    /// blocking writes. Also the most staged bytes held before the queue is drained.
    public static let stagingLimitBytes = 64 << 20
    /// Staged uploads up to this size use pinned host memory (`uploadPool`).
    static let pinnedUploadLimitBytes = 1 << 20
    /// Attention score scratch `[sequences * heads * seq * seq]`, grown as needed.
    private var scoreScratch: OpenCLBuffer?
    /// Upper bound on the score scratch, in floats (attention runs in chunks of sequences under it).
    public var maxScoreScratchElements = 32 << 20

    /// Opens OpenCL device `deviceIndex` (see `OpenCLDiscovery.devices`). `parameters` nil: the table
    /// defaults or the device's tuning file. `profiling`: enables event timing (`timeGemm`). `precision`: fp32
    /// (exact), fp16 (half storage) or tf32. `tensorCores`: whether to probe the tensor-core GEMM — nil: for
    /// tf32 always, for fp16 on NVIDIA devices; a failed probe leaves fp16 on its portable kernels and turns
    /// tf32 into fp32 (`tensorCoreNote` says which). `emulateTensorCores` (tests): the tensor-core GEMM's tiling
    /// and fragment layout without PTX (`FZ_MMA_EMULATE`), so the whole tf32/fp16 path runs on any device.
    public init(deviceIndex: Int, parameters explicitParameters: KernelParameters? = nil, profiling: Bool = false,
                precision: ComputePrecision = .fp32, tensorCores: Bool? = nil, emulateTensorCores: Bool = false) throws {
        self.precision = precision
        let devices = OpenCLDiscovery.devices
        guard deviceIndex >= 0, deviceIndex < devices.count else {
            throw BackendError.unavailable(reason: devices.isEmpty
                ? "no OpenCL platform or device found (is an ICD installed? see /etc/OpenCL/vendors or OCL_ICD_VENDORS)"
                : "no OpenCL device opencl:\(deviceIndex); there are \(devices.count) (run `featurize devices`)")
        }
        let device = devices[deviceIndex]
        self.device = device
        if let explicitParameters {
            if let problem = explicitParameters.validationProblem(for: device) {
                throw BackendError.invalidArgument(op: "OpenCLBackend", detail: "kernel parameters: \(problem)")
            }
            parameters = explicitParameters
            parameterSource = "explicit"
        } else {
            (parameters, parameterSource) = KernelParameters.resolved(for: device)
        }
        let label = device.label

        var status: cl_int = 0
        var deviceID: cl_device_id? = device.deviceID
        guard let context = clCreateContext(nil, 1, &deviceID, nil, nil, &status), status == CL_SUCCESS else {
            throw BackendError.deviceFailure(device: label, call: "clCreateContext", code: Int(status),
                                             name: openCLErrorName(Int(status)))
        }
        let properties = profiling ? cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE) : 0
        guard let queue = clCreateCommandQueue(context, device.deviceID, properties, &status), status == CL_SUCCESS else {
            clReleaseContext(context)
            throw BackendError.deviceFailure(device: label, call: "clCreateCommandQueue", code: Int(status),
                                             name: openCLErrorName(Int(status)))
        }
        // Tensor cores: the program with the mma GEMM (FZ_MMA=1); if the compiler rejects it, without.
        let wantsTensorCores = precision != .fp32
            && (tensorCores ?? (precision == .tf32 || (precision == .fp16 && device.vendor.lowercased().contains("nvidia"))))
        let baseOptions = parameters.buildOptions + " -DFZ_HALF=\(precision == .fp16 ? 1 : 0)"
        var buildFailure: String? = nil
        do {
            if wantsTensorCores {
                let mmaOptions = baseOptions + " -DFZ_MMA=1 -DMMA_TF32=\(precision == .tf32 ? 1 : 0)"
                    + (emulateTensorCores ? " -DFZ_MMA_EMULATE=1" : "")
                do {
                    (program, programFromCache) = try ProgramBuilder.build(context: context, device: device, options: mmaOptions)
                } catch {
                    buildFailure = "\(error)"
                    (program, programFromCache) = try ProgramBuilder.build(context: context, device: device,
                                                                            options: baseOptions + " -DFZ_MMA=0")
                }
            } else {
                (program, programFromCache) = try ProgramBuilder.build(context: context, device: device,
                                                                        options: baseOptions + " -DFZ_MMA=0")
            }
        } catch {
            clReleaseCommandQueue(queue)
            clReleaseContext(context)
            throw error
        }
        tensorCoreBuildFailure = buildFailure
        tensorCoresEmulated = emulateTensorCores
        self.context = context
        self.queue = queue
        pinnedPool = PinnedHostPool(context: context, device: device.deviceID, keptRegions: 4)
        uploadPool = PinnedHostPool(context: context, device: device.deviceID, keptRegions: 32)
        pthread_mutex_init(lock, nil)
        if wantsTensorCores { startTensorCores() }
    }

    /// Builds the tensor-core program and runs a self-test GEMM against a float64 host reference; uses it only
    /// if both work, otherwise falls back (tf32 to fp32, fp16 to its portable kernels) and says why in
    /// `tensorCoreNote`.
    private func startTensorCores() {
        let kernelName = "gemm_nt_mma"
        do {
            if let failure = tensorCoreBuildFailure { throw BackendError.unavailable(reason: failure) }
            var status: cl_int = 0
            let created = ProgramBuilder.compilerLock.withLock { clCreateKernel(program, kernelName, &status) }
            guard let kernel = created, status == CL_SUCCESS else {
                throw BackendError.deviceFailure(device: name, call: "clCreateKernel(\(kernelName))", code: Int(status),
                                                 name: openCLErrorName(Int(status)))
            }
            tensorCoreKernel = kernel
            let worst = try TensorCoreProbe.worstError(self)
            let bound = TensorCoreProbe.tolerance(precision)
            guard worst <= bound else {
                throw BackendError.invalidArgument(op: "\(precision.rawValue) tensor-core self-test", detail: "GEMM error \(worst) over \(bound)")
            }
            tensorCoreNote = "\(name): compute precision \(precision.rawValue): tensor cores (mma.sync\(tensorCoresEmulated ? ", emulated" : "")) verified (self-test GEMM error "
                + "\(worst)); running \(precision.rawValue) tensor-core GEMMs"
        } catch {
            if let kernel = tensorCoreKernel { clReleaseKernel(kernel) }
            tensorCoreKernel = nil
            let requested = precision
            if precision == .tf32 { precision = .fp32 }
            let reason: String
            if case let BackendError.unavailable(text) = error {
                reason = "the tensor-core kernel did not build" + (text.contains("mma") || text.contains("asm") ? " (inline PTX not accepted)" : "")
            } else {
                reason = "\(error)"
            }
            tensorCoreNote = requested == .tf32
                ? "\(name): compute precision tf32 unavailable (\(reason)); running fp32 portable kernels"
                : "\(name): compute precision fp16: tensor cores unavailable (\(reason)); running the portable fp16 kernels"
        }
    }

    /// Whether `linear` runs on tensor cores (tf32 after a passed probe).
    public var usesTensorCores: Bool { tensorCoreKernel != nil }

    deinit {
        clFinish(queue)
        releaseStagedCopies()
        pinnedPool = nil
        uploadPool = nil
        scoreScratch = nil
        for (_, scratch) in intScratch { clReleaseMemObject(scratch.memory) }
        for (_, kernel) in kernels { clReleaseKernel(kernel) }
        if let kernel = tensorCoreKernel { clReleaseKernel(kernel) }
        clReleaseProgram(program)
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    @inline(__always)
    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body()
    }

    // MARK: Buffers

    public func allocate(count: Int) throws -> any DeviceBuffer {
        try locked { try allocateBuffer(count: count) }
    }

    func allocateBuffer(count: Int) throws -> OpenCLBuffer {
        guard count >= 0 else { throw BackendError.invalidArgument(op: "allocate", detail: "count \(count) < 0") }
        let bytes = Swift.max(count, 1) * elementSize
        if device.maxAllocation > 0, bytes > device.maxAllocation {
            throw BackendError.outOfMemory(device: name, call: "clCreateBuffer (over CL_DEVICE_MAX_MEM_ALLOC_SIZE "
                + "\(device.maxAllocation))", bytes: bytes)
        }
        var status: cl_int = 0
        let memory = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status)
        guard let memory, status == CL_SUCCESS else {
            if outOfMemoryCodes.contains(Int(status)) {
                throw BackendError.outOfMemory(device: name, call: "clCreateBuffer (\(openCLErrorName(Int(status))))",
                                               bytes: bytes)
            }
            throw BackendError.deviceFailure(device: name, call: "clCreateBuffer", code: Int(status),
                                             name: openCLErrorName(Int(status)))
        }
        return OpenCLBuffer(count: count, memory: memory, context: context)
    }

    /// The OpenCL buffer behind `buffer`, checking it belongs to this backend and holds `needed` elements.
    func clBuffer(_ buffer: any DeviceBuffer, op: String, role: String, needed: Int) throws -> cl_mem {
        guard let b = buffer as? OpenCLBuffer, b.context == context else {
            throw BackendError.invalidArgument(op: op, detail: "\(role) is not a buffer of \(name)")
        }
        guard needed <= b.count else {
            throw BackendError.invalidArgument(op: op, detail: "\(role) has \(b.count) elements, needs \(needed)")
        }
        return b.memory
    }

    public func upload(_ source: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws {
        try locked {
            guard offset >= 0 else { throw BackendError.invalidArgument(op: "upload", detail: "offset \(offset) < 0") }
            let memory = try clBuffer(buffer, op: "upload", role: "destination", needed: offset + source.count)
            guard source.count > 0, let base = source.baseAddress else { return }
            if precision == .fp16 {
                let half = source.map(floatToHalfBits)
                try half.withUnsafeBytes { try enqueueWrite(memory, offset: offset * 2, from: $0.baseAddress!, bytes: $0.count) }
                return
            }
            try enqueueWrite(memory, offset: offset * 4, from: UnsafeRawPointer(base), bytes: source.count * 4)
        }
    }

    /// Enqueues a write of `bytes` from `source` without waiting for the device: the bytes are copied to a
    /// staged host copy first (the caller's memory may go away once we return). Over `stagingLimitBytes` the
    /// write is blocking instead.
    private func enqueueWrite(_ memory: cl_mem, offset: Int, from source: UnsafeRawPointer, bytes: Int) throws {
        if bytes > Self.stagingLimitBytes {
            hostWaits += 1
            try check(clEnqueueWriteBuffer(queue, memory, cl_bool(CL_TRUE), offset, bytes, source, 0, nil, nil),
                      call: "clEnqueueWriteBuffer")
            releaseStagedCopies()
            return
        }
        if stagedBytes + bytes > Self.stagingLimitBytes { try finishQueue() }
        // A batch's inputs (ids, type ids, lengths: kilobytes) are staged in pinned memory once forwards run; the
        // weights at load time (once, hundreds of tensors) in ordinary memory, so the pinned pool stays small.
        let region = pinStagedUploads && bytes <= Self.pinnedUploadLimitBytes ? uploadPool?.take(bytes: bytes) : nil
        let copy = region?.host ?? UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        copy.copyMemory(from: source, byteCount: bytes)
        stagedCopies.append((nextStagedSequence, copy, bytes, region))
        nextStagedSequence += 1
        stagedBytes += bytes
        try check(clEnqueueWriteBuffer(queue, memory, cl_bool(CL_FALSE), offset, bytes, copy, 0, nil, nil),
                  call: "clEnqueueWriteBuffer")
    }

    /// Frees the staged host copies; only after the queue has drained.
    private func releaseStagedCopies() {
        for staged in stagedCopies { freeStaged(staged.copy, staged.pinned) }
        stagedCopies.removeAll(keepingCapacity: true)
        stagedBytes = 0
    }

    /// Frees the staged host copies numbered below `sequence` (the device has finished the commands enqueued
    /// before a command that has completed); later ones (the next batch's uploads) stay alive.
    private func releaseStagedCopies(before sequence: Int) {
        var n = 0
        while n < stagedCopies.count, stagedCopies[n].sequence < sequence {
            freeStaged(stagedCopies[n].copy, stagedCopies[n].pinned)
            stagedBytes -= stagedCopies[n].bytes
            n += 1
        }
        stagedCopies.removeFirst(n)
    }

    /// A staged copy the device no longer reads: back to the pinned pool, or freed.
    private func freeStaged(_ copy: UnsafeMutableRawPointer, _ pinned: PinnedHostPool.Region?) {
        if let pinned { uploadPool?.give(pinned) } else { copy.deallocate() }
    }

    /// `clFinish`, counted as a host wait; then the staged copies are freed.
    private func finishQueue() throws {
        hostWaits += 1
        try check(clFinish(queue), call: "clFinish")
        releaseStagedCopies()
    }

    /// How many times the host has waited for this device so far (blocking reads and large blocking writes,
    /// `clFinish`, event waits). An encoder forward enqueues everything without waiting; downloading its pooled
    /// output is the one wait per batch.
    public var hostWaitCount: Int { locked { hostWaits } }

    public func download(_ buffer: any DeviceBuffer, offset: Int, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try locked {
            guard offset >= 0 else { throw BackendError.invalidArgument(op: "download", detail: "offset \(offset) < 0") }
            let memory = try clBuffer(buffer, op: "download", role: "source", needed: offset + destination.count)
            guard destination.count > 0, let base = destination.baseAddress else {
                try finishQueue()
                return
            }
            // A blocking read on the in-order queue returns after every earlier command: staged copies are free.
            hostWaits += 1
            if precision == .fp16 {
                var half = [UInt16](repeating: 0, count: destination.count)
                try half.withUnsafeMutableBytes { h in
                    try check(clEnqueueReadBuffer(queue, memory, cl_bool(CL_TRUE), offset * 2, h.count, h.baseAddress, 0, nil, nil),
                              call: "clEnqueueReadBuffer")
                }
                for i in 0..<half.count { destination[i] = halfBitsToFloat(half[i]) }
            } else {
                try check(clEnqueueReadBuffer(queue, memory, cl_bool(CL_TRUE), offset * 4, destination.count * 4, base, 0, nil, nil),
                          call: "clEnqueueReadBuffer")
            }
            releaseStagedCopies()
        }
    }

    public func synchronize() throws {
        try locked { try finishQueue() }
    }

    /// A non-blocking `clEnqueueReadBuffer` with an event into plain (pageable) host memory that the returned
    /// download owns, then a `clFlush` (the device starts on everything enqueued so far; not a wait). No pinned
    /// memory (`CL_MEM_ALLOC_HOST_PTR` + map): on drivers that copy pageable memory through a bounce buffer the
    /// read itself may overlap less. `wait` waits for the event (one host wait), converts half storage to
    /// float32, and frees the staged upload copies enqueued before the read (not those of a batch enqueued
    /// after it). A download dropped without `wait` still waits before freeing its memory.
    public func downloadAsync(_ buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any PendingDownload {
        try locked {
            guard offset >= 0, count >= 0 else {
                throw BackendError.invalidArgument(op: "downloadAsync", detail: "offset \(offset) or count \(count) < 0")
            }
            let source = try clBuffer(buffer, op: "downloadAsync", role: "source", needed: offset + count)
            guard count > 0 else { return CompletedDownload([]) }
            let read = OpenCLPendingRead(backend: self, buffer: buffer, count: count, elementSize: elementSize,
                                         stagedBefore: nextStagedSequence,
                                         pinned: pinnedPool?.take(bytes: count * elementSize))
            var event: cl_event? = nil
            let status = clEnqueueReadBuffer(queue, source, cl_bool(CL_FALSE), offset * elementSize, count * elementSize,
                                             read.host, 0, nil, &event)
            try check(status, call: "clEnqueueReadBuffer (non-blocking)")
            read.event = event
            // Hand the batch to the device now (not a wait), so it computes while the host prepares the next.
            try check(clFlush(queue), call: "clFlush")
            return read
        }
    }

    /// Staged upload copies not yet freed (tests: a pending download frees only those enqueued before it).
    var stagedCopyCount: Int { locked { stagedCopies.count } }

    /// `OpenCLPendingRead.wait`: after its event, one host wait counted, earlier staged copies freed.
    fileprivate func finishedRead(stagedBefore sequence: Int) {
        locked {
            hostWaits += 1
            releaseStagedCopies(before: sequence)
        }
    }

    /// A pinned region a finished (or abandoned, then waited for) read no longer writes into.
    fileprivate func returnPinned(_ region: PinnedHostPool.Region) {
        locked { pinnedPool?.give(region) }
    }

    /// Pinned host regions created so far for asynchronous reads (reused across batches), and why pinned memory is
    /// not used, if it is not.
    public var pinnedHostMemory: (regions: Int, unavailable: String?) { locked { Self.usage(of: pinnedPool) } }

    /// Pinned host regions created so far for staged uploads (reused batch after batch), and why pinned memory is not
    /// used for them, if it is not.
    public var pinnedUploadMemory: (regions: Int, unavailable: String?) { locked { Self.usage(of: uploadPool) } }

    private static func usage(of pool: PinnedHostPool?) -> (regions: Int, unavailable: String?) {
        guard let pool else { return (0, "no pool") }
        return (pool.created, pool.unavailableReason)
    }

    public func copy(_ source: any DeviceBuffer, sourceOffset: Int, to destination: any DeviceBuffer,
                     destinationOffset: Int, count: Int) throws {
        try locked {
            guard sourceOffset >= 0, destinationOffset >= 0, count >= 0 else {
                throw BackendError.invalidArgument(op: "copy", detail: "negative offset or count")
            }
            let src = try clBuffer(source, op: "copy", role: "source", needed: sourceOffset + count)
            let dst = try clBuffer(destination, op: "copy", role: "destination", needed: destinationOffset + count)
            guard count > 0 else { return }
            if src == dst, sourceOffset < destinationOffset + count, destinationOffset < sourceOffset + count {
                throw BackendError.invalidArgument(op: "copy", detail: "source and destination ranges overlap")
            }
            let e = elementSize
            try check(clEnqueueCopyBuffer(queue, src, dst, sourceOffset * e, destinationOffset * e, count * e, 0, nil, nil),
                      call: "clEnqueueCopyBuffer")
        }
    }

    // MARK: Errors

    @inline(__always)
    func check(_ status: cl_int, call: String) throws {
        guard status != CL_SUCCESS else { return }
        if status == CL_MEM_OBJECT_ALLOCATION_FAILURE {
            throw BackendError.outOfMemory(device: name, call: "\(call) (CL_MEM_OBJECT_ALLOCATION_FAILURE)", bytes: 0)
        }
        throw BackendError.deviceFailure(device: name, call: call, code: Int(status), name: openCLErrorName(Int(status)))
    }

    // MARK: Kernels

    enum Argument {
        case buffer(cl_mem)
        case int(Int)
        case float(Float)
    }

    private func kernel(_ kernelName: String) throws -> cl_kernel {
        if let kernel = kernels[kernelName] { return kernel }
        var status: cl_int = 0
        let created = ProgramBuilder.compilerLock.withLock { clCreateKernel(program, kernelName, &status) }
        guard let kernel = created, status == CL_SUCCESS else {
            throw BackendError.deviceFailure(device: name, call: "clCreateKernel(\(kernelName))", code: Int(status),
                                             name: openCLErrorName(Int(status)))
        }
        kernels[kernelName] = kernel
        return kernel
    }

    /// Sets the arguments and enqueues `kernelName` over `global` (rounded up to multiples of `local`).
    /// Returns the event when `wantEvent` (the caller releases it).
    @discardableResult
    func launch(_ kernelName: String, _ arguments: [Argument], global: [Int], local: [Int]?,
                wantEvent: Bool = false, kernel explicitKernel: cl_kernel? = nil) throws -> cl_event? {
        let kernel = try explicitKernel ?? kernel(kernelName)
        for (index, argument) in arguments.enumerated() {
            let status: cl_int
            switch argument {
            case var .buffer(memory):
                status = clSetKernelArg(kernel, cl_uint(index), MemoryLayout<cl_mem>.size, &memory)
            case let .int(value):
                guard let narrow = Int32(exactly: value) else {
                    throw BackendError.invalidArgument(op: kernelName, detail: "argument \(index) = \(value) exceeds 32 bits")
                }
                var v = narrow
                status = clSetKernelArg(kernel, cl_uint(index), 4, &v)
            case var .float(value):
                status = clSetKernelArg(kernel, cl_uint(index), 4, &value)
            }
            try check(status, call: "clSetKernelArg(\(kernelName), \(index))")
        }
        var globalSize = global
        if let local {
            for d in 0..<globalSize.count { globalSize[d] = (globalSize[d] + local[d] - 1) / local[d] * local[d] }
        }
        if globalSize.contains(0) { return nil }
        var event: cl_event? = nil
        let status: cl_int = globalSize.withUnsafeBufferPointer { g in
            withUnsafeMutablePointer(to: &event) { eventPointer in
                let eventOut = wantEvent ? eventPointer : nil
                if let local {
                    return local.withUnsafeBufferPointer { l in
                        clEnqueueNDRangeKernel(queue, kernel, cl_uint(g.count), nil, g.baseAddress, l.baseAddress, 0, nil,
                                               eventOut)
                    }
                }
                return clEnqueueNDRangeKernel(queue, kernel, cl_uint(g.count), nil, g.baseAddress, nil, 0, nil, eventOut)
            }
        }
        try check(status, call: "clEnqueueNDRangeKernel(\(kernelName))")
        return event
    }

    /// The named int scratch buffer holding `values`: written without waiting (staged), and not at all when it
    /// already holds them.
    private func intBuffer(_ key: String, _ values: [Int32]) throws -> cl_mem {
        if let scratch = intScratch[key], scratch.count >= values.count, scratch.values == values {
            return scratch.memory
        }
        if intScratch[key].map({ $0.count < values.count }) ?? true {
            if let old = intScratch[key] { clReleaseMemObject(old.memory); intScratch[key] = nil }
            let count = Swift.max(values.count, 256)
            var status: cl_int = 0
            guard let memory = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_ONLY), count * 4, nil, &status),
                  status == CL_SUCCESS else {
                if outOfMemoryCodes.contains(Int(status)) {
                    throw BackendError.outOfMemory(device: name, call: "clCreateBuffer (\(openCLErrorName(Int(status))))",
                                                   bytes: count * 4)
                }
                throw BackendError.deviceFailure(device: name, call: "clCreateBuffer", code: Int(status),
                                                 name: openCLErrorName(Int(status)))
            }
            intScratch[key] = (memory, count, [])
        }
        let memory = intScratch[key]!.memory
        intScratch[key]!.values = []
        if !values.isEmpty {
            try values.withUnsafeBytes { v in
                try enqueueWrite(memory, offset: 0, from: v.baseAddress!, bytes: v.count)
            }
        }
        intScratch[key]!.values = values
        return memory
    }

    // MARK: Ops

    public func linear(input: any DeviceBuffer, rows: Int, inFeatures: Int, weight: any DeviceBuffer,
                       bias: (any DeviceBuffer)?, outFeatures: Int, activation: Activation?,
                       residual: (any DeviceBuffer)?, out: any DeviceBuffer) throws {
        try locked {
            _ = try enqueueLinear(input: input, rows: rows, inFeatures: inFeatures, weight: weight, bias: bias,
                                  outFeatures: outFeatures, activation: activation, residual: residual, out: out,
                                  variant: parameters.gemmVariant, wantEvent: false)
        }
    }

    static func activationCode(_ activation: Activation?) -> Int {
        switch activation {
        case nil: return 0
        case .geluErf: return 1
        case .geluTanh: return 2
        case .relu: return 3
        case .tanh: return 4
        }
    }

    @discardableResult
    func enqueueLinear(input: any DeviceBuffer, rows: Int, inFeatures: Int, weight: any DeviceBuffer,
                       bias: (any DeviceBuffer)?, outFeatures: Int, activation: Activation?,
                       residual: (any DeviceBuffer)? = nil, out: any DeviceBuffer,
                       variant: GemmVariant, wantEvent: Bool, tensorCores: Bool = true) throws -> cl_event? {
        guard rows >= 0, inFeatures >= 1, outFeatures >= 1 else {
            throw BackendError.invalidArgument(op: "linear", detail: "rows \(rows), inFeatures \(inFeatures), outFeatures \(outFeatures)")
        }
        let a = try clBuffer(input, op: "linear", role: "input", needed: rows * inFeatures)
        let b = try clBuffer(weight, op: "linear", role: "weight", needed: outFeatures * inFeatures)
        let c = try clBuffer(out, op: "linear", role: "out", needed: rows * outFeatures)
        let biasMemory = try bias.map { try clBuffer($0, op: "linear", role: "bias", needed: outFeatures) }
        let residualMemory = try residual.map { try clBuffer($0, op: "linear", role: "residual", needed: rows * outFeatures) }
        if let residual, residual === out {
            throw BackendError.invalidArgument(op: "linear", detail: "residual and out must not alias")
        }
        guard rows > 0 else { return nil }
        let arguments: [Argument] = [
            .int(rows), .int(outFeatures), .int(inFeatures), .buffer(a), .buffer(b), .buffer(biasMemory ?? b),
            .int(biasMemory == nil ? 0 : 1), .int(Self.activationCode(activation)),
            .buffer(residualMemory ?? b), .int(residualMemory == nil ? 0 : 1), .buffer(c),
        ]
        let p = parameters
        if tensorCores, let mma = tensorCoreKernel {
            return try launch("gemm_nt_mma", arguments,
                              global: [(outFeatures + 63) / 64 * 128, (rows + 63) / 64], local: [128, 1],
                              wantEvent: wantEvent, kernel: mma)
        }
        switch variant {
        case .tiled:
            let localN = p.tileN / p.workPerThreadN, localM = p.tileM / p.workPerThreadM
            return try launch("gemm_nt_tiled", arguments,
                              global: [(outFeatures + p.tileN - 1) / p.tileN * localN, (rows + p.tileM - 1) / p.tileM * localM],
                              local: [localN, localM], wantEvent: wantEvent)
        case .registerBlocked:
            return try launch("gemm_nt_cpu", arguments,
                              global: [(outFeatures + p.cpuBlockN - 1) / p.cpuBlockN, (rows + p.cpuBlockM - 1) / p.cpuBlockM],
                              local: [p.cpuLocalSize, 1], wantEvent: wantEvent)
        }
    }

    public func embed(ids: [Int32], typeIds: [Int32]?, batch: Int, seq: Int, hidden: Int,
                      word: any DeviceBuffer, position: any DeviceBuffer, tokenType: (any DeviceBuffer)?,
                      gamma: any DeviceBuffer, beta: any DeviceBuffer, eps: Float, out: any DeviceBuffer) throws {
        try locked {
            pinStagedUploads = true
            let rows = batch * seq
            guard batch >= 0, seq >= 1, hidden >= 1 else {
                throw BackendError.invalidArgument(op: "embed", detail: "batch \(batch), seq \(seq), hidden \(hidden)")
            }
            guard ids.count == rows else {
                throw BackendError.invalidArgument(op: "embed", detail: "ids has \(ids.count) entries, expected batch*seq = \(rows)")
            }
            if let typeIds, typeIds.count != rows {
                throw BackendError.invalidArgument(op: "embed", detail: "typeIds has \(typeIds.count) entries, expected \(rows)")
            }
            let wordMemory = try clBuffer(word, op: "embed", role: "word embeddings", needed: hidden)
            let vocab = word.count / hidden
            if let bad = ids.firstIndex(where: { $0 < 0 || Int($0) >= vocab }) {
                throw BackendError.invalidArgument(op: "embed", detail: "token id \(ids[bad]) at row \(bad) outside vocabulary 0..<\(vocab)")
            }
            let positionMemory = try clBuffer(position, op: "embed", role: "position embeddings", needed: seq * hidden)
            var typeMemory: cl_mem? = nil
            if let tokenType {
                let types = tokenType.count / hidden
                typeMemory = try clBuffer(tokenType, op: "embed", role: "token-type embeddings", needed: hidden)
                if let typeIds, let bad = typeIds.firstIndex(where: { $0 < 0 || Int($0) >= types }) {
                    throw BackendError.invalidArgument(op: "embed", detail: "token type id \(typeIds[bad]) at row \(bad) outside 0..<\(types)")
                }
            }
            let gammaMemory = try clBuffer(gamma, op: "embed", role: "gamma", needed: hidden)
            let betaMemory = try clBuffer(beta, op: "embed", role: "beta", needed: hidden)
            let outMemory = try clBuffer(out, op: "embed", role: "out", needed: rows * hidden)
            guard rows > 0 else { return }
            let idsMemory = try intBuffer("ids", ids)
            // Without typeIds every row uses token type 0.
            let hasType = typeMemory != nil
            let typeIdsMemory = hasType ? try intBuffer("typeIds", typeIds ?? [Int32](repeating: 0, count: rows)) : idsMemory
            try launch("embed_layer_norm", [
                .buffer(idsMemory), .buffer(typeIdsMemory), .int(hasType ? 1 : 0), .int(seq), .int(hidden),
                .buffer(wordMemory), .buffer(positionMemory), .buffer(typeMemory ?? wordMemory),
                .buffer(gammaMemory), .buffer(betaMemory), .float(eps), .buffer(outMemory),
            ], global: [rows * parameters.rowGroupSize], local: [parameters.rowGroupSize])
        }
    }

    public func addLayerNorm(x: any DeviceBuffer, residual: any DeviceBuffer, rows: Int, cols: Int,
                             gamma: any DeviceBuffer, beta: any DeviceBuffer, eps: Float, out: any DeviceBuffer) throws {
        try enqueueLayerNorm(op: "addLayerNorm", x: x, residual: residual, rows: rows, cols: cols, gamma: gamma,
                             beta: beta, eps: eps, out: out)
    }

    public func layerNorm(x: any DeviceBuffer, rows: Int, cols: Int, gamma: any DeviceBuffer, beta: any DeviceBuffer,
                          eps: Float, out: any DeviceBuffer) throws {
        try enqueueLayerNorm(op: "layerNorm", x: x, residual: nil, rows: rows, cols: cols, gamma: gamma, beta: beta,
                             eps: eps, out: out)
    }

    /// `add_layer_norm` (with a residual) or `layer_norm` (without), one work-group per row.
    private func enqueueLayerNorm(op: String, x: any DeviceBuffer, residual: (any DeviceBuffer)?, rows: Int, cols: Int,
                                  gamma: any DeviceBuffer, beta: any DeviceBuffer, eps: Float, out: any DeviceBuffer) throws {
        try locked {
            guard rows >= 0, cols >= 1 else {
                throw BackendError.invalidArgument(op: op, detail: "rows \(rows), cols \(cols)")
            }
            let n = rows * cols
            let xMemory = try clBuffer(x, op: op, role: "x", needed: n)
            let residualMemory = try residual.map { try clBuffer($0, op: op, role: "residual", needed: n) }
            let gammaMemory = try clBuffer(gamma, op: op, role: "gamma", needed: cols)
            let betaMemory = try clBuffer(beta, op: op, role: "beta", needed: cols)
            let outMemory = try clBuffer(out, op: op, role: "out", needed: n)
            guard rows > 0 else { return }
            let inputs: [Argument] = residualMemory.map { [.buffer(xMemory), .buffer($0)] } ?? [.buffer(xMemory)]
            try launch(residualMemory == nil ? "layer_norm" : "add_layer_norm", inputs + [
                .int(cols), .buffer(gammaMemory), .buffer(betaMemory), .float(eps), .buffer(outMemory),
            ], global: [rows * parameters.rowGroupSize], local: [parameters.rowGroupSize])
        }
    }

    private func checkLengths(_ lengths: [Int32], batch: Int, seq: Int, op: String) throws {
        guard lengths.count == batch else {
            throw BackendError.invalidArgument(op: op, detail: "lengths has \(lengths.count) entries, batch is \(batch)")
        }
        if let bad = lengths.firstIndex(where: { $0 < 0 || Int($0) > seq }) {
            throw BackendError.invalidArgument(op: op, detail: "lengths[\(bad)] = \(lengths[bad]) outside 0...\(seq)")
        }
    }

    public func attention(qkv: any DeviceBuffer, lengths: [Int32], batch: Int, seq: Int, heads: Int, headDim: Int,
                          scale: Float, positionBias: (any DeviceBuffer)?, out: any DeviceBuffer) throws {
        try attention(qkv: qkv, lengths: lengths, batch: batch, seq: seq, heads: heads, headDim: headDim, scale: scale,
                      positionBias: positionBias, out: out, variant: defaultAttentionVariant)
    }

    /// The attention `attention` runs: the parameters' choice in fp32; always fused in fp16, so the scores and
    /// probabilities stay float32 in local memory (the unfused path would store them as half).
    public var defaultAttentionVariant: AttentionVariant { precision == .fp16 ? .fused : parameters.attentionVariant }

    /// Whether `attention` with `variant` runs the fused kernel for head size `headDim` (it needs
    /// headDim <= `KernelParameters.flashMaxHeadDim`; larger heads run unfused).
    public func usesFusedAttention(_ variant: AttentionVariant, headDim: Int) -> Bool {
        variant == .fused && headDim <= KernelParameters.flashMaxHeadDim
    }

    /// `attention` with an explicit variant (tests and `featurize bench-gemm --attention` compare both).
    /// qkv `[batch*seq, 3*heads*headDim]`, out `[batch*seq, heads*headDim]`, positionBias nil or `[heads, seq, seq]`.
    public func attention(qkv: any DeviceBuffer, lengths: [Int32], batch: Int, seq: Int, heads: Int, headDim: Int,
                          scale: Float, positionBias: (any DeviceBuffer)?, out: any DeviceBuffer,
                          variant: AttentionVariant) throws {
        try locked {
            guard batch >= 0, seq >= 1, heads >= 1, headDim >= 1 else {
                throw BackendError.invalidArgument(op: "attention", detail: "batch \(batch), seq \(seq), heads \(heads), headDim \(headDim)")
            }
            try checkLengths(lengths, batch: batch, seq: seq, op: "attention")
            let hidden = heads * headDim
            let qkvMemory = try clBuffer(qkv, op: "attention", role: "qkv", needed: batch * seq * 3 * hidden)
            let outMemory = try clBuffer(out, op: "attention", role: "out", needed: batch * seq * hidden)
            let biasMemory = try positionBias.map {
                try clBuffer($0, op: "attention", role: "positionBias", needed: heads * seq * seq)
            }
            guard batch > 0 else { return }
            let lengthsMemory = try intBuffer("lengths", lengths)
            let p = parameters
            if usesFusedAttention(variant, headDim: headDim) {
                try launch("flash_attention", [
                    .buffer(qkvMemory), .buffer(lengthsMemory), .int(seq), .int(heads), .int(headDim), .float(scale),
                    .buffer(biasMemory ?? qkvMemory), .int(biasMemory == nil ? 0 : 1), .buffer(outMemory),
                ], global: [(seq + p.flashBlockQ - 1) / p.flashBlockQ * p.flashGroupSize, heads, batch],
                   local: [p.flashGroupSize, 1, 1])
                return
            }

            let perSequence = heads * seq * seq
            let chunk = Swift.max(1, Swift.min(batch, maxScoreScratchElements / perSequence))
            let needed = chunk * perSequence
            if scoreScratch.map({ $0.count < needed }) ?? true {
                scoreScratch = nil
                scoreScratch = try allocateBuffer(count: needed)
            }
            let scores = scoreScratch!.memory
            let rowStride = 3 * hidden
            // CPU devices: float8 variants (dot products for Q·Kᵀ, outer products for P·V); GPUs: scalar blocks.
            let vectorKernels = p.gemmVariant == .registerBlocked
            var first = 0
            while first < batch {
                let count = Swift.min(chunk, batch - first)
                let matrices = count * heads
                // scores[z][i][j] = scale * Q_i · K_j
                try launch(vectorKernels ? "batched_gemm_nt_vec" : "batched_gemm", [
                    .int(seq), .int(seq), .int(headDim), .float(scale), .int(heads),
                    .buffer(qkvMemory), .int(first * seq * rowStride), .int(seq * rowStride), .int(headDim), .int(rowStride),
                    .buffer(qkvMemory), .int(first * seq * rowStride + hidden), .int(seq * rowStride), .int(headDim),
                    .int(1), .int(rowStride),
                    .buffer(scores), .int(0), .int(heads * seq * seq), .int(seq * seq), .int(seq),
                    .buffer(lengthsMemory), .int(-1),
                ], global: [(seq + p.batchedBlockN - 1) / p.batchedBlockN, (seq + p.batchedBlockM - 1) / p.batchedBlockM, matrices],
                   local: [p.batchedLocalN, p.batchedLocalM, 1])
                try launch("masked_softmax", [
                    .buffer(scores), .int(seq), .int(seq), .int(heads), .buffer(lengthsMemory), .int(first),
                    .buffer(biasMemory ?? scores), .int(biasMemory == nil ? 0 : 1),
                ], global: [matrices * seq * p.rowGroupSize], local: [p.rowGroupSize])
                // out[b, i, h*D + d] = sum_j P[i][j] * V_j[d]
                try launch(vectorKernels ? "batched_gemm_nn_vec" : "batched_gemm", [
                    .int(seq), .int(headDim), .int(seq), .float(1), .int(heads),
                    .buffer(scores), .int(0), .int(heads * seq * seq), .int(seq * seq), .int(seq),
                    .buffer(qkvMemory), .int(first * seq * rowStride + 2 * hidden), .int(seq * rowStride), .int(headDim),
                    .int(rowStride), .int(1),
                    .buffer(outMemory), .int(first * seq * hidden), .int(seq * hidden), .int(headDim), .int(hidden),
                    .buffer(lengthsMemory), .int(first),
                ], global: [vectorKernels ? (headDim + 7) / 8 : (headDim + p.batchedBlockN - 1) / p.batchedBlockN,
                            (seq + p.batchedBlockM - 1) / p.batchedBlockM, matrices],
                   local: [p.batchedLocalN, p.batchedLocalM, 1])
                first += count
            }
        }
    }

    public func pool(hidden: any DeviceBuffer, lengths: [Int32], batch: Int, seq: Int, cols: Int, mode: PoolingMode,
                     out: any DeviceBuffer, outOffset: Int, outStride: Int) throws {
        try locked {
            guard batch >= 0, seq >= 1, cols >= 1, outOffset >= 0, outStride >= 0 else {
                throw BackendError.invalidArgument(op: "pool", detail: "batch \(batch), seq \(seq), cols \(cols), outOffset \(outOffset), outStride \(outStride)")
            }
            try checkLengths(lengths, batch: batch, seq: seq, op: "pool")
            let hiddenMemory = try clBuffer(hidden, op: "pool", role: "hidden", needed: batch * seq * cols)
            let outMemory = try clBuffer(out, op: "pool", role: "out",
                                         needed: batch == 0 ? 0 : (batch - 1) * outStride + outOffset + cols)
            guard batch > 0 else { return }
            let lengthsMemory = try intBuffer("lengths", lengths)
            let modeCode: Int
            switch mode {
            case .cls: modeCode = 0
            case .mean: modeCode = 1
            case .max: modeCode = 2
            case .meanSqrtLen: modeCode = 3
            case .weightedMean: modeCode = 4
            case .last: modeCode = 5
            }
            let local = Swift.min(64, device.maxWorkGroupSize > 0 ? device.maxWorkGroupSize : 64)
            try launch("pool_tokens", [
                .buffer(hiddenMemory), .buffer(lengthsMemory), .int(seq), .int(cols), .int(modeCode),
                .buffer(outMemory), .int(outOffset), .int(outStride),
            ], global: [cols, batch], local: [local, 1])
        }
    }

    /// Fills `count` elements of `buffer` with `value` on the device (e.g. NaN to poison a buffer in tests).
    public func fill(_ buffer: any DeviceBuffer, value: Float, count: Int) throws {
        try locked {
            let memory = try clBuffer(buffer, op: "fill", role: "buffer", needed: count)
            try launch("fill_value", [.buffer(memory), .float(value), .int(count)], global: [count], local: nil)
        }
    }

    // MARK: Timing

    /// Runs the GEMM of `linear` (`variant`, default the backend's) `repetitions` times on existing buffers and
    /// returns each run's device time in seconds from event profiling. Needs `profiling: true` at init.
    public func timeLinear(input: any DeviceBuffer, rows: Int, inFeatures: Int, weight: any DeviceBuffer,
                           bias: (any DeviceBuffer)?, outFeatures: Int, activation: Activation?,
                           out: any DeviceBuffer, variant: GemmVariant? = nil, repetitions: Int) throws -> [Double] {
        try locked {
            var times: [Double] = []
            for _ in 0..<repetitions {
                guard let event = try enqueueLinear(input: input, rows: rows, inFeatures: inFeatures, weight: weight,
                                                    bias: bias, outFeatures: outFeatures, activation: activation,
                                                    out: out, variant: variant ?? parameters.gemmVariant,
                                                    wantEvent: true, tensorCores: variant == nil) else { return [] }
                defer { clReleaseEvent(event) }
                var e: cl_event? = event
                hostWaits += 1
                try check(clWaitForEvents(1, &e), call: "clWaitForEvents")
                var start: cl_ulong = 0, end: cl_ulong = 0
                try check(clGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_START), 8, &start, nil),
                          call: "clGetEventProfilingInfo")
                try check(clGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_END), 8, &end, nil),
                          call: "clGetEventProfilingInfo")
                times.append(Double(end &- start) * 1e-9)
            }
            return times
        }
    }
}

/// An asynchronous read of `OpenCLBackend.downloadAsync`: the host memory the device writes into (float or half
/// bits; a pinned region of the backend's pool where there is one), the read's event and the buffer (kept alive
/// until the read is done).
final class OpenCLPendingRead: PendingDownload {
    let host: UnsafeMutableRawPointer
    var event: cl_event?
    private let backend: OpenCLBackend
    private var buffer: (any DeviceBuffer)?
    private let count: Int
    private let elementSize: Int
    private let stagedBefore: Int
    /// The pinned region `host` points into until it goes back to the pool (nil: ordinary memory, or returned).
    private var pinned: PinnedHostPool.Region?
    /// Whether `host` is ordinary memory this read allocated (and frees); a pinned region is never freed here.
    private let ownsHost: Bool
    private var done = false

    init(backend: OpenCLBackend, buffer: any DeviceBuffer, count: Int, elementSize: Int, stagedBefore: Int,
         pinned: PinnedHostPool.Region?) {
        self.backend = backend; self.buffer = buffer
        self.count = count; self.elementSize = elementSize; self.stagedBefore = stagedBefore
        self.pinned = pinned
        ownsHost = pinned == nil
        host = pinned?.host ?? UnsafeMutableRawPointer.allocate(byteCount: count * elementSize, alignment: 64)
    }

    func wait() throws -> [Float] {
        guard !done else { throw BackendError.invalidArgument(op: "PendingDownload.wait", detail: "called twice") }
        done = true
        if let pending = event {
            var e: cl_event? = pending
            let status = clWaitForEvents(1, &e)
            clReleaseEvent(pending)
            event = nil
            buffer = nil
            try backend.check(status, call: "clWaitForEvents")
        }
        backend.finishedRead(stagedBefore: stagedBefore)
        let values: [Float]
        if elementSize == 2 {
            let bits = host.assumingMemoryBound(to: UInt16.self)
            values = (0..<count).map { halfBitsToFloat(bits[$0]) }
        } else {
            values = Array(UnsafeBufferPointer(start: host.assumingMemoryBound(to: Float.self), count: count))
        }
        if let region = pinned {
            pinned = nil
            backend.returnPinned(region)
        }
        return values
    }

    deinit {
        // The device may still write into `host`: wait for the read before freeing or reusing it.
        if let pending = event { var e: cl_event? = pending; clWaitForEvents(1, &e); clReleaseEvent(pending) }
        if let region = pinned { backend.returnPinned(region) }
        if ownsHost { host.deallocate() }
    }
}
