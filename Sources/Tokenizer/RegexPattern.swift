/// Why a regular expression was refused.
public struct RegexPatternError: Error, CustomStringConvertible, Equatable {
    public let pattern: String
    public let detail: String
    public init(pattern: String, detail: String) { self.pattern = pattern; self.detail = detail }
    public var description: String { "unsupported regex '\(pattern)': \(detail)" }
}

/// A small subset of Oniguruma patterns (what tokenizer.json `Replace` normalizers use, e.g. `" {2,}"`),
/// matched over Unicode scalars with Oniguruma's semantics for that subset: leftmost match, greedy quantifiers
/// with backtracking, successive matches do not overlap.
///
/// Supported: literal characters; escapes `\\t \\n \\r \\f \\v \\e \\a`, `\\xHH`, `\\x{H…}`, `\\uHHHH`, and an
/// escaped punctuation character; `.` (any scalar except `\\n`); `\\s` / `\\S` (Unicode White_Space, as
/// Oniguruma's Unicode `\\s`); classes `[...]` / `[^...]` of those with ranges `a-z`; quantifiers `?`, `*`, `+`,
/// `{m}`, `{m,}`, `{m,n}` (greedy). Refused, by name: alternation, groups, anchors, lazy/possessive
/// quantifiers, back-references, `\\d \\w \\b \\p{…}` and other classes, POSIX brackets, and patterns that
/// can match the empty string.
public struct RegexPattern: Sendable {
    /// One position of the pattern: a set of scalars repeated `minimum...maximum` times.
    struct Atom: Sendable {
        var ranges: [ClosedRange<UInt32>]
        var negated: Bool
        var whiteSpace: Bool  // \s inside (or as) the set
        var notWhiteSpace: Bool  // \S inside (or as) the set
        var minimum: Int
        var maximum: Int  // Int.max: unbounded

        func matches(_ scalar: UInt32) -> Bool {
            var inside = ranges.contains { $0.contains(scalar) }
            if !inside, whiteSpace || notWhiteSpace {
                let isSpace = RegexPattern.isWhiteSpace(scalar)
                inside = (whiteSpace && isSpace) || (notWhiteSpace && !isSpace)
            }
            return inside != negated
        }
    }

    public let source: String
    let atoms: [Atom]
    /// Longest accepted pattern, in elements (bounds the matcher's recursion depth).
    static let maximumElements = 64

