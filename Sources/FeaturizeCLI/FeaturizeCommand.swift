import ArgumentParser
import Featurize

@main
struct FeaturizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "featurize",
        abstract: "Turn text into features with pretrained transformer encoders, and train classifiers on them.",
        subcommands: [TokenizeCommand.self, ExtractCommand.self, MergeCommand.self, AblateCommand.self,
                      TrainCommand.self, PredictCommand.self, EvaluateCommand.self, DevicesCommand.self,
                      TuneCommand.self, QuantizeCommand.self, SelfTestCommand.self, BenchGemmCommand.self, BenchEncoderCommand.self, BenchCPUCommand.self])
}
