/// HF `Precompiled` normalizer: SentencePiece's compiled character map applied as Hugging Face `tokenizers`
/// applies it (HF is the reference; SentencePiece itself differs on some texts):
/// the text is cut into extended grapheme clusters; a cluster shorter than 6 UTF-8 bytes whose bytes start with
/// a key is replaced as a whole by the replacement of the shortest such key (so "ﬁ" + U+0301 becomes "fi", and
/// "\r\n" becomes the replacement of "\r"); otherwise each scalar of the cluster is replaced by the replacement
/// of its own key, if any, or kept.
///
/// Alignment follows HF's change model (see `UnicodeNormalizer`): a replacement's scalars replace the old ones
/// one for one, extra new scalars are insertions (origin of the previous scalar), and when fewer scalars come
/// out the last new scalar absorbs the removed ones — or, for an empty replacement, the previous output scalar
/// does (at the very start nothing does, and HF's origins of the rest of the text shift; reproduced).
public struct PrecompiledNormalizer: Normalizer {
    public let charsMap: PrecompiledCharsMap

    public init(charsMap: PrecompiledCharsMap) { self.charsMap = charsMap }

    /// Parses the base64 `precompiled_charsmap` of tokenizer.json.
    public init(base64: String) throws { charsMap = try PrecompiledCharsMap(base64: base64) }

    public func normalize(_ text: inout NormalizedText) {
        let n = text.count
        guard n > 0 else { return }
        var scalars: [UInt32] = [], changes: [Int] = []
        var modified = false
        text.scalars.withUnsafeBufferPointer { input in
            var i = 0
            while i < n {
                let s = input[i]
                var end = i + 1
                // ASCII followed by a scalar below U+0300 ends a cluster, except CR LF.
                if !(s < 0x80 && s != 0x0D && (end == n || input[end] < 0x300)) {
                    end = GraphemeClusters.clusterEnd(input, from: i, to: n)
                }
                if end == i + 1 {
                    let entry = charsMap.entry(forScalar: s)
                    if entry >= 0 {
                        if !modified { start(&scalars, &changes, input, upTo: i); modified = true }
                        replace(oldCount: 1, entry: entry, &scalars, &changes)
                    } else if modified {
                        scalars.append(s); changes.append(0)
                    }
                } else {
                    var clusterEntry: Int32 = -1
                    if utf8Length(input, i, end) < 6 {
                        var bytes: (UInt64, UInt64) = (0, 0)  // up to 16 bytes; clusters here are < 6
                        clusterEntry = withUnsafeMutableBytes(of: &bytes) { raw -> Int32 in
                            let buffer = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
                            var length = 0
                            for k in i..<end {
                                var four: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
                                let count = PrecompiledCharsMap.encodeUTF8(input[k], into: &four)
                                withUnsafeBytes(of: &four) { for b in 0..<count { buffer[length + b] = $0[b] } }
                                length += count
                            }
                            return charsMap.shortestMatch(UnsafeBufferPointer(start: buffer, count: length))
                        }
                    }
                    if clusterEntry >= 0 {
                        if !modified { start(&scalars, &changes, input, upTo: i); modified = true }
                        replace(oldCount: end - i, entry: clusterEntry, &scalars, &changes)
                    } else {
                        for k in i..<end {
                            let entry = charsMap.entry(forScalar: input[k])
                            if entry >= 0 {
                                if !modified { start(&scalars, &changes, input, upTo: k); modified = true }
                                replace(oldCount: 1, entry: entry, &scalars, &changes)
                            } else if modified {
                                scalars.append(input[k]); changes.append(0)
                            }
                        }
                    }
                }
                i = end
            }
        }
        guard modified else { return }
        // Apply the changes to the input origins (HF NormalizedString::transform).
        text.beginRewrite()
        var position = 0
        for (scalar, change) in zip(scalars, changes) {
            if change > 0 {
                text.emit(scalar, origin: text.origins[max(0, min(position, n) - 1)])
            } else {
                text.emit(scalar, origin: text.origins[min(position, n - 1)])
                position += 1 - change
            }
        }
        text.commit()
    }

    @inline(__always)
    private func start(_ scalars: inout [UInt32], _ changes: inout [Int], _ input: UnsafeBufferPointer<UInt32>, upTo end: Int) {
        scalars.reserveCapacity(input.count + 16)
        changes.reserveCapacity(input.count + 16)
        scalars.append(contentsOf: input[0..<end])
        changes.append(contentsOf: repeatElement(0, count: end))
    }

    /// HF `replace`: new scalars with change 0; the last `new - old` become insertions (+1), or the last entry
    /// (the previous output scalar when the replacement is empty) absorbs `old - new` removals.
    @inline(__always)
    private func replace(oldCount: Int, entry: Int32, _ scalars: inout [UInt32], _ changes: inout [Int]) {
        let replacement = charsMap.replacement(entry)
        scalars.append(contentsOf: replacement)
        changes.append(contentsOf: repeatElement(0, count: replacement.count))
        let diff = replacement.count - oldCount
        if diff > 0 {
            for k in (changes.count - diff)..<changes.count { changes[k] = 1 }
        } else if diff < 0, !changes.isEmpty {
            changes[changes.count - 1] += diff
        }
    }

    @inline(__always)
    private func utf8Length(_ input: UnsafeBufferPointer<UInt32>, _ start: Int, _ end: Int) -> Int {
        var length = 0
        for k in start..<end {
            let s = input[k]
            length += s < 0x80 ? 1 : (s < 0x800 ? 2 : (s < 0x10000 ? 3 : 4))
        }
        return length
    }
}

extension PrecompiledNormalizer: JSONLoadable {
    /// HF `Precompiled` normalizer object: `precompiled_charsmap`, the base64 SentencePiece blob.
    init(json fields: JSONFields, context: ComponentContext) throws {
        let text = try fields.string("precompiled_charsmap")
        do {
            self.init(charsMap: try PrecompiledCharsMap(base64: text))
        } catch let error as PrecompiledCharsMapError {
            throw TokenizerError.invalidField(path: fields.path, field: fields.name("precompiled_charsmap"), detail: error.detail)
        }
    }
}
