import Backend
import DataFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which GEMM kernel `linear` uses.
public enum GemmVariant: String, Sendable, CaseIterable {
    /// Local-memory tiles + register blocking + vector loads (`gemm_nt_tiled`): GPUs.
    case tiled
    /// float8 dot products, register block, no barriers (`gemm_nt_cpu`): the variant for CPU devices (PoCL).
    case registerBlocked = "register-blocked"

    /// Parses a variant name; `cpu` is the name tuning files written before 2026-11-30 use.
    public init?(name: String) {
        if name == "cpu" { self = .registerBlocked } else { self.init(rawValue: name) }
    }
}

/// How `attention` runs on the device.
public enum AttentionVariant: String, Sendable, CaseIterable {
    /// One kernel (`flash_attention`): Q tile in local memory, streaming K/V tiles, online softmax; the
    /// probabilities never reach global memory. The GPU default; head sizes up to `KernelParameters.flashMaxHeadDim`.
    case fused
    /// Batched Q·Kᵀ into a score buffer, masked softmax, batched P·V (three kernels). The CPU-device default.
    case unfused
}

/// Per-device kernel parameters. They become `-D` build options (tile sizes are never constants in the
/// kernel sources). Defaults come from a small table keyed by device type and vendor; a tuning file written by
/// `featurize tune` overrides them.
public struct KernelParameters: Equatable, Sendable, CustomStringConvertible {
    public var gemmVariant: GemmVariant
    /// Tiled GEMM: C tile per work-group (rows, columns), K step, register block per work-item, vector width.
    public var tileM: Int
    public var tileN: Int
    public var tileK: Int
    public var workPerThreadM: Int
    public var workPerThreadN: Int
    public var vectorWidth: Int
    /// CPU GEMM: register block (rows x columns of C) per work-item, and the work-group size along columns.
    public var cpuBlockM: Int
    public var cpuBlockN: Int
    public var cpuLocalSize: Int
    /// Batched (attention) GEMM register block per work-item and its 2-D work-group (columns x rows).
    public var batchedBlockM: Int
    public var batchedBlockN: Int
    public var batchedLocalN: Int
    public var batchedLocalM: Int
    /// Work-group size of the row kernels (layer norm, embedding, softmax); a power of two.
    public var rowGroupSize: Int
    /// 1: GELU uses a polynomial erf (|error| <= 1.5e-7; CPU devices, where the library erf is slow);
    /// 0: the OpenCL built-in erf.
    public var approximateErf: Int = 0
    /// Tiled GEMM: 1 = double-buffered local tiles (`GEMM_DB`: the next K tile loads while the current one
    /// computes, one barrier per step, twice the local memory); 0 = one buffer, two barriers per step.
    public var doubleBufferGemm: Int = 0
    /// Fused or three-kernel attention (head sizes over `flashMaxHeadDim` always run unfused).
    public var attentionVariant: AttentionVariant = .fused
    /// Fused attention: query rows per work-group (`FA_BQ`), keys per streamed K/V tile (`FA_BK`) and
    /// work-items per group (`FA_WG`).
    public var flashBlockQ: Int = 16
    public var flashBlockK: Int = 16
    public var flashGroupSize: Int = 128
    /// Largest head size of the fused attention kernel (`FA_DMAX`; its local arrays are sized by it).
    public static let flashMaxHeadDim = 128

    /// Local memory of `flash_attention` in bytes for these block sizes.
    public var flashLocalMemory: Int {
        let d = Self.flashMaxHeadDim
        return 4 * (flashBlockQ * d + flashBlockK * (d + 1) + flashBlockK * d + flashBlockQ * flashBlockK + 3 * flashBlockQ
                    + flashGroupSize)
    }

    public init(gemmVariant: GemmVariant, tileM: Int, tileN: Int, tileK: Int, workPerThreadM: Int,
                workPerThreadN: Int, vectorWidth: Int, cpuBlockM: Int, cpuBlockN: Int, cpuLocalSize: Int,
                batchedBlockM: Int, batchedBlockN: Int, batchedLocalN: Int, batchedLocalM: Int,
                rowGroupSize: Int, approximateErf: Int = 0) {
        self.gemmVariant = gemmVariant
        self.tileM = tileM; self.tileN = tileN; self.tileK = tileK
        self.workPerThreadM = workPerThreadM; self.workPerThreadN = workPerThreadN; self.vectorWidth = vectorWidth
        self.cpuBlockM = cpuBlockM; self.cpuBlockN = cpuBlockN; self.cpuLocalSize = cpuLocalSize
        self.batchedBlockM = batchedBlockM; self.batchedBlockN = batchedBlockN
        self.batchedLocalN = batchedLocalN; self.batchedLocalM = batchedLocalM
        self.rowGroupSize = rowGroupSize
        self.approximateErf = approximateErf
    }

