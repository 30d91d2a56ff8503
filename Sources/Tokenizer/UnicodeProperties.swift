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

    /// Flags of every scalar value, indexed by the scalar.
    static let flags: [UInt16] = buildFlags()
    static let lowercase: [UInt32: [UInt32]] = parseMapping(UnicodeTableData.lowercase)
    static let nfd: [UInt32: [UInt32]] = parseMapping(UnicodeTableData.nfd)
    static let combiningClass: [UInt32: UInt8] = {
        var result: [UInt32: UInt8] = [:]
        for (key, value) in parseMapping(UnicodeTableData.combiningClass) { result[key] = UInt8(value[0]) }
        return result
    }()

    /// Forces the lazy tables to be built.
    static func warmUp() {
        _ = flags.count; _ = lowercase.count; _ = nfd.count; _ = combiningClass.count
    }

    @inline(__always) static func flags(of scalar: UInt32) -> UInt16 {
        scalar < 0x110000 ? flags.withUnsafeBufferPointer { $0[Int(scalar)] } : 0
    }

    private static func buildFlags() -> [UInt16] {
        var table = [UInt16](repeating: 0, count: 0x110000)
        func mark(_ ranges: String, _ flag: UInt16) {
            for part in ranges.split(separator: ",") {
                let bounds = part.split(separator: "-")
                guard let lo = UInt32(bounds[0], radix: 16) else { continue }
                let hi = bounds.count > 1 ? (UInt32(bounds[1], radix: 16) ?? lo) : lo
                for scalar in lo...hi { table[Int(scalar)] |= flag }
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
        // BERT's "Chinese character" ranges (CJK Unified Ideographs and extensions, compatibility ideographs).
        mark("4e00-9fff,3400-4dbf,20000-2a6df,2a700-2b73f,2b740-2b81f,2b920-2ceaf,f900-faff,2f800-2fa1f", chinese)
        for key in parseMapping(UnicodeTableData.lowercase).keys { table[Int(key)] |= hasLowercase }
        for key in parseMapping(UnicodeTableData.nfd).keys { table[Int(key)] |= hasNFD }
        for key in parseMapping(UnicodeTableData.combiningClass).keys { table[Int(key)] |= nonStarter }
        return table
    }

    private static func parseMapping(_ text: String) -> [UInt32: [UInt32]] {
        var result: [UInt32: [UInt32]] = [:]
        for entry in text.split(separator: ";") {
            let parts = entry.split(separator: ":")
            guard parts.count == 2, let key = UInt32(parts[0], radix: 16) else { continue }
            result[key] = parts[1].split(separator: " ").compactMap { UInt32($0, radix: 16) }
        }
        return result
    }
}
