// swift-tools-version:6.0
import PackageDescription

/// Featurize: text -> features with pretrained transformer encoders.
/// One module per concern; see docs/ARCHITECTURE.md.
let optimized: [SwiftSetting] = [
    // Real AVX2/FMA code for the Swift SIMD loops (see platform-notes: without it SIMD FMA calls libm fmaf).
    .unsafeFlags(["-target-cpu", "haswell"]),
]

let package = Package(
    name: "Featurize",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "featurize", targets: ["FeaturizeCLI"]),
        .library(name: "Featurize", targets: ["Featurize"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries.
        .systemLibrary(name: "COpenCL", path: "Sources/COpenCL", pkgConfig: "OpenCL",
                       providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),

        // Kernel sources (top-level Kernels/), embedded as Swift strings at build time.
        .executableTarget(name: "EmbedKernelsTool", path: "Sources/EmbedKernelsTool"),
        .plugin(name: "EmbedKernels", capability: .buildTool(), dependencies: ["EmbedKernelsTool"],
                path: "Plugins/EmbedKernels"),
        .target(name: "Kernels", path: "Kernels", exclude: ["README.md"], plugins: ["EmbedKernels"]),

        // Core modules.
        .target(name: "Tokenizer", swiftSettings: optimized),
        .target(name: "ModelIO"),
        .target(name: "Backend"),
        // CPUBackend's SIMD loops are ~100x slower unoptimised (generic SIMD witnesses), which made the
        // parity tests take minutes in debug builds: optimise it in debug too.
        // Packed-weight SGEMM micro-kernel in C (AVX2 + FMA intrinsics), optimised in every configuration.
        .target(name: "CPUKernels", cSettings: [.unsafeFlags(["-O3", "-mavx2", "-mfma"])]),
        .target(name: "CPUBackend", dependencies: ["Backend", "CBLAS", "CPUKernels"],
                swiftSettings: optimized + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "OpenCLBackend", dependencies: ["Backend", "COpenCL", "Kernels"], swiftSettings: optimized),
        .target(name: "Encoder", dependencies: ["Backend", "ModelIO"]),
        .target(name: "Pooling", dependencies: ["Backend"], swiftSettings: optimized),
        .target(name: "FeatureIO", dependencies: ["ModelIO"]),
        .target(name: "Scheduler", dependencies: ["Backend", "FeatureIO"]),
        .target(name: "Classifier", dependencies: ["FeatureIO"], swiftSettings: optimized),
        .target(name: "Featurize", dependencies: [
            "Tokenizer", "ModelIO", "FeatureIO", "Backend", "CPUBackend", "OpenCLBackend", "Encoder", "Pooling",
            "Scheduler", "Classifier",
        ]),
        .executableTarget(name: "FeaturizeCLI", dependencies: [
            "Featurize", "Classifier", "Scheduler", "FeatureIO", "CPUBackend", "Backend", "Encoder", "ModelIO",
            "OpenCLBackend", "Tokenizer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // libFuzzer targets (issue 7); FUZZ_TARGET selects one. scripts/fuzz.sh builds it with the fuzzer.
        .executableTarget(name: "FeaturizeFuzz", dependencies: ["ModelIO", "FeatureIO", "Scheduler", "Tokenizer"]),

        // Tests.
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelIOTests", dependencies: ["ModelIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "BackendTests", dependencies: ["Backend", "CPUBackend", "OpenCLBackend"]),
        .testTarget(name: "EncoderTests", dependencies: ["Featurize"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ClassifierTests", dependencies: ["Classifier"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "FeatureIO"]),
        .testTarget(name: "CLITests", dependencies: ["Featurize", "FeatureIO", "ModelIO", "Scheduler", "Tokenizer"]),
    ],
    swiftLanguageModes: [.v5]
)
