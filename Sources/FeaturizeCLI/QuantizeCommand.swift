import ArgumentParser
import Featurize
import Foundation

/// `featurize quantize`: float32 embeddings (.npy) to int8/uint8/binary/ubinary, as sentence-transformers'
/// `quantize_embeddings`.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize float32 embeddings (.npy) like sentence-transformers' quantize_embeddings.",
        discussion: """
            Precisions: int8 and uint8 bucket each dimension into 256 steps between its minimum and maximum \
            over the calibration embeddings (floor((x - min) / ((max - min) / 255)), clipped to 0..255; int8 \
            subtracts 128); binary and ubinary pack the signs (x > 0) eight to a byte, most significant bit \
            first, like numpy.packbits (binary subtracts 128). Output: .npy of int8 (|i1) or uint8 (|u1), \
            [rows, dim] or [rows, ceil(dim / 8)]. Calibration: by default every row of the input (the ranges of \
            the whole output: this is the second pass of a streaming extraction); --calibration FILE takes the \
            ranges from other embeddings, or from a [2, dim] ranges file written by --save-ranges.
            """)

    @Option(name: .long, help: "Float embeddings: .npy [rows, dim] (float32, float16 or float64).")
    var input: String

    @Option(name: .long, help: "Output .npy file.")
    var output: String

    @Option(name: .long, help: "Precision: int8, uint8, binary or ubinary.")
    var precision: EmbeddingPrecision

    @Option(name: .long, help: "Embeddings (.npy [n, dim], n >= 2) whose per-dimension min/max set the int8/uint8 ranges, or a [2, dim] ranges file from --save-ranges (default: the input).")
    var calibration: String?

    @Option(name: .customLong("save-ranges"), help: "Write the int8/uint8 ranges used ([2, dim] float32: minima, maxima) to this .npy file.")
    var saveRanges: String?

    func validate() throws {
        if precision == .float32 { throw ValidationError("--precision must be int8, uint8, binary or ubinary") }
        guard output.hasSuffix(".npy") else { throw ValidationError("--output must end in .npy, got '\(output)'") }
    }

    func run() throws {
        try QuantizedOutput.write(input: input, output: output, precision: precision, calibration: calibration,
                                  rangesOutput: saveRanges)
    }
}
