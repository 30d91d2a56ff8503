import COpenCL

/// Page-locked ("pinned") host memory for the asynchronous reads of `OpenCLBackend.downloadAsync` and the staged
/// copies of its non-blocking uploads.
///
/// A read into ordinary (pageable) host memory cannot be a DMA transfer: NVIDIA's OpenCL, like CUDA's
/// `cudaMemcpyAsync` to pageable memory, finishes such a read before `clEnqueueReadBuffer` returns even when it is
/// asked not to block, so it waits for the whole forward pass queued before it and the next batch cannot be
/// submitted meanwhile (and an upload from pageable memory may wait for the queue before it is staged). The
/// portable way to get pinned memory in OpenCL 1.2 is a buffer created with
/// `CL_MEM_ALLOC_HOST_PTR` and mapped once: the mapped pointer is then the destination of the reads.
///
/// Regions are reused (a batch's pooled output has the same size every batch); mapping and unmapping run on a
/// queue of their own, so creating a region never waits for the compute queue. When a region cannot be created
/// (`CL_MEM_ALLOC_HOST_PTR` refused, mapping failed) the pool turns itself off and callers use ordinary memory.
/// Not thread-safe: `OpenCLBackend` calls it under its lock.
final class PinnedHostPool {
    /// One mapped `CL_MEM_ALLOC_HOST_PTR` buffer: `host` is valid for `bytes` bytes until the pool is freed.
    final class Region {
        let memory: cl_mem
        let host: UnsafeMutableRawPointer
        let bytes: Int
        init(memory: cl_mem, host: UnsafeMutableRawPointer, bytes: Int) {
            self.memory = memory; self.host = host; self.bytes = bytes
        }
    }

    private let context: cl_context
    private let mapQueue: cl_command_queue?
    private var free: [Region] = []
    /// Regions created so far (tests: reuse keeps this at one or two over many batches).
    private(set) var created = 0
    /// Why pinned memory is not used (nil while it is).
    private(set) var unavailableReason: String?
    /// Most free regions kept; more are released.
    let keptRegions: Int

    init(context: cl_context, device: cl_device_id, keptRegions: Int) {
        self.context = context
        self.keptRegions = keptRegions
        var status: cl_int = 0
        let queue = clCreateCommandQueue(context, device, 0, &status)
        if status == CL_SUCCESS, let queue {
            mapQueue = queue
        } else {
            mapQueue = nil
            unavailableReason = "clCreateCommandQueue for mapping failed with \(openCLErrorName(Int(status)))"
        }
    }

    /// A region of at least `bytes` bytes, from the free list or newly mapped; nil when pinned memory is unavailable.
    func take(bytes: Int) -> Region? {
        if let i = free.firstIndex(where: { $0.bytes >= bytes }) { return free.remove(at: i) }
        guard unavailableReason == nil, let mapQueue, bytes > 0 else { return nil }
        let size = (bytes + 65_535) / 65_536 * 65_536
        var status: cl_int = 0
        guard let memory = clCreateBuffer(context, cl_mem_flags(CL_MEM_ALLOC_HOST_PTR | CL_MEM_READ_WRITE), size, nil, &status),
              status == CL_SUCCESS else {
            unavailableReason = "clCreateBuffer(CL_MEM_ALLOC_HOST_PTR, \(size) bytes) failed with \(openCLErrorName(Int(status)))"
            return nil
        }
        let mapped = clEnqueueMapBuffer(mapQueue, memory, cl_bool(CL_TRUE), cl_map_flags(CL_MAP_READ | CL_MAP_WRITE), 0, size,
                                        0, nil, nil, &status)
        guard status == CL_SUCCESS, let mapped else {
            clReleaseMemObject(memory)
            unavailableReason = "clEnqueueMapBuffer of pinned memory failed with \(openCLErrorName(Int(status)))"
            return nil
        }
        created += 1
        return Region(memory: memory, host: mapped, bytes: size)
    }

    /// Returns a region once no read writes into it any more.
    func give(_ region: Region) {
        free.append(region)
        if free.count > keptRegions, let smallest = free.indices.min(by: { free[$0].bytes < free[$1].bytes }) {
            release(free.remove(at: smallest))
        }
    }

    private func release(_ region: Region) {
        if let mapQueue {
            clEnqueueUnmapMemObject(mapQueue, region.memory, region.host, 0, nil, nil)
            clFinish(mapQueue)
        }
        clReleaseMemObject(region.memory)
    }

    deinit {
        for region in free { release(region) }
        if let mapQueue { clReleaseCommandQueue(mapQueue) }
    }
}
