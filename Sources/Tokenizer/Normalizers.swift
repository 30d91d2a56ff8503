import Foundation

/// A normalizer rewrites text before pre-tokenization (HF `normalizer` section of tokenizer.json).
public protocol Normalizer: Sendable {
    /// Rewrites `text` in place, keeping every scalar's origin (see `NormalizedText`).
    func normalize(_ text: inout NormalizedText)
}

/// HF `BertNormalizer`: clean_text (drop control/format chars, U+FFFD and NUL; map whitespace to " "),
/// handle_chinese_chars (spaces around CJK ideographs), strip_accents (NFD then drop Mn; `nil` follows
/// `lowercase`), lowercase (per-scalar Unicode lowercase mapping). Applied in that order.
public struct BertNormalizer: Normalizer {
    public var cleanText: Bool
    public var handleChineseChars: Bool
    public var stripAccents: Bool
    public var lowercase: Bool

    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents ?? lowercase
        self.lowercase = lowercase
    }

    public func normalize(_ text: inout NormalizedText) {
        text.beginRewrite()
        var needsReorder = false
        let count = text.count
        for i in 0..<count {
            var scalar = text.scalars[i]
            let origin = text.origins[i]
            if scalar < 0x80 {
                // ASCII fast path: every step is a byte test.
                if cleanText {
                    if scalar == 0x09 || scalar == 0x0A || scalar == 0x0D {
                        scalar = 0x20
                    } else if scalar < 0x20 || scalar == 0x7F {
                        continue
                    }
                }
                if lowercase, scalar >= 0x41, scalar <= 0x5A { scalar += 0x20 }
                text.emit(scalar, origin: origin)
                continue
            }
            let flags = UnicodeProps.flags(of: scalar)
            if cleanText {
                if flags & UnicodeProps.cleanRemoved != 0 { continue }
                if flags & UnicodeProps.cleanToSpace != 0 { scalar = 0x20 }
            }
            if handleChineseChars, flags & UnicodeProps.chinese != 0 {
                text.emit(0x20, origin: origin)
                emitAccentsAndCase(scalar, origin: origin, into: &text, needsReorder: &needsReorder)
                text.emit(0x20, origin: origin)
            } else {
                emitAccentsAndCase(scalar, origin: origin, into: &text, needsReorder: &needsReorder)
            }
        }
        text.commit()
        if needsReorder { text.canonicallyReorder() }
    }

    @inline(__always)
    private func emitAccentsAndCase(_ scalar: UInt32, origin: Int32, into text: inout NormalizedText, needsReorder: inout Bool) {
        if stripAccents {
            let flags = UnicodeProps.flags(of: scalar)
            if flags & UnicodeProps.hasNFD != 0, let parts = UnicodeProps.nfd[scalar] {
                for part in parts { emitStrippedLowered(part, origin: origin, into: &text, needsReorder: &needsReorder) }
            } else {
                emitStrippedLowered(scalar, origin: origin, into: &text, needsReorder: &needsReorder)
            }
        } else {
            emitLowered(scalar, origin: origin, into: &text)
        }
    }

    @inline(__always)
    private func emitStrippedLowered(_ scalar: UInt32, origin: Int32, into text: inout NormalizedText, needsReorder: inout Bool) {
        let flags = UnicodeProps.flags(of: scalar)
        if flags & UnicodeProps.nonspacingMark != 0 { return }
        if flags & UnicodeProps.nonStarter != 0 { needsReorder = true }
        emitLowered(scalar, origin: origin, into: &text)
    }

    @inline(__always)
    private func emitLowered(_ scalar: UInt32, origin: Int32, into text: inout NormalizedText) {
        if lowercase {
            LowercaseNormalizer.emitLowercase(scalar, origin: origin, into: &text)
        } else {
            text.emit(scalar, origin: origin)
        }
    }
}

/// HF `Lowercase`: per-scalar Unicode lowercase mapping (one scalar may become several, e.g. "İ" -> "i̇").
public struct LowercaseNormalizer: Normalizer {
    public init() {}

    @inline(__always)
    static func emitLowercase(_ scalar: UInt32, origin: Int32, into text: inout NormalizedText) {
        if scalar < 0x80 {
            text.emit(scalar >= 0x41 && scalar <= 0x5A ? scalar + 0x20 : scalar, origin: origin)
        } else if UnicodeProps.flags(of: scalar) & UnicodeProps.hasLowercase != 0, let mapped = UnicodeProps.lowercase[scalar] {
            for part in mapped { text.emit(part, origin: origin) }
        } else {
            text.emit(scalar, origin: origin)
        }
    }

    public func normalize(_ text: inout NormalizedText) {
        text.beginRewrite()
        for i in 0..<text.count { Self.emitLowercase(text.scalars[i], origin: text.origins[i], into: &text) }
        text.commit()
    }
}

/// HF `StripAccents`: removes combining marks (Mn, Mc, Me). Usually preceded by NFD.
public struct StripAccentsNormalizer: Normalizer {
    public init() {}

    public func normalize(_ text: inout NormalizedText) {
        text.beginRewrite()
        for i in 0..<text.count {
            let scalar = text.scalars[i]
            if scalar >= 0x80, UnicodeProps.flags(of: scalar) & UnicodeProps.combiningMark != 0 { continue }
            text.emit(scalar, origin: text.origins[i])
        }
        text.commit()
    }
}

/// HF `Strip`: removes leading and/or trailing whitespace (Rust `char::is_whitespace`).
public struct StripNormalizer: Normalizer {
    public var left: Bool
    public var right: Bool

