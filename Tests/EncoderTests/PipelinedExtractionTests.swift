import Backend
import Foundation
import Featurize
@testable import OpenCLBackend
@testable import Scheduler
import Testing
import Tokenizer
@testable import Featurize

/// Pipelined batches on OpenCL (PoCL in CI): batch k+1 is enqueued before batch k's pooled download is waited
/// for, and the result is bit for bit the sequential one, in fp32 and fp16 (half bits converted at `wait`).
@Suite("Pipelined extraction on OpenCL", .serialized, .enabled(if: !DeviceRegistry.system.openCLDevices.isEmpty))
struct PipelinedExtractionTests {
    static func extractor(_ precision: ComputePrecision, model: String = "bert_gelu", batchSize: Int = 5) throws -> FeatureExtractor {
        let base = try #require(OpenCLDiscovery.registryDevices.first)
        let device = DeviceInfo(id: base.id, ordinal: base.ordinal, kind: base.kind, name: base.name,
                                memoryBytes: base.memoryBytes, capabilities: base.capabilities, details: base.details) { _ in
            try OpenCLBackend(deviceIndex: 0, precision: precision)
        }
        return try FeatureExtractor(modelDirectory: FixturePaths.model(model), batchSize: batchSize, device: device)
    }

    static func texts() throws -> [String] {
        try String(contentsOfFile: FixturePaths.file("texts.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
    }

    @Test("two batches submitted before either is waited for: waits == batches, values equal the sequential run",
          arguments: [ComputePrecision.fp32, .fp16])
    func twoBatchesInFlight(precision: ComputePrecision) throws {
        let extractor = try Self.extractor(precision)
        let backend = try #require(extractor.backend as? OpenCLBackend)
        let encodings = extractor.tokenize(try Self.texts())
        let a = Array(encodings.prefix(3)), b = Array(encodings.dropFirst(3).prefix(6))
        #expect(a.count == 3 && b.count == 6)
        let specs = [extractor.spec, PoolingSpec(methods: [.tokens(.max), .tokens(.cls)], layers: [-1, -2], layerReduce: .concat, normalize: true)]
        let sequentialA = try extractor.features(of: a, specs: specs)
        let sequentialB = try extractor.features(of: b, specs: specs)
        #expect(backend.stagedCopyCount == 0)

        let before = backend.hostWaitCount
        let pendingA = try extractor.submitFeatures(of: a, specs: specs)
        #expect(backend.hostWaitCount == before, "submitting batch A waited")
        let pendingB = try extractor.submitFeatures(of: b, specs: specs)
        // Ordering probe: B is enqueued while A has not been waited for.
        #expect(backend.hostWaitCount == before, "submitting batch B waited")
        #expect(backend.stagedCopyCount > 0)
        let pipelinedA = try pendingA.finish()
        #expect(backend.hostWaitCount == before + specs.count, "A: \(backend.hostWaitCount - before) waits")
        // A's wait freed A's staged uploads only: B's (enqueued after A's reads) are still alive.
        #expect(backend.stagedCopyCount > 0, "B's staged uploads were freed at A's wait")
        let pipelinedB = try pendingB.finish()
        #expect(backend.hostWaitCount == before + 2 * specs.count)
        #expect(backend.stagedCopyCount == 0)
        #expect(pipelinedA == sequentialA, "\(precision) batch A differs from the sequential run")
        #expect(pipelinedB == sequentialB, "\(precision) batch B differs from the sequential run")
        #expect(sequentialA[0].count == 3 * extractor.dimension && sequentialB[1].count == 6 * specs[1].outputDimension(hidden: extractor.model.config.hiddenSize))
    }

    @Test("the scheduler's pipelined worker: same rows bit for bit as pipeline off, one host wait per batch")
    func schedulerPipelinedEqualsSequential() throws {
        let extractor = try Self.extractor(.fp32, batchSize: 4)
        let backend = try #require(extractor.backend as? OpenCLBackend)
        let texts = try Self.texts()
        func run(pipeline: Bool) throws -> ([[Float]], SchedulerStats, Int) {
            var options = SchedulerOptions()
            options.pipeline = pipeline
            let scheduler = try BatchScheduler<String, Encoding>(
                devices: [extractor.executionDevice(name: "opencl")], fallback: nil,
                policy: BatchingPolicy(maxBatchTokens: 4 * extractor.maxLength, maxBatchSize: 4, window: 9), options: options)
            var rows: [[Float]] = []
            let waits = backend.hostWaitCount
            let stats = try scheduler.run(items: texts, prepare: { window in extractor.tokenize(window).map { ($0, $0.count) } },
                                          sink: { _, row in rows.append(row) })
            return (rows, stats, backend.hostWaitCount - waits)
        }
        let (sequential, s0, w0) = try run(pipeline: false)
        let (pipelined, s1, w1) = try run(pipeline: true)
        #expect(sequential.count == texts.count && s0.batches > 3)
        #expect(pipelined == sequential)
        #expect(w0 == s0.batches && w1 == s1.batches, "waits \(w0), \(w1) for \(s0.batches), \(s1.batches) batches")
        // The reads land in pinned host memory (PoCL supports CL_MEM_ALLOC_HOST_PTR), reused batch after batch:
        // at most one region per batch in flight (two) plus the sizes the batches' outputs grew to.
        let pinned = backend.pinnedHostMemory
        #expect(pinned.unavailable == nil, "pinned memory unavailable: \(pinned.unavailable ?? "")")
        #expect(pinned.regions >= 1 && pinned.regions <= 3, "\(pinned.regions) pinned regions for \(s0.batches + s1.batches) batches")
        // The batches' uploads are staged in pinned memory too, reused: far fewer regions than uploads.
        let uploads = backend.pinnedUploadMemory
        #expect(uploads.unavailable == nil, "pinned upload memory unavailable: \(uploads.unavailable ?? "")")
        #expect(uploads.regions >= 1 && uploads.regions <= 16, "\(uploads.regions) pinned upload regions for \(s0.batches + s1.batches) batches")
    }
}