    public init(_ source: String) throws {
        self.source = source
        let chars = Array(source.unicodeScalars.map(\.value))
        var atoms: [Atom] = []
        var i = 0
        func fail(_ detail: String) -> RegexPatternError { RegexPatternError(pattern: source, detail: detail) }
        func hexValue(_ digits: ArraySlice<UInt32>) throws -> UInt32 {
            guard !digits.isEmpty, digits.count <= 8 else { throw fail("bad hexadecimal escape") }
            var value: UInt32 = 0
            for d in digits {
                guard d < 0x80, let digit = Int(String(Character(Unicode.Scalar(UInt8(d)))), radix: 16) else {
                    throw fail("bad hexadecimal escape")
                }
                value = value << 4 | UInt32(digit)
            }
            guard value <= 0x10FFFF else { throw fail("escape beyond U+10FFFF") }
            return value
        }
        /// Parses an escape at `chars[i]` (just after the backslash): a scalar, or nil for \s / \S (set in `space`).
        func escape(_ space: inout Int) throws -> UInt32? {
            guard i < chars.count else { throw fail("pattern ends with a backslash") }
            let c = chars[i]
            i += 1
            switch Unicode.Scalar(c).map(Character.init) {
            case "t": return 0x09
            case "n": return 0x0A
            case "r": return 0x0D
            case "f": return 0x0C
            case "v": return 0x0B
            case "e": return 0x1B
            case "a": return 0x07
            case "s": space = 1; return nil
            case "S": space = 2; return nil
            case "x":
                if i < chars.count, chars[i] == 0x7B {  // {
                    guard let close = chars[i...].firstIndex(of: 0x7D) else { throw fail("unterminated \\x{") }
                    let value = try hexValue(chars[(i + 1)..<close])
                    i = close + 1
                    return value
                }
                guard i + 2 <= chars.count else { throw fail("\\x needs two hexadecimal digits") }
                let value = try hexValue(chars[i..<(i + 2)])
                i += 2
                return value
            case "u":
                guard i + 4 <= chars.count else { throw fail("\\u needs four hexadecimal digits") }
                let value = try hexValue(chars[i..<(i + 4)])
                i += 4
                return value
            default:
                let isPunctuation = c < 0x80 && !(0x30...0x39).contains(c) && !(0x41...0x5A).contains(c) && !(0x61...0x7A).contains(c)
                guard isPunctuation else {
                    throw fail("escape \\\(Unicode.Scalar(c).map { String($0) } ?? "?") (character classes other than \\s/\\S, anchors, back-references) is not supported")
                }
                return c
            }
        }
        while i < chars.count {
            let c = chars[i]
            var atom = Atom(ranges: [], negated: false, whiteSpace: false, notWhiteSpace: false, minimum: 1, maximum: 1)
            switch c {
            case 0x5C:  // backslash
                i += 1
                var space = 0
                if let scalar = try escape(&space) { atom.ranges = [scalar...scalar] } else if space == 1 { atom.whiteSpace = true } else { atom.notWhiteSpace = true }
            case 0x2E:  // .
                i += 1
                atom.ranges = [0x0A...0x0A]
                atom.negated = true
            case 0x5B:  // [
                i += 1
                if i < chars.count, chars[i] == 0x5E { atom.negated = true; i += 1 }
                var first = true
                while true {
                    guard i < chars.count else { throw fail("unterminated character class") }
                    var low = chars[i]
                    if low == 0x5D, !first { i += 1; break }  // ]
                    first = false
                    if low == 0x5B { throw fail("nested classes and POSIX brackets are not supported") }
                    if low == 0x26, i + 1 < chars.count, chars[i + 1] == 0x26 { throw fail("class intersection && is not supported") }
                    i += 1
                    if low == 0x5C {
                        var space = 0
                        guard let scalar = try escape(&space) else {
                            if space == 1 { atom.whiteSpace = true } else { atom.notWhiteSpace = true }
                            continue
                        }
                        low = scalar
                    }
                    var high = low
                    if i + 1 < chars.count, chars[i] == 0x2D, chars[i + 1] != 0x5D {  // a-b
                        i += 1
                        high = chars[i]
                        i += 1
                        if high == 0x5C {
                            var space = 0
                            guard let scalar = try escape(&space) else { throw fail("a class range cannot end in \\s") }
                            high = scalar
                        }
                        guard low <= high else { throw fail("class range out of order") }
                    }
                    atom.ranges.append(low...high)
                }
            case 0x7C: throw fail("alternation '|' is not supported")
            case 0x28, 0x29: throw fail("groups '(...)' are not supported")
            case 0x5E, 0x24: throw fail("anchors '^' and '$' are not supported")
            case 0x2A, 0x2B, 0x3F: throw fail("quantifier without anything to repeat")
            case 0x7B:
                throw fail("a '{' with nothing to repeat is not supported")
            default:
                i += 1
                atom.ranges = [c...c]
            }
            // Quantifier.
            if i < chars.count {
                switch chars[i] {
                case 0x3F: atom.minimum = 0; atom.maximum = 1; i += 1
                case 0x2A: atom.minimum = 0; atom.maximum = .max; i += 1
                case 0x2B: atom.minimum = 1; atom.maximum = .max; i += 1
                case 0x7B:
                    guard let close = chars[i...].firstIndex(of: 0x7D) else { throw fail("unterminated {m,n}") }
                    let body = String(String.UnicodeScalarView(chars[(i + 1)..<close].compactMap(Unicode.Scalar.init)))
                    let parts = body.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                    guard (1...2).contains(parts.count), let m = Int(parts[0]), m >= 0, m <= 100_000 else {
                        throw fail("bad quantifier {\(body)}")
                    }
                    atom.minimum = m
                    if parts.count == 1 {
                        atom.maximum = m
                    } else if parts[1].isEmpty {
                        atom.maximum = .max
                    } else {
                        guard let n = Int(parts[1]), n >= m, n <= 100_000 else { throw fail("bad quantifier {\(body)}") }
                        atom.maximum = n
                    }
                    i = close + 1
                default: break
                }
                if i < chars.count, chars[i] == 0x3F || chars[i] == 0x2B {
                    throw fail("lazy and possessive quantifiers are not supported")
                }
                if i < chars.count, [0x2A, 0x7B].contains(chars[i]) {
                    throw fail("a quantifier cannot follow a quantifier")
                }
            }
            atoms.append(atom)
        }
        guard atoms.contains(where: { $0.minimum > 0 }) else { throw fail("the pattern can match the empty string") }
        guard atoms.count <= Self.maximumElements else {
            throw fail("more than \(Self.maximumElements) elements (tokenizer.json patterns are short)")
        }
        self.atoms = atoms
    }

