import ArgumentParser
import Featurize

// Top-level entry (not `@main`: a `main.swift` is top-level code once the target has several files).
struct FeaturizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "featurize",
        abstract: "Turn text into features with pretrained transformer encoders, and train classifiers on them.",
        subcommands: [DevicesCommand.self, TuneCommand.self, SelfTestCommand.self, BenchGemmCommand.self])
}

FeaturizeCommand.main()
