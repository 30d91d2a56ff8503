// Embeds a few texts with a local model directory and prints their cosine similarities.
//
//     swift run --package-path Examples/EmbedTexts EmbedTexts models/all-MiniLM-L6-v2
import Featurize
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
    print("usage: EmbedTexts MODEL_DIRECTORY")
    exit(2)
}
let texts = ["A cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by four percent."]
do {
    // No pooling given: a sentence-transformers directory gives what SentenceTransformer.encode() gives.
    // `device` defaults to the CPU; `DeviceRegistry.system.autoDevices` lists what `--device auto` would use.
    let extractor = try FeatureExtractor(modelDirectory: arguments[1], device: DeviceRegistry.system.cpu)
    let features = try extractor.extract(texts: texts)   // [texts.count, extractor.dimension], input order
    print("\(features.rows) x \(features.columns) on \(extractor.device.id)")
    func cosine(_ a: [Float], _ b: [Float]) -> Float {
        let dot = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        let norms = (a.reduce(0) { $0 + $1 * $1 } * b.reduce(0) { $0 + $1 * $1 }).squareRoot()
        return dot / norms
    }
    for i in 0..<texts.count {
        for j in (i + 1)..<texts.count {
            print("cosine(\(i), \(j)) = \(cosine(features.row(i), features.row(j)))")
        }
    }
} catch {
    print("error: \(error)")
    exit(1)
}
