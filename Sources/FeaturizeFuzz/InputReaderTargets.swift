import FeatureIO

/// Targets for `featurize extract`'s input readers (`TextInputReader`) on arbitrary file contents.
enum InputReaderTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "txt") { read($0, file: "input.txt", format: .text) },
        FuzzTarget(name: "jsonl") { read($0, file: "input.jsonl", format: .jsonl(field: "text")) },
        FuzzTarget(name: "csv") { bytes in
            read(bytes, file: "input.csv", format: .csv(column: "text"))
            read(bytes, file: "input.tsv", format: .tsv(column: "text"))
        },
    ]

    /// Reads every text, both in one pass and in batches, and checks the two agree.
    static func read(_ bytes: UnsafeBufferPointer<UInt8>, file: String, format: TextInputReader.Format) {
        let path = FuzzFiles.scratch + "/" + file
        FuzzFiles.write(bytes, to: path)
        guard let reader = try? TextInputReader(path: path, format: format) else { return }
        let all: [String]
        do { all = try reader.readAll() } catch { return }
        fuzzCheck(all.allSatisfy { !$0.contains("\r\n") || format != .text }, "text line kept a CRLF")
        guard let batched = try? TextInputReader(path: path, format: format) else {
            fuzzCheck(false, "reopening \(file) failed"); return
        }
        var again: [String] = []
        while true {
            guard let batch = try? batched.nextBatch(maxCount: 3) else {
                fuzzCheck(false, "batched read threw where readAll did not"); return
            }
            if batch.isEmpty { break }
            again += batch
        }
        fuzzCheck(again == all, "batched read differs from readAll")
    }
}
