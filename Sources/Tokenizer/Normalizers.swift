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
        var previousNonStarter = false
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
                previousNonStarter = false
                continue
            }
            let flags = UnicodeProps.flags(of: scalar)
            if cleanText {
                if flags & UnicodeProps.cleanRemoved != 0 { continue }
                if flags & UnicodeProps.cleanToSpace != 0 { scalar = 0x20 }
            }
            if stripAccents {
                // Canonical reordering (before Mn removal, with HF's positional alignment) matters only where two
                // non-starters meet after decomposition: then take the exact, slower path.
                if flags & UnicodeProps.hasNFD != 0, let parts = UnicodeProps.nfd[scalar] {
                    for part in parts {
                        let nonStarter = UnicodeProps.flags(of: part) & UnicodeProps.nonStarter != 0
                        if nonStarter && previousNonStarter { needsReorder = true }
                        previousNonStarter = nonStarter
                    }
                } else {
                    let nonStarter = flags & UnicodeProps.nonStarter != 0
                    if nonStarter && previousNonStarter { needsReorder = true }
                    previousNonStarter = nonStarter
                }
            }
            if handleChineseChars, flags & UnicodeProps.chinese != 0 {
                text.emit(0x20, origin: origin)
                emitAccentsAndCase(scalar, origin: origin, into: &text, needsReorder: &needsReorder)
                text.emit(0x20, origin: origin)
                previousNonStarter = false
            } else {
                emitAccentsAndCase(scalar, origin: origin, into: &text, needsReorder: &needsReorder)
            }
        }
        if needsReorder {
            // Exact path: clean + chinese, NFD (with reordering), remove Mn, lowercase.
            BertNormalizer(cleanText: cleanText, handleChineseChars: handleChineseChars, stripAccents: false, lowercase: false)
                .normalize(&text)
            UnicodeNormalizer(.nfd).normalize(&text)
            ScalarFilter(flag: UnicodeProps.nonspacingMark).normalize(&text)
            if lowercase { LowercaseNormalizer().normalize(&text) }
            return
        }
        text.commit()
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

/// HF unicode normalization forms `NFD`, `NFC`, `NFKD`, `NFKC`: full (compatibility) decomposition from tables
/// measured from HF, canonical reordering, then canonical composition for NFC/NFKC (Hangul algorithmic).
/// Alignment follows HF's change model: every output scalar carries a change (0 replaces one input scalar,
/// +1 is inserted after the previous one, -n replaces 1 + n); decomposition gives (first, 0), (rest, +1);
/// reordering moves scalars with their changes; a composite of S and M gets change(S) + change(M) - 1.
/// ASCII-only text is returned unchanged.
public struct UnicodeNormalizer: Normalizer {
    public enum Form: String, Sendable { case nfd = "NFD", nfc = "NFC", nfkd = "NFKD", nfkc = "NFKC" }
    public let form: Form

    public init(_ form: Form) { self.form = form }

    public func normalize(_ text: inout NormalizedText) {
        guard text.scalars.contains(where: { $0 >= 0x80 }) else { return }
        let compatibility = form == .nfkd || form == .nfkc
        var scalars: [UInt32] = [], changes: [Int] = []
        scalars.reserveCapacity(text.count + 8); changes.reserveCapacity(text.count + 8)
        for scalar in text.scalars {
            var parts: [UInt32]? = nil
            if scalar >= 0x80 {
                parts = compatibility ? UnicodeProps.nfkd[scalar]
                    : (UnicodeProps.flags(of: scalar) & UnicodeProps.hasNFD != 0 ? UnicodeProps.nfd[scalar] : nil)
            }
            if let parts {
                for (k, part) in parts.enumerated() { scalars.append(part); changes.append(k == 0 ? 0 : 1) }
            } else {
                scalars.append(scalar); changes.append(0)
            }
        }
        Self.reorder(&scalars, &changes)
        if form == .nfc || form == .nfkc { Self.compose(&scalars, &changes) }
        // Apply the changes to the input origins (HF NormalizedString::transform).
        text.beginRewrite()
        var position = 0
        let inputCount = text.count
        for (scalar, change) in zip(scalars, changes) {
            if change > 0 {
                text.emit(scalar, origin: text.origins[max(0, min(position, inputCount) - 1)])
            } else {
                text.emit(scalar, origin: text.origins[min(position, inputCount - 1)])
                position += 1 - change
            }
        }
        text.commit()
    }

