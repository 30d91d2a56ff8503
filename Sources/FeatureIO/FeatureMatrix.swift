/// A dense row-major Float32 matrix of features, shape `[rows, columns]` (one row per sample).
public struct FeatureMatrix: Sendable, Equatable {
    /// Row-major values, `rows * columns` of them.
    public var values: [Float]
    public let rows: Int
    public let columns: Int

    /// Wraps `values` as `[rows, columns]`; throws if the count does not match.
    public init(values: [Float], rows: Int, columns: Int) throws {
        guard rows >= 0, columns >= 0, values.count == rows * columns else {
            throw FeatureIOError.badMatrixShape(rows: rows, columns: columns, valueCount: values.count)
        }
        self.values = values
        self.rows = rows
        self.columns = columns
    }

    /// Builds a matrix from rows of equal length.
    public init(rowArrays: [[Float]]) throws {
        let columns = rowArrays.first?.count ?? 0
        var values: [Float] = []
        values.reserveCapacity(rowArrays.count * columns)
        for (index, row) in rowArrays.enumerated() {
            guard row.count == columns else {
                throw FeatureIOError.raggedRows(row: index, count: row.count, expected: columns)
            }
            values.append(contentsOf: row)
        }
        try self.init(values: values, rows: rowArrays.count, columns: columns)
    }

    /// Row `index` as an array of `columns` values.
    public func row(_ index: Int) -> [Float] {
        Array(values[(index * columns)..<((index + 1) * columns)])
    }

    /// All rows as arrays.
    public func rowArrays() -> [[Float]] { (0..<rows).map(row) }
}