    /// Safe for any OpenCL 1.2 GPU (256 work-items, 8.3 KB local memory).
    public static let gpuDefault = KernelParameters(
        gemmVariant: .tiled, tileM: 64, tileN: 64, tileK: 16, workPerThreadM: 4, workPerThreadN: 4,
        vectorWidth: 4, cpuBlockM: 4, cpuBlockN: 2, cpuLocalSize: 8,
        batchedBlockM: 2, batchedBlockN: 2, batchedLocalN: 16, batchedLocalM: 8, rowGroupSize: 128)

    /// Small GPUs / devices with under 256 work-items per group (64 work-items, 4.2 KB local memory for the
    /// GEMM, 12.9 KB for fused attention with 8 x 8 blocks).
    public static let smallGPU: KernelParameters = {
        var p = KernelParameters(
            gemmVariant: .tiled, tileM: 32, tileN: 32, tileK: 16, workPerThreadM: 4, workPerThreadN: 4,
            vectorWidth: 4, cpuBlockM: 4, cpuBlockN: 2, cpuLocalSize: 8,
            batchedBlockM: 2, batchedBlockN: 2, batchedLocalN: 8, batchedLocalM: 8, rowGroupSize: 64)
        p.flashBlockQ = 8; p.flashBlockK = 8; p.flashGroupSize = 64
        return p
    }()

    /// CPU devices (PoCL): barrier-free register-blocked kernels, work-group of one for the row kernels.
    /// Attention runs unfused (the fused kernel's work-group barriers are slow on CPU devices).
    public static let cpuDefault: KernelParameters = {
        var p = KernelParameters(
            gemmVariant: .registerBlocked, tileM: 32, tileN: 32, tileK: 16, workPerThreadM: 4, workPerThreadN: 4,
            vectorWidth: 4, cpuBlockM: 4, cpuBlockN: 2, cpuLocalSize: 8,
            batchedBlockM: 4, batchedBlockN: 4, batchedLocalN: 4, batchedLocalM: 1, rowGroupSize: 1,
            approximateErf: 1)
        p.attentionVariant = .unfused
        return p
    }()

    /// Table defaults for a device (by type, then vendor / name); unknown devices get the safe defaults.
    public static func defaults(for device: OpenCLDeviceInfo) -> KernelParameters {
        fittingFlashBlocks(tableDefaults(for: device), maxWorkGroupSize: device.maxWorkGroupSize,
                           localMemory: device.localMemory)
    }

    /// `p` with fused-attention blocks that fit a device of these limits (0: unknown). The program always
    /// contains `flash_attention`, so its local arrays and work-group must fit even when attention runs unfused:
    /// smaller blocks for small devices, and below 8 x 8 the fused kernel is not worth running (`unfused`).
    public static func fittingFlashBlocks(_ p: KernelParameters, maxWorkGroupSize: Int, localMemory: Int) -> KernelParameters {
        func fits(_ q: KernelParameters) -> Bool {
            (maxWorkGroupSize <= 0 || q.flashGroupSize <= maxWorkGroupSize)
                && (localMemory <= 0 || q.flashLocalMemory <= localMemory)
        }
        guard !fits(p) else { return p }
        var q = p
        for (bq, bk, wg) in [(8, 8, 64), (4, 4, 32), (2, 2, 8), (1, 1, 2)] {
            q.flashBlockQ = bq; q.flashBlockK = bk; q.flashGroupSize = wg
            if fits(q) { break }
        }
        if q.flashBlockQ < 8 { q.attentionVariant = .unfused }
        return q
    }

    private static func tableDefaults(for device: OpenCLDeviceInfo) -> KernelParameters {
        switch device.type {
        case .cpu: return .cpuDefault
        default:
            let vendor = device.vendor.lowercased() + " " + device.name.lowercased()
            if device.maxWorkGroupSize < 256 || device.localMemory < 16 * 1024 { return .smallGPU }
            var p = KernelParameters.gpuDefault
            if vendor.contains("nvidia") {
                // `featurize tune` on an H200 (driver 580): 64x64x32, 4x4 per work-item, float4 loads gave
                // 19.6 TFLOP/s at the MiniLM shapes vs 16.7 for 128x128x16 8x8 (Benchmarks/results).
                p.tileM = 64; p.tileN = 64; p.tileK = 32; p.workPerThreadM = 4; p.workPerThreadN = 4
            } else if vendor.contains("advanced micro devices") || vendor.contains("amd") {
                p.tileM = 64; p.tileN = 64; p.workPerThreadM = 4; p.workPerThreadN = 4
            }
            return p
        }
    }

