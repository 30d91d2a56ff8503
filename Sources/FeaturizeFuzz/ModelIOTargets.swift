#if canImport(Glibc)
import Glibc
#endif
import ModelIO

/// Targets for the model loaders: safetensors container, config.json, JSON scanner, model directory files.
enum ModelIOTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "safetensors", run: safetensors),
        FuzzTarget(name: "config", run: config),
        FuzzTarget(name: "json", run: json),
        FuzzTarget(name: "model-dir", setUp: setUpModelDirectory, run: modelDirectory),
    ]

    /// The input is a whole `.safetensors` file: open it (header validation) and read every tensor it
    /// accepts through each accessor, checking that what comes back matches the header.
    static func safetensors(_ bytes: UnsafeBufferPointer<UInt8>) {
        let path = FuzzFiles.scratch + "/input.safetensors"
        FuzzFiles.write(bytes, to: path)
        guard let file = try? SafetensorsFile(path: path) else { return }
        fuzzCheck(file.fileSize == bytes.count, "fileSize \(file.fileSize) != \(bytes.count)")
        for name in file.tensorNames {
            guard let info = file.info(of: name) else { fuzzCheck(false, "listed tensor \(name) has no info"); return }
            fuzzCheck(info.shape.allSatisfy { $0 >= 0 }, "negative dimension accepted in \(info.shape)")
            fuzzCheck(info.dataOffsets.lowerBound >= 0 && info.dataOffsets.upperBound <= bytes.count,
                      "offsets \(info.dataOffsets) outside a \(bytes.count)-byte file")
            let elements = info.shape.reduce(1, *)
            fuzzCheck(elements * info.dtype.bitSize == info.dataOffsets.count * 8,
                      "shape \(info.shape) x \(info.dtype) != span \(info.dataOffsets.count)")
            if info.dtype.convertsToFloat32 {
                do {
                    let tensor = try file.tensor(name)
                    fuzzCheck(tensor.shape == info.shape && tensor.values.count == elements,
                              "tensor \(name): \(tensor.values.count) values for shape \(info.shape)")
                } catch { fuzzCheck(false, "tensor(\(name)) threw \(error) for an accepted float tensor") }
            } else if info.dtype.isInteger {
                if let read = try? file.integerTensor(name) {
                    fuzzCheck(read.values.count == elements, "integer tensor \(name): \(read.values.count) values")
                }
            }
            let byteCount = (try? file.withUnsafeRawBytes(of: name) { raw -> Int in
                var sum = 0
                for byte in raw { sum &+= Int(byte) } // touch every byte (ASan checks the range)
                _ = sum
                return raw.count
            }) ?? -1
            fuzzCheck(byteCount == info.dataOffsets.count, "raw bytes of \(name): \(byteCount)")
        }
        _ = file.metadata.count
    }

    /// The input is a `config.json`.
    static func config(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let config = try? EncoderConfig.parse(json: Array(bytes), path: "fuzz/config.json") else { return }
        fuzzCheck(config.hiddenSize > 0 && config.numHeads > 0 && config.hiddenSize % config.numHeads == 0,
                  "accepted hidden size \(config.hiddenSize) with \(config.numHeads) heads")
        fuzzCheck(config.vocabSize > 0 && config.padTokenId >= 0 && config.padTokenId < config.vocabSize,
                  "accepted pad token \(config.padTokenId) for vocabulary \(config.vocabSize)")
        fuzzCheck(config.layerNormEps.isFinite && config.layerNormEps > 0, "accepted eps \(config.layerNormEps)")
    }

    /// The input is any JSON text (the scanner under every loader).
    static func json(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let value = try? JSONScanner.parse(bytes) else { return }
        _ = value.kindName
        _ = value.integerReading
        _ = value.doubleValue
    }

    // MARK: Model directory

    static var modelDirectoryPath: String { FuzzFiles.scratch + "/model" }

    /// A model directory with a fixed valid config.json, an (unread) weights file and a vocabulary.
    static func setUpModelDirectory() {
        let dir = modelDirectoryPath
        mkdir(dir, 0o700)
        mkdir(dir + "/1_Pooling", 0o700)
        mkdir(dir + "/2_Normalize", 0o700)
        let config = """
        {"model_type": "bert", "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
         "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512}
        """
        FuzzFiles.write(Array(config.utf8), to: dir + "/config.json")
        FuzzFiles.write([], to: dir + "/model.safetensors")
        FuzzFiles.write(Array("[PAD]\n".utf8), to: dir + "/vocab.txt")
        atexit {
            let dir = ModelIOTargets.modelDirectoryPath
            for name in ["config.json", "model.safetensors", "vocab.txt", "modules.json", "sentence_bert_config.json",
                         "1_Pooling/config.json", "2_Normalize/config.json"] { unlink(dir + "/" + name) }
            rmdir(dir + "/1_Pooling"); rmdir(dir + "/2_Normalize"); rmdir(dir)
        }
    }

    /// The input is up to four JSON files separated by NUL bytes: `modules.json`, `1_Pooling/config.json`,
    /// `sentence_bert_config.json`, `2_Normalize/config.json` (a missing part means no such file).
    static func modelDirectory(_ bytes: UnsafeBufferPointer<UInt8>) {
        let dir = modelDirectoryPath
        let files = ["modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "2_Normalize/config.json"]
        let parts = FuzzFiles.split(bytes, maxParts: files.count)
        for (index, name) in files.enumerated() {
            if index < parts.count { FuzzFiles.write(parts[index], to: dir + "/" + name) } else { unlink(dir + "/" + name) }
        }
        guard let model = try? ModelDirectory(path: dir) else { return }
        if let st = model.sentenceTransformers {
            fuzzCheck(!st.poolingModes.isEmpty, "accepted a pooling config with no mode")
            if let length = st.maxSeqLength { fuzzCheck(length > 0, "accepted max_seq_length \(length)") }
        }
    }
}
