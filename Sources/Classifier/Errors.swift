/// Errors raised by the Classifier module. Every case names the file, line, row or label involved.
public enum ClassifierError: Error, CustomStringConvertible, Equatable {
    /// The feature matrix and the label list disagree on the number of rows.
    case rowCountMismatch(featureRows: Int, labelCount: Int)
    /// Training needs at least one row.
    case emptyTrainingSet
    /// Training needs at least two distinct labels.
    case singleClass(label: String)
    /// A feature value is NaN or infinite.
    case nonFiniteFeature(row: Int, column: Int)
    /// The model expects `expected` features per row but got `actual`.
    case featureDimensionMismatch(expected: Int, actual: Int)
    /// A label at evaluation time is not one of the model's classes (`line` is 1-based when known).
    case unknownLabel(label: String, line: Int?, known: [String])
    /// A training option is out of range.
    case invalidOption(String)
    /// A labels file could not be read or has an empty line.
    case labelsFile(path: String, reason: String)
    /// A model file could not be read, parsed, or is inconsistent.
    case modelFile(path: String, reason: String)
    /// A report or prediction file could not be written.
    case writeFailed(path: String, reason: String)
    /// The feature buffer length is not rows * columns.

    public var description: String {
        switch self {
        case let .rowCountMismatch(f, l):
            return "features have \(f) rows but there are \(l) labels; they must match one label per row"
        case .emptyTrainingSet:
            return "cannot train on an empty training set (0 rows)"
        case let .singleClass(label):
            return "training set has a single class ('\(label)'); a classifier needs at least two distinct labels"
        case let .nonFiniteFeature(r, c):
            return "feature value at row \(r), column \(c) is NaN or infinite"
        case let .featureDimensionMismatch(e, a):
            return "model expects \(e) features per row but the input has \(a)"
        case let .unknownLabel(label, line, known):
            let at = line.map { " on line \($0)" } ?? ""
            let list = known.prefix(20).map { "'\($0)'" }.joined(separator: ", ")
            return "label '\(label)'\(at) is not one of the model's classes [\(list)\(known.count > 20 ? ", ..." : "")]"
        case let .invalidOption(message):
            return "invalid option: \(message)"
        case let .labelsFile(path, reason):
            return "labels file '\(path)': \(reason)"
        case let .modelFile(path, reason):
            return "model file '\(path)': \(reason)"
        case let .writeFailed(path, reason):
            return "cannot write '\(path)': \(reason)"
        }
    }
}