    /// Problems that make these parameters unusable on `device`, or nil.
    public func validationProblem(for device: OpenCLDeviceInfo) -> String? {
        func isPowerOfTwo(_ v: Int) -> Bool { v > 0 && v & (v - 1) == 0 }
        if ![1, 2, 4, 8].contains(vectorWidth) { return "vectorWidth \(vectorWidth) not in 1, 2, 4, 8" }
        if tileK <= 0 || tileK % vectorWidth != 0 { return "tileK \(tileK) not a multiple of vectorWidth" }
        if workPerThreadM <= 0 || workPerThreadN <= 0 || tileM % workPerThreadM != 0 || tileN % workPerThreadN != 0 {
            return "tile \(tileM)x\(tileN) not divisible by work per thread \(workPerThreadM)x\(workPerThreadN)"
        }
        let threads = (tileM / workPerThreadM) * (tileN / workPerThreadN)
        if device.maxWorkGroupSize > 0, threads > device.maxWorkGroupSize {
            return "tiled GEMM needs \(threads) work-items per group; device allows \(device.maxWorkGroupSize)"
        }
        if doubleBufferGemm != 0 && doubleBufferGemm != 1 { return "doubleBufferGemm must be 0 or 1" }
        let local = tileK * (tileM + tileN + 2) * 4 * (doubleBufferGemm + 1)
        if device.localMemory > 0, local > device.localMemory {
            return "tiled GEMM needs \(local) bytes of local memory; device has \(device.localMemory)"
        }
        for (name, v) in [("cpuBlockM", cpuBlockM), ("cpuBlockN", cpuBlockN), ("batchedBlockM", batchedBlockM),
                          ("batchedBlockN", batchedBlockN)] where v < 1 || v > 16 {
            return "\(name) \(v) outside 1...16"
        }
        if cpuLocalSize < 1 || batchedLocalN < 1 || batchedLocalM < 1 { return "local sizes must be >= 1" }
        if device.maxWorkGroupSize > 0, batchedLocalN * batchedLocalM > device.maxWorkGroupSize
            || cpuLocalSize > device.maxWorkGroupSize || rowGroupSize > device.maxWorkGroupSize {
            return "a work-group size exceeds the device's \(device.maxWorkGroupSize)"
        }
        if approximateErf != 0 && approximateErf != 1 { return "approximateErf must be 0 or 1" }
        if !isPowerOfTwo(rowGroupSize) { return "rowGroupSize \(rowGroupSize) is not a power of two" }
        if flashBlockQ < 1 || flashBlockQ > 64 || flashBlockK < 1 || flashBlockK > 64 {
            return "flashBlockQ \(flashBlockQ) / flashBlockK \(flashBlockK) outside 1...64"
        }
        if flashGroupSize < 1 || flashGroupSize > 1024 { return "flashGroupSize \(flashGroupSize) outside 1...1024" }
        if flashBlockQ * Self.flashMaxHeadDim > 64 * flashGroupSize {
            return "fused attention: \(flashBlockQ * Self.flashMaxHeadDim / flashGroupSize) accumulators per work-item (max 64)"
        }
        if device.maxWorkGroupSize > 0, flashGroupSize > device.maxWorkGroupSize {
            return "flashGroupSize \(flashGroupSize) exceeds the device's \(device.maxWorkGroupSize) work-items"
        }
        if device.localMemory > 0, flashLocalMemory > device.localMemory {
            return "fused attention needs \(flashLocalMemory) bytes of local memory; device has \(device.localMemory)"
        }
        return nil
    }

    /// The `-D` options the kernels are built with.
    public var buildOptions: String {
        "-DTS_M=\(tileM) -DTS_N=\(tileN) -DTS_K=\(tileK) -DWPT_M=\(workPerThreadM) -DWPT_N=\(workPerThreadN) "
            + "-DVW=\(vectorWidth) -DCPU_RM=\(cpuBlockM) -DCPU_RN=\(cpuBlockN) -DBG_RM=\(batchedBlockM) "
            + "-DBG_RN=\(batchedBlockN) -DROW_WG=\(rowGroupSize) -DERF_APPROX=\(approximateErf) "
            + "-DFA_BQ=\(flashBlockQ) -DFA_BK=\(flashBlockK) -DFA_WG=\(flashGroupSize) -DFA_DMAX=\(Self.flashMaxHeadDim) "
            + "-DGEMM_DB=\(doubleBufferGemm)"
    }

