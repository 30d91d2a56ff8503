// swift-tools-version:6.0
// A package that uses Featurize as a library (by path here; by URL and version elsewhere). CI builds and runs
// it (`scripts/test.sh`), which proves that the `Featurize` product can be depended on: no unsafe flags.
import PackageDescription

let package = Package(
    name: "EmbedTexts",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "Featurize", path: "../..")],
    targets: [
        .executableTarget(name: "EmbedTexts", dependencies: [.product(name: "Featurize", package: "Featurize")]),
    ]
)
