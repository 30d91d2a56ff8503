// swift-tools-version:6.0
import PackageDescription

/// Featurize: text -> features with pretrained transformer encoders.
/// One module per concern; see docs/ARCHITECTURE.md.
//
// No unsafe flags: the package builds for any CPU and can be used as a versioned dependency. The hot loops
// that need AVX2/FMA are C in `CPUKernels`, compiled per function with target attributes and chosen at run
// time by CPU feature detection (portable C elsewhere). Swift code uses no `addingProduct` (without a
// haswell target it would call libm `fmaf`). `scripts/test.sh` builds debug tests with `-Xcc -O3` so the C
// kernels are optimised there too.

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
        .target(name: "Tokenizer", dependencies: ["DataFormats"]),
        .target(name: "DataFormats"),
        .target(name: "ModelIO", dependencies: ["DataFormats"]),
        .target(name: "Backend"),
        // CPU kernels in C: packed-weight SGEMM, attention, row kernels; AVX2+FMA variants picked at run time.
        .target(name: "CPUKernels"),
        .target(name: "CPUBackend", dependencies: ["Backend", "CBLAS", "CPUKernels", "Pooling"]),
        // The oracle: plain loops as a ComputeBackend; every backend is tested against it.
        .target(name: "ReferenceBackend", dependencies: ["Backend", "Pooling"]),
        .target(name: "OpenCLBackend", dependencies: ["Backend", "COpenCL", "DataFormats", "Kernels", "ReferenceBackend"]),
        .target(name: "Encoder", dependencies: ["Backend", "ModelIO"]),
        .target(name: "Pooling", dependencies: ["Backend"]),
        .target(name: "FeatureIO", dependencies: ["DataFormats"]),
        .target(name: "Scheduler", dependencies: ["Backend", "FeatureIO"]),
        .target(name: "Classifier", dependencies: ["DataFormats", "FeatureIO"]),
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
        .testTarget(name: "TokenizerTests", dependencies: ["DataFormats", "Tokenizer"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelIOTests", dependencies: ["ModelIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "BackendTests", dependencies: ["Backend", "CPUBackend", "CPUKernels", "DataFormats", "OpenCLBackend", "Pooling", "ReferenceBackend"]),
        .testTarget(name: "EncoderTests", dependencies: ["Featurize"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ClassifierTests", dependencies: ["Classifier"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "FeatureIO"]),
        .testTarget(name: "CLITests", dependencies: ["Featurize", "FeatureIO", "ModelIO", "Scheduler", "Tokenizer"]),
    ],
    swiftLanguageModes: [.v5]
)
