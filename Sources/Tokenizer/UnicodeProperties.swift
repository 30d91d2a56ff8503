/// Per-scalar character classes used by normalizers and pre-tokenizers, identical to Hugging Face `tokenizers`
/// (the data in UnicodeTables.swift is measured from it). Lookups are O(1) through a flat table of all
/// 0x110000 scalars (2.2 MB, built once on first use).
enum UnicodeProps {
    static let cleanRemoved: UInt16 = 1 << 0      // BertNormalizer clean_text drops it (control/format/private/U+FFFD/0)
    static let cleanToSpace: UInt16 = 1 << 1      // BertNormalizer clean_text maps it to " "
    static let whitespace: UInt16 = 1 << 2        // Rust char::is_whitespace
    static let punctuation: UInt16 = 1 << 3       // ASCII punctuation or Unicode P* (HF is_punc / is_bert_punc)
    static let nonspacingMark: UInt16 = 1 << 4    // Mn (BertNormalizer strip_accents removes it)
    static let wordChar: UInt16 = 1 << 5          // Rust regex \w
    static let regexSpace: UInt16 = 1 << 6        // Rust regex \s
    static let numeric: UInt16 = 1 << 7           // Rust char::is_numeric
    static let chinese: UInt16 = 1 << 8           // BERT's CJK ideograph ranges
    static let hasLowercase: UInt16 = 1 << 9      // lowercase mapping differs from itself
    static let hasNFD: UInt16 = 1 << 10           // canonical decomposition differs from itself
    static let nonStarter: UInt16 = 1 << 11       // canonical combining class > 0
    static let combiningMark: UInt16 = 1 << 12    // Mn, Mc, Me (the StripAccents normalizer removes it)
    static let letter: UInt16 = 1 << 13           // Oniguruma \p{L} (ByteLevel's GPT-2 split pattern)
    static let number: UInt16 = 1 << 14           // Oniguruma \p{N} (ByteLevel's GPT-2 split pattern)
    static let gpt2Space: UInt16 = 1 << 15        // Oniguruma \s (ByteLevel's GPT-2 split pattern)

    /// Flags of every scalar value, indexed by the scalar. Built once and never freed (2.2 MB); a raw pointer so
    /// lookups from several threads touch no reference count.
    static let flagTable: UnsafePointer<UInt16> = {
        let table = buildFlags()
        let pointer = UnsafeMutablePointer<UInt16>.allocate(capacity: table.count)
        pointer.initialize(from: table, count: table.count)
        return UnsafePointer(pointer)
    }()
    static let lowercase: [UInt32: [UInt32]] = parseMapping(UnicodeTableData.lowercase)
    static let nfd: [UInt32: [UInt32]] = parseMapping(UnicodeTableData.nfd)
    static let nfkd: [UInt32: [UInt32]] = parseMapping(UnicodeTableData.nfkd)
    /// (first << 32 | second) -> primary composite.
    static let compositions: [UInt64: UInt32] = {
        var result: [UInt64: UInt32] = [:]
        for (composite, pair) in parseMapping(UnicodeTableData.compositions) where pair.count == 2 {
            result[UInt64(pair[0]) << 32 | UInt64(pair[1])] = composite
        }
        return result
    }()

    /// Canonical composition of `first` and `second`, including Hangul syllables; nil if none.
    static func compose(_ first: UInt32, _ second: UInt32) -> UInt32? {
        let sBase: UInt32 = 0xAC00, lBase: UInt32 = 0x1100, vBase: UInt32 = 0x1161, tBase: UInt32 = 0x11A7
        if first >= lBase, first < lBase + 19, second >= vBase, second < vBase + 21 {
            return sBase + ((first - lBase) * 21 + (second - vBase)) * 28
        }
        if first >= sBase, first < sBase + 11172, (first - sBase) % 28 == 0, second > tBase, second < tBase + 28 {
            return first + (second - tBase)
        }
        return compositions[UInt64(first) << 32 | UInt64(second)]
    }
    static let combiningClass: [UInt32: UInt8] = {
        var result: [UInt32: UInt8] = [:]
        for (key, value) in parseMapping(UnicodeTableData.combiningClass) { result[key] = UInt8(value[0]) }
        return result
    }()

