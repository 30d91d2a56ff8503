import ArgumentParser
import FeatureIO

extension AblateCommand {
    /// Refuses a test label that never occurs in the training labels, naming the test file and the line
    /// where that record starts (CSV records may span lines), before any encoding.
    static func checkTestLabels(_ testLabels: [String], trainLabels: [String], test: String, train: String, labelColumn: String) throws {
        let known = Set(trainLabels)
        guard let bad = testLabels.firstIndex(where: { !known.contains($0) }) else { return }
        let reader = try TextInputReader(path: test, field: labelColumn)
        for _ in 0...bad { _ = try reader.next() }
        let classes = known.sorted().prefix(20).joined(separator: ", ")
        throw ValidationError("\(test):\(reader.lineNumber): label '\(testLabels[bad])' (column '\(labelColumn)') does not occur in the training data \(train) (its labels: \(classes)\(known.count > 20 ? ", ..." : ""))")
    }
}