    /// Canonical reordering: stable sort of each run of non-starters by combining class; changes move along.
    static func reorder(_ scalars: inout [UInt32], _ changes: inout [Int]) {
        let n = scalars.count
        var i = 0
        while i < n {
            guard UnicodeProps.flags(of: scalars[i]) & UnicodeProps.nonStarter != 0 else { i += 1; continue }
            var j = i
            while j < n, UnicodeProps.flags(of: scalars[j]) & UnicodeProps.nonStarter != 0 { j += 1 }
            if j - i > 1 {
                for k in (i + 1)..<j {
                    let scalar = scalars[k], change = changes[k]
                    let cls = UnicodeProps.combiningClass[scalar] ?? 0
                    var m = k - 1
                    while m >= i, (UnicodeProps.combiningClass[scalars[m]] ?? 0) > cls {
                        scalars[m + 1] = scalars[m]; changes[m + 1] = changes[m]; m -= 1
                    }
                    scalars[m + 1] = scalar; changes[m + 1] = change
                }
            }
            i = j
        }
    }

    /// Canonical composition (UAX #15) of a decomposed, reordered sequence.
    static func compose(_ scalars: inout [UInt32], _ changes: inout [Int]) {
        let n = scalars.count
        var out = 0
        var starter = -1
        var lastClass = -1  // -1: nothing between the starter and the current scalar
        for i in 0..<n {
            let scalar = scalars[i]
            let cls = scalar < 0x300 ? 0 : Int(UnicodeProps.combiningClass[scalar] ?? 0)
            if starter >= 0, lastClass == -1 || lastClass < cls, let composite = UnicodeProps.compose(scalars[starter], scalar) {
                scalars[starter] = composite
                changes[starter] += changes[i] - 1
                continue
            }
            if cls == 0 {
                starter = out
                lastClass = -1
            } else {
                lastClass = cls
            }
            scalars[out] = scalar
            changes[out] = changes[i]
            out += 1
        }
        scalars.removeLast(n - out)
        changes.removeLast(n - out)
    }
}

/// Removes scalars with the given property flag (HF's `filter`): the Bert normalizer's Mn removal.
struct ScalarFilter: Normalizer {
    let flag: UInt16

    func normalize(_ text: inout NormalizedText) {
        text.beginRewrite()
        for i in 0..<text.count where text.scalars[i] < 0x80 || UnicodeProps.flags(of: text.scalars[i]) & flag == 0 {
            text.emit(text.scalars[i], origin: text.origins[i])
        }
        text.commit()
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

// MARK: - Loading from tokenizer.json (registered in TokenizerComponents)

extension BertNormalizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        self.init(cleanText: try fields.bool("clean_text", default: true),
                  handleChineseChars: try fields.bool("handle_chinese_chars", default: true),
                  stripAccents: try fields.optionalBool("strip_accents"),
                  lowercase: try fields.bool("lowercase", default: true))
    }
}

extension LowercaseNormalizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws { self.init() }
}

extension StripAccentsNormalizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws { self.init() }
}

extension UnicodeNormalizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        let type = try fields.string("type")
        guard let form = Form(rawValue: type) else { throw TokenizerComponents.unsupported(fields, type) }
        self.init(form)
    }
}

extension StripNormalizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        self.init(left: try fields.bool("strip_left", default: true), right: try fields.bool("strip_right", default: true))
    }
}

extension ReplaceNormalizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        let pattern = try fields.object("pattern")
        guard let literal = try pattern.optionalString("String") else {
            let kind = pattern.members.map(\.key).sorted().first ?? "?"
            throw TokenizerError.unsupportedComponent(path: fields.path, field: pattern.prefix, type: kind)
        }
        self.init(pattern: literal, content: try fields.string("content"))
    }
}

extension SequenceNormalizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        self.init(try fields.objects("normalizers").map { try TokenizerComponents.normalizer($0, context) })
    }
}