    /// Oniguruma's Unicode `\s`: White_Space.
    static func isWhiteSpace(_ s: UInt32) -> Bool {
        switch s {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Non-overlapping leftmost matches in `scalars[range]`, as half-open index ranges.
    /// Backtracking remembers which (element, position) pairs failed, so the work is polynomial
    /// (elements × positions × repeat counts), never exponential.
    public func matches(in scalars: [UInt32], range: Range<Int>) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = range.lowerBound
        // A first atom that must match one given scalar: test it inline before trying a match.
        let first = atoms[0]
        let literal: UInt32? = first.minimum > 0 && !first.negated && !first.whiteSpace && !first.notWhiteSpace
            && first.ranges.count == 1 && first.ranges[0].count == 1 ? first.ranges[0].lowerBound : nil
        var failed: [UInt64] = []  // bit set over (element, position), allocated at the first failure to remember
        scalars.withUnsafeBufferPointer { text in
            while start < range.upperBound {
                if let literal, text[start] != literal {
                    start += 1
                    continue
                }
                if let end = match(text, at: start, atom: 0, range: range, failed: &failed) {
                    result.append(start..<end)
                    start = end  // never empty: the pattern cannot match the empty string
                } else {
                    start += 1
                }
            }
        }
        return result
    }

    /// Greedy backtracking match of atoms `index...` at `position`; the end of the match, or nil.
    private func match(_ text: UnsafeBufferPointer<UInt32>, at position: Int, atom index: Int, range: Range<Int>,
                       failed: inout [UInt64]) -> Int? {
        guard index < atoms.count else { return position }
        let key = index * (range.count + 1) + (position - range.lowerBound)
        if index > 0, !failed.isEmpty, failed[key >> 6] & (1 << UInt64(key & 63)) != 0 { return nil }
        let atom = atoms[index]
        var count = 0
        var p = position
        while count < atom.maximum, p < range.upperBound, atom.matches(text[p]) { count += 1; p += 1 }
        if count >= atom.minimum {
            if index + 1 == atoms.count { return p }
            while true {
                if let end = match(text, at: position + count, atom: index + 1, range: range, failed: &failed) { return end }
                if count == atom.minimum { break }
                count -= 1
            }
        }
        if index > 0 {
            if failed.isEmpty { failed = [UInt64](repeating: 0, count: (atoms.count * (range.count + 1) + 63) / 64) }
            failed[key >> 6] |= 1 << UInt64(key & 63)
        }
        return nil
    }
}
