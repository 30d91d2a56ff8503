import ArgumentParser
import Featurize
import FeatureIO
import Scheduler

/// `featurize merge`: joins the outputs of `featurize extract --shard i/N` into one file in input order.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join shard outputs (featurize extract --shard i/N) into one file in input order.",
        discussion: """
            Every shard 0..N-1 must be given exactly once; each shard's OUTPUT.shard.json record proves it is \
            complete and from the same input and settings. Text r of the result is text r / N of shard r % N: \
            one row (.npy shards), its windows (--long-input rows: the rows each shard's OUTPUT.windows.jsonl \
            gives text r; the merged index goes to MERGED.windows.jsonl) or its tokens (--pooling none: .safetensors \
            or .jsonl shards, merged into the same format).
            """)

    @Option(name: .long, help: "The merged output file (.npy, .safetensors or .jsonl).")
    var output: String

    @Flag(name: .long, help: "Replace the output file if it exists.")
    var overwrite = false

    @Argument(help: "The shard outputs (.npy; token-level .safetensors or .jsonl), in any order.")
    var shards: [String]

    func validate() throws {
        guard !shards.isEmpty else { throw ValidationError("give the shard outputs to merge") }
        guard FeatureOutputFormat(path: output) != nil else {
            throw ValidationError("--output must end in .npy, .safetensors or .jsonl, got '\(output)'")
        }
    }

    func run() throws {
        guard try OutputTarget(output, overwrite: overwrite, inputs: shards).kind == .regularFile else {
            throw ValidationError("--output \(output) is not a regular file: merge renames the finished file into place; write to a file and copy it")
        }
        let (rows, cols) = try ShardMerger.merge(inputs: shards, output: output, overwrite: overwrite)
        // Token-level .jsonl shards are merged line by line: their width is not read.
        try StandardOutput().line("featurize merge: \(shards.count) shards -> \(output) " + (cols > 0 ? "[\(rows), \(cols)]" : "(\(rows) texts)"))
    }
}
