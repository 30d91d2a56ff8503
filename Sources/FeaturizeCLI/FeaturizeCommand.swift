import ArgumentParser
import Featurize
#if canImport(Glibc)
import Glibc
#endif

@main
struct FeaturizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "featurize",
        abstract: "Turn text into features with pretrained transformer encoders, and train classifiers on them.",
        subcommands: [TokenizeCommand.self, ExtractCommand.self, MergeCommand.self, AblateCommand.self,
                      TrainCommand.self, PredictCommand.self, EvaluateCommand.self, DevicesCommand.self,
                      TuneCommand.self, QuantizeCommand.self, SelfTestCommand.self, BenchGemmCommand.self, BenchEncoderCommand.self, BenchCPUCommand.self])

    /// As ArgumentParser's, except that a setting found wrong while a subcommand runs (a `ValidationError`
    /// from `run()`, e.g. a layer out of the model's range) prints its message and that subcommand's help
    /// hint, not the top-level usage; exit 64 as before.
    static func main() {
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do { try command.run() } catch let error as ValidationError {
            let name = type(of: command).configuration.commandName ?? "featurize"
            StandardError.write("Error: \(error.message)\n  See 'featurize \(name) --help' for more information.\n")
            Glibc.exit(ExitCode.validationFailure.rawValue)
        } catch {
            exit(withError: error)
        }
    }
}