    /// Forces the lazy tables to be built.
    static func warmUp() {
        _ = flagTable; _ = lowercase.count; _ = nfd.count; _ = combiningClass.count; _ = nfkd.count; _ = compositions.count
    }

    @inline(__always) static func flags(of scalar: UInt32) -> UInt16 {
        scalar < 0x110000 ? flagTable[Int(scalar)] : 0
    }

    private static func buildFlags() -> [UInt16] {
        var table = [UInt16](repeating: 0, count: 0x110000)
        table.withUnsafeMutableBufferPointer { table in
            func mark(_ ranges: String, _ flag: UInt16) {
                forEachRange(ranges) { lo, hi in
                    var scalar = Int(lo)
                    while scalar <= Int(hi) && scalar < table.count { table[scalar] |= flag; scalar += 1 }
                }
            }
            mark(UnicodeTableData.cleanRemoved, cleanRemoved)
            mark(UnicodeTableData.cleanToSpace, cleanToSpace)
            mark(UnicodeTableData.whitespace, whitespace)
            mark(UnicodeTableData.punctuation, punctuation)
            mark(UnicodeTableData.nonspacingMark, nonspacingMark)
            mark(UnicodeTableData.combiningMark, combiningMark)
            mark(UnicodeTableData.wordChar, wordChar)
            mark(UnicodeTableData.regexSpace, regexSpace)
            mark(UnicodeTableData.numeric, numeric)
            mark(ByteLevelTableData.letter, letter)
            mark(ByteLevelTableData.number, number)
            mark(ByteLevelTableData.space, gpt2Space)
            // BERT's "Chinese character" ranges (CJK Unified Ideographs and extensions, compatibility ideographs).
            mark("4e00-9fff,3400-4dbf,20000-2a6df,2a700-2b73f,2b740-2b81f,2b920-2ceaf,f900-faff,2f800-2fa1f", chinese)
            for key in lowercase.keys where key < 0x110000 { table[Int(key)] |= hasLowercase }
            for key in nfd.keys where key < 0x110000 { table[Int(key)] |= hasNFD }
            for key in combiningClass.keys where key < 0x110000 { table[Int(key)] |= nonStarter }
        }
        return table
    }

    @inline(__always) private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        default: return nil
        }
    }

    /// Calls `body(lo, hi)` for each `a` or `a-b` of a comma-separated hex range list.
    private static func forEachRange(_ text: String, _ body: (UInt32, UInt32) -> Void) {
        var lo: UInt32 = 0, current: UInt32 = 0, sawDash = false, hasDigits = false
        func flush() {
            if hasDigits { body(sawDash ? lo : current, current) }
            current = 0; sawDash = false; hasDigits = false
        }
        for byte in text.utf8 {
            if let value = hexValue(byte) {
                current = current << 4 | value; hasDigits = true
            } else if byte == UInt8(ascii: "-") {
                lo = current; current = 0; sawDash = true
            } else if byte == UInt8(ascii: ",") {
                flush()
            }
        }
        flush()
    }

    /// Parses `cp:x y z;cp:...` (hex).
    private static func parseMapping(_ text: String) -> [UInt32: [UInt32]] {
        var result: [UInt32: [UInt32]] = [:]
        var key: UInt32 = 0, current: UInt32 = 0, hasDigits = false, hasKey = false
        var values: [UInt32] = []
        func flushValue() {
            if hasDigits { values.append(current) }
            current = 0; hasDigits = false
        }
        func flushEntry() {
            flushValue()
            if hasKey, !values.isEmpty { result[key] = values }
            values.removeAll(keepingCapacity: true); hasKey = false
        }
        for byte in text.utf8 {
            if let value = hexValue(byte) {
                current = current << 4 | value; hasDigits = true
            } else if byte == UInt8(ascii: ":") {
                key = current; hasKey = true; current = 0; hasDigits = false
            } else if byte == UInt8(ascii: " ") {
                flushValue()
            } else if byte == UInt8(ascii: ";") {
                flushEntry()
            }
        }
        flushEntry()
        return result
    }
}