    public init(left: Bool = true, right: Bool = true) {
        self.left = left
        self.right = right
    }

    public func normalize(_ text: inout NormalizedText) {
        var start = 0, end = text.count
        if left { while start < end, UnicodeProps.flags(of: text.scalars[start]) & UnicodeProps.whitespace != 0 { start += 1 } }
        if right { while end > start, UnicodeProps.flags(of: text.scalars[end - 1]) & UnicodeProps.whitespace != 0 { end -= 1 } }
        guard start > 0 || end < text.count else { return }
        text.beginRewrite()
        for i in start..<end { text.emit(text.scalars[i], origin: text.origins[i]) }
        text.commit()
    }
}

/// HF `Replace` with a literal string pattern: every non-overlapping occurrence (left to right) is replaced by
/// `content`. Replacement scalars take the origin of the last replaced scalar (as HF); an empty pattern does nothing.
public struct ReplaceNormalizer: Normalizer {
    public let pattern: [UInt32]
    public let content: [UInt32]

    public init(pattern: String, content: String) {
        self.pattern = pattern.unicodeScalars.map(\.value)
        self.content = content.unicodeScalars.map(\.value)
    }

    public func normalize(_ text: inout NormalizedText) {
        guard !pattern.isEmpty, text.count >= pattern.count else { return }
        text.beginRewrite()
        var i = 0
        let n = text.count, m = pattern.count
        while i < n {
            if i + m <= n, text.scalars[i] == pattern[0] {
                var matched = true
                for k in 1..<m where text.scalars[i + k] != pattern[k] { matched = false; break }
                if matched {
                    let origin = text.origins[i + m - 1]
                    for scalar in content { text.emit(scalar, origin: origin) }
                    i += m
                    continue
                }
            }
            text.emit(text.scalars[i], origin: text.origins[i])
            i += 1
        }
        text.commit()
    }
}

/// HF unicode normalization forms `NFD`, `NFC`, `NFKD`, `NFKC`.
/// NFD uses tables measured from HF; the other forms use Foundation on each segment (a starter and the
/// non-starters after it); ASCII is returned unchanged. Alignment as HF: an output scalar that also occurs in
/// the segment takes that scalar's origin; any other takes the origin of the first segment scalar not yet used,
/// or the previous output's origin when all are used (e.g. "ﬁ" -> "f","i" both map to "ﬁ"; "e"+U+0301 -> "é" maps to "e").
public struct UnicodeNormalizer: Normalizer {
    public enum Form: String, Sendable { case nfd = "NFD", nfc = "NFC", nfkd = "NFKD", nfkc = "NFKC" }
    public let form: Form

    public init(_ form: Form) { self.form = form }

    public func normalize(_ text: inout NormalizedText) {
        if form == .nfd {
            text.beginRewrite()
            for i in 0..<text.count {
                let scalar = text.scalars[i]
                if scalar >= 0x80, UnicodeProps.flags(of: scalar) & UnicodeProps.hasNFD != 0, let parts = UnicodeProps.nfd[scalar] {
                    for part in parts { text.emit(part, origin: text.origins[i]) }
                } else {
                    text.emit(scalar, origin: text.origins[i])
                }
            }
            text.commit()
            text.canonicallyReorder()
            return
        }
        guard text.scalars.contains(where: { $0 >= 0x80 }) else { return }
        text.beginRewrite()
        let n = text.count
        var i = 0
        while i < n {
            var j = i + 1
            while j < n, text.scalars[j] >= 0x80, isNonStarterOrJamo(text.scalars[j]) { j += 1 }
            if j == i + 1, text.scalars[i] < 0x80 {
                text.emit(text.scalars[i], origin: text.origins[i])
            } else {
                var segment = String.UnicodeScalarView()
                for k in i..<j { if let s = Unicode.Scalar(text.scalars[k]) { segment.append(s) } }
                let source = String(segment)
                let normalized: String
                switch form {
                case .nfc: normalized = source.precomposedStringWithCanonicalMapping
                case .nfkc: normalized = source.precomposedStringWithCompatibilityMapping
                case .nfkd: normalized = source.decomposedStringWithCompatibilityMapping
                case .nfd: normalized = source.decomposedStringWithCanonicalMapping
                }
                var used = [Bool](repeating: false, count: j - i)
                var previousOrigin = text.origins[i]
                for scalar in normalized.unicodeScalars {
                    var chosen = -1
                    for k in i..<j where !used[k - i] && text.scalars[k] == scalar.value { chosen = k; break }
                    if chosen < 0 { for k in i..<j where !used[k - i] { chosen = k; break } }
                    if chosen >= 0 {
                        used[chosen - i] = true
                        previousOrigin = text.origins[chosen]
                    }
                    text.emit(scalar.value, origin: previousOrigin)
                }
            }
            i = j
        }
        text.commit()
    }

    private func isNonStarterOrJamo(_ scalar: UInt32) -> Bool {
        if UnicodeProps.flags(of: scalar) & UnicodeProps.nonStarter != 0 { return true }
        return (0x1160...0x11FF).contains(scalar)  // Hangul medial vowels and final consonants compose with a preceding syllable
    }
}

/// HF `Sequence` normalizer: applies each normalizer in order.
public struct SequenceNormalizer: Normalizer {
    public let normalizers: [any Normalizer]

    public init(_ normalizers: [any Normalizer]) { self.normalizers = normalizers }

    public func normalize(_ text: inout NormalizedText) {
        for normalizer in normalizers { normalizer.normalize(&text) }
    }
}