    public var description: String { serialized.split(separator: "\n").joined(separator: " ") }

    /// The GEMM part in one short phrase, e.g. "tiled 64x64x16 wpt 4x4 vw4" or "register-blocked 4x2 local 8".
    public var gemmSummary: String {
        switch gemmVariant {
        case .tiled: return "tiled \(tileM)x\(tileN)x\(tileK) wpt \(workPerThreadM)x\(workPerThreadN) vw\(vectorWidth)"
        case .registerBlocked: return "register-blocked \(cpuBlockM)x\(cpuBlockN) local \(cpuLocalSize)"
        }
    }

    // MARK: Tuning file (one `key = value` per line; `#` comments)

    private static let keys: [(String, WritableKeyPath<KernelParameters, Int>)] = [
        ("tileM", \.tileM), ("tileN", \.tileN), ("tileK", \.tileK), ("workPerThreadM", \.workPerThreadM),
        ("workPerThreadN", \.workPerThreadN), ("vectorWidth", \.vectorWidth), ("cpuBlockM", \.cpuBlockM),
        ("cpuBlockN", \.cpuBlockN), ("cpuLocalSize", \.cpuLocalSize), ("batchedBlockM", \.batchedBlockM),
        ("batchedBlockN", \.batchedBlockN), ("batchedLocalN", \.batchedLocalN),
        ("batchedLocalM", \.batchedLocalM), ("rowGroupSize", \.rowGroupSize), ("approximateErf", \.approximateErf),
        ("flashBlockQ", \.flashBlockQ), ("flashBlockK", \.flashBlockK), ("flashGroupSize", \.flashGroupSize),
        ("doubleBufferGemm", \.doubleBufferGemm),
    ]

    /// The tuning-file text of these parameters.
    public var serialized: String {
        var lines = ["gemmVariant = \(gemmVariant.rawValue)", "attentionVariant = \(attentionVariant.rawValue)"]
        for (key, path) in Self.keys { lines.append("\(key) = \(self[keyPath: path])") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses tuning-file text over `base` (keys not present keep base's values). Throws on unknown keys or
    /// bad values, naming the line.
    public static func parse(_ text: String, over base: KernelParameters, source: String) throws -> KernelParameters {
        var result = base
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
            guard parts.count == 2 else {
                throw BackendError.invalidArgument(op: "tuning file", detail: "\(source):\(number + 1): expected key = value")
            }
            if parts[0] == "gemmVariant" {
                guard let v = GemmVariant(name: parts[1]) else {
                    throw BackendError.invalidArgument(op: "tuning file", detail: "\(source):\(number + 1): unknown gemmVariant '\(parts[1])'")
                }
                result.gemmVariant = v
            } else if parts[0] == "attentionVariant" {
                guard let v = AttentionVariant(rawValue: parts[1]) else {
                    throw BackendError.invalidArgument(op: "tuning file", detail: "\(source):\(number + 1): unknown attentionVariant '\(parts[1])' (fused or unfused)")
                }
                result.attentionVariant = v
            } else if let (_, path) = keys.first(where: { $0.0 == parts[0] }) {
                guard let v = Int(parts[1]) else {
                    throw BackendError.invalidArgument(op: "tuning file", detail: "\(source):\(number + 1): '\(parts[1])' is not an integer")
                }
                result[keyPath: path] = v
            } else {
                throw BackendError.invalidArgument(op: "tuning file", detail: "\(source):\(number + 1): unknown key '\(parts[0])'")
            }
        }
        return result
    }

    /// Where `featurize tune` stores the winners for `device`:
    /// `<cache dir>/tuning/<device name>-<driver version>.params`.
    public static func tuningFilePath(for device: OpenCLDeviceInfo) -> String {
        let safe = (device.name + "-" + device.driverVersion).map { c -> Character in
            c.isLetter || c.isNumber || c == "." || c == "-" ? c : "_"
        }
        return KernelCache.cacheDirectory() + "/tuning/" + String(safe) + ".params"
    }

    /// Writes `parameters` as `device`'s tuning file (with a `#` comment line first).
    public static func writeTuningFile(_ parameters: KernelParameters, for device: OpenCLDeviceInfo, comment: String) throws {
        let path = tuningFilePath(for: device)
        let text = "# \(comment)\n# device: \(device.name), driver \(device.driverVersion)\n" + parameters.serialized
        guard KernelCache.writeBytes(Array(text.utf8), to: path) else {
            throw BackendError.unavailable(reason: "cannot write tuning file \(path)")
        }
    }

    /// Table defaults for `device`, overridden by its tuning file when one exists and is valid. Returns the
    /// parameters and a note on where they came from (or why a tuning file was ignored).
    public static func resolved(for device: OpenCLDeviceInfo) -> (KernelParameters, String) {
        let base = defaults(for: device)
        let path = tuningFilePath(for: device)
        guard let text = KernelCache.readText(path) else { return (base, "built-in table") }
        do {
            let tuned = try parse(text, over: base, source: path)
            if let problem = tuned.validationProblem(for: device) {
                return (base, "built-in table (ignored \(path): \(problem))")
            }
            return (tuned, path)
        } catch {
            return (base, "built-in table (ignored \(error))")
        }
    }
}

extension Substring {
    var trimmingSpaces: String {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}

/// Minimal file helpers on the C library (keeps the module free of Foundation).
enum KernelCache {
    /// `$FEATURIZE_CACHE_DIR`, else `$HOME/.cache/featurize`, else `/tmp/featurize-cache`.
    static func cacheDirectory() -> String {
        if let dir = getenv("FEATURIZE_CACHE_DIR"), dir.pointee != 0 { return String(cString: dir) }
        if let home = getenv("HOME"), home.pointee != 0 { return String(cString: home) + "/.cache/featurize" }
        return "/tmp/featurize-cache"
    }

    static func readBytes(_ path: String) -> [UInt8]? { try? FileSystem.readBytes(path) }

    static func readText(_ path: String) -> String? {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes atomically after creating the parent directory (a cache: failure only costs a rebuild).
    @discardableResult
    static func writeBytes(_ bytes: [UInt8], to path: String) -> Bool {
        if let slash = path.lastIndex(of: "/") { try? FileSystem.makeDirectories(String(path[..<slash])) }
        return (try? FileSystem.writeAtomically(bytes, to: path)) != nil
    }

    /// 64-bit FNV-1a hash.
    static func fnv1a(_ bytes: some Sequence<UInt8>, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = seed
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash
    }

    static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

extension KernelParameters {
    /// The parameter sets `featurize tune` times on `device`: the defaults, then register blocks and local sizes
    /// of the CPU-shaped GEMM (CPU devices) or tile shapes of the tiled GEMM (GPUs); only sets valid for the
    /// device, each once.
    public static func tuningCandidates(for info: OpenCLDeviceInfo) -> [KernelParameters] {
        let base = KernelParameters.defaults(for: info)
        var candidates: [KernelParameters] = [base]
        if info.type == .cpu {
            for (m, n) in [(2, 2), (4, 2), (2, 4), (3, 4), (4, 3), (4, 4), (6, 2), (8, 1), (1, 8)] {
                for local in [1, 8] {
                    var p = base
                    p.gemmVariant = .registerBlocked; p.cpuBlockM = m; p.cpuBlockN = n; p.cpuLocalSize = local
                    candidates.append(p)
                }
            }
        } else {
            for (tm, tn, tk, wm, wn, vw) in [(64, 64, 16, 4, 4, 4), (128, 128, 16, 8, 8, 4), (128, 64, 16, 8, 4, 4),
                                             (64, 128, 16, 4, 8, 4), (128, 128, 8, 8, 8, 4), (64, 64, 32, 4, 4, 4),
                                             (128, 128, 16, 8, 8, 8), (32, 32, 16, 4, 4, 4), (64, 64, 16, 4, 4, 2),
                                             (128, 128, 32, 8, 8, 4), (128, 64, 32, 8, 4, 4)] {
                for doubleBuffer in [0, 1] {
                    var p = base
                    p.gemmVariant = .tiled
                    p.tileM = tm; p.tileN = tn; p.tileK = tk; p.workPerThreadM = wm; p.workPerThreadN = wn; p.vectorWidth = vw
                    p.doubleBufferGemm = doubleBuffer
                    candidates.append(p)
                }
            }
        }
        var seen: [KernelParameters] = []
        candidates = candidates.filter { p in
            guard p.validationProblem(for: info) == nil, !seen.contains(p) else { return false }
            seen.append(p)
            return true
        }
        return candidates
    }
}
