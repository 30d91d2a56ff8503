import Foundation
import ModelIO
import Testing
@testable import FeatureIO

/// A temporary directory removed on deinit.
final class IOTempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "featurize-io-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, bytes: [UInt8]) -> String {
        let full = path + "/" + name
        _ = FileManager.default.createFile(atPath: full, contents: Data(bytes))
        return full
    }
    func write(_ name: String, _ text: String) -> String { write(name, bytes: Array(text.utf8)) }
}

let ioPackageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    url.deleteLastPathComponent(); url.deleteLastPathComponent(); url.deleteLastPathComponent()
    return url.path
}()

/// Reads all texts of `text` written to a file named `name`, or returns the error.
func readTexts(_ text: String, name: String, format: TextInputReader.Format? = nil) -> Result<[String], FeatureIOError> {
    readTexts(bytes: Array(text.utf8), name: name, format: format)
}

func readTexts(bytes: [UInt8], name: String, format: TextInputReader.Format? = nil) -> Result<[String], FeatureIOError> {
    let dir = IOTempDir()
    let path = dir.write(name, bytes: bytes)
    do {
        return .success(try TextInputReader(path: path, format: format).readAll())
    } catch let error as FeatureIOError {
        return .failure(error)
    } catch {
        return .failure(.readFailed(path: path, reason: "unexpected \(error)"))
    }
}

extension Result where Failure == FeatureIOError {
    var error: FeatureIOError? { if case let .failure(e) = self { return e }; return nil }
    var texts: Success? { try? get() }
}

/// The error with its path replaced by "F", for comparing against an expected error.
func withoutPath(_ error: FeatureIOError?) -> FeatureIOError? {
    guard let error else { return nil }
    switch error {
    case let .invalidUTF8(_, line): return .invalidUTF8(path: "F", line: line)
    case let .invalidJSON(_, line, detail): return .invalidJSON(path: "F", line: line, detail: detail)
    case let .jsonLineNotObject(_, line, found): return .jsonLineNotObject(path: "F", line: line, found: found)
    case let .missingField(_, line, field): return .missingField(path: "F", line: line, field: field)
    case let .fieldNotString(_, line, field, found): return .fieldNotString(path: "F", line: line, field: field, found: found)
    case .missingHeader: return .missingHeader(path: "F")
    case let .missingColumn(_, line, column, available): return .missingColumn(path: "F", line: line, column: column, available: available)
    case let .duplicateColumn(_, line, column): return .duplicateColumn(path: "F", line: line, column: column)
    case let .raggedRow(_, line, e, f): return .raggedRow(path: "F", line: line, expectedFields: e, foundFields: f)
    case let .unterminatedQuote(_, line): return .unterminatedQuote(path: "F", line: line)
    case let .quoteInUnquotedField(_, line): return .quoteInUnquotedField(path: "F", line: line)
    case let .textAfterClosingQuote(_, line): return .textAfterClosingQuote(path: "F", line: line)
    default: return error
    }
}

@Suite struct TextInputReaderTests {
    @Test func formatFromExtension() throws {
        #expect(try TextInputReader.format(forPath: "a/b.txt") == .text)
        #expect(try TextInputReader.format(forPath: "-") == .text)
        #expect(try TextInputReader.format(forPath: "x.JSONL", field: "body") == .jsonl(field: "body"))
        #expect(try TextInputReader.format(forPath: "x.csv") == .csv(column: "text"))
        #expect(try TextInputReader.format(forPath: "x.tsv", field: "review") == .tsv(column: "review"))
        #expect(throws: FeatureIOError.unknownFormat(path: "x.parquet")) { try TextInputReader.format(forPath: "x.parquet") }
    }

    @Test func textLines() {
        #expect(readTexts("a\n\nb\r\nc", name: "t.txt").texts == ["a", "", "b", "c"])
        #expect(readTexts("a\nb\n", name: "t.txt").texts == ["a", "b"])
        #expect(readTexts("\n\n", name: "t.txt").texts == ["", ""])
        #expect(readTexts("", name: "t.txt").texts == [])
        #expect(readTexts("\u{FEFF}héllo wörld\n", name: "t.txt").texts == ["héllo wörld"])
        #expect(readTexts("a\rb\n", name: "t.txt").texts == ["a\rb"]) // a lone CR is content
    }

    @Test func invalidUTF8NamesTheLine() {
        let bytes = Array("ok\nfine\n".utf8) + [0x61, 0xC3, 0x28] + Array("\nlast\n".utf8)
        #expect(withoutPath(readTexts(bytes: bytes, name: "t.txt").error) == .invalidUTF8(path: "F", line: 3))
        // Overlong encoding and a lone surrogate encoded in UTF-8 are invalid too.
        #expect(withoutPath(readTexts(bytes: [0xC0, 0xAF], name: "t.txt").error) == .invalidUTF8(path: "F", line: 1))
        #expect(withoutPath(readTexts(bytes: [0x0A, 0xED, 0xA0, 0x80], name: "t.txt").error) == .invalidUTF8(path: "F", line: 2))
    }

    @Test func longLinesAcrossBufferBoundaries() {
        // Lines of many lengths, one much longer than the 64 KiB read chunk, CRLF and LF mixed.
        var expected: [String] = []
        var file = ""
        for i in 0..<5000 {
            let line = String(repeating: Character(Unicode.Scalar(UInt8(97 + i % 26))), count: (i * 37) % 211) + "é\(i)"
            expected.append(line)
            file += line + (i % 3 == 0 ? "\r\n" : "\n")
        }
        let long = String(repeating: "xyz", count: 100_000)
        expected.append(long); file += long + "\n"
        expected.append("end"); file += "end"
        let result = readTexts(file, name: "big.txt")
        #expect(result.texts?.count == expected.count)
        #expect(result.texts == expected)
    }

    @Test func jsonl() {
        let file = #"{"text": "first", "label": 1}"# + "\n\n" + #"{"id": 2, "text": "sec\"ond\nline \u00e9"}"# + "\r\n" + "  \n"
        #expect(readTexts(file, name: "d.jsonl").texts == ["first", "sec\"ond\nline é"])
        #expect(readTexts(#"{"body": "x"}"#, name: "d.jsonl", format: .jsonl(field: "body")).texts == ["x"])
    }

    @Test func jsonlErrorsNameTheLine() {
        #expect(withoutPath(readTexts("{\"text\":\"a\"}\n{\"text\": 5}\n", name: "d.jsonl").error)
                == .fieldNotString(path: "F", line: 2, field: "text", found: "number"))
        #expect(withoutPath(readTexts("{\"text\":\"a\"}\n\n{\"txt\":\"b\"}", name: "d.jsonl").error)
                == .missingField(path: "F", line: 3, field: "text"))
        #expect(withoutPath(readTexts("[\"a\"]", name: "d.jsonl").error) == .jsonLineNotObject(path: "F", line: 1, found: "array"))
        #expect(withoutPath(readTexts("{\"text\":\"a\"}\n{\"text\":\"b\"", name: "d.jsonl").error)
                == .invalidJSON(path: "F", line: 2, detail: "unexpected end of JSON at byte 11"))
        #expect(withoutPath(readTexts("{\"text\":null}", name: "d.jsonl").error)
                == .fieldNotString(path: "F", line: 1, field: "text", found: "null"))
        let bad = Array("{\"text\":\"".utf8) + [0xFF] + Array("\"}".utf8)
        #expect(withoutPath(readTexts(bytes: bad, name: "d.jsonl").error) == .invalidUTF8(path: "F", line: 1))
    }

    @Test func csvQuotingAndEmbeddedNewlines() {
        let file = "id,text,label\r\n1,plain,a\r\n2,\"with, comma\",b\r\n3,\"multi\r\nline \"\"quoted\"\"\",c\r\n4,,d\r\n\r\n5,\"\",e\r\n"
        #expect(readTexts(file, name: "d.csv").texts == ["plain", "with, comma", "multi\r\nline \"quoted\"", "", ""])
        // LF-only, no final newline, custom column.
        #expect(readTexts("review,text\n\"a\nb\",x\nc,y", name: "d.csv", format: .csv(column: "review")).texts == ["a\nb", "c"])
        // TSV with quotes.
        #expect(readTexts("text\tlabel\n\"tab\there\"\t1\nplain\t0\n", name: "d.tsv").texts == ["tab\there", "plain"])
    }

    @Test func csvErrorsNameTheLine() {
        #expect(withoutPath(readTexts("id,body\n1,x\n", name: "d.csv").error)
                == .missingColumn(path: "F", line: 1, column: "text", available: ["id", "body"]))
        // The ragged record starts on line 4 (line 2-3 hold one record with an embedded newline).
        #expect(withoutPath(readTexts("text,label\n\"a\nb\",1\nc,2,extra\n", name: "d.csv").error)
                == .raggedRow(path: "F", line: 4, expectedFields: 2, foundFields: 3))
        #expect(withoutPath(readTexts("text,label\nc\n", name: "d.csv").error)
                == .raggedRow(path: "F", line: 2, expectedFields: 2, foundFields: 1))
        #expect(withoutPath(readTexts("text,label\nok,1\n\"never closed,1\nmore\n", name: "d.csv").error)
                == .unterminatedQuote(path: "F", line: 3))
        #expect(withoutPath(readTexts("text,label\nab\"c,1\n", name: "d.csv").error) == .quoteInUnquotedField(path: "F", line: 2))
        #expect(withoutPath(readTexts("text,label\n\"ab\"c,1\n", name: "d.csv").error) == .textAfterClosingQuote(path: "F", line: 2))
        #expect(withoutPath(readTexts("", name: "d.csv").error) == .missingHeader(path: "F"))
        #expect(withoutPath(readTexts("text,text\na,b\n", name: "d.csv").error) == .duplicateColumn(path: "F", line: 1, column: "text"))
        let bad = Array("text\nok\n".utf8) + [0xFE] + [0x0A]
        #expect(withoutPath(readTexts(bytes: bad, name: "d.csv").error) == .invalidUTF8(path: "F", line: 3))
    }

    @Test func demoCSVMatchesPythonCSVModule() throws {
        // Reference: Python's csv.DictReader (scripts/fixtures/io_reference_values.py).
        let reader = try TextInputReader(path: ioPackageRoot + "/data/demo/movie-reviews.csv")
        let texts = try reader.readAll()
        #expect(texts.count == 10568)
        #expect(texts.reduce(0) { $0 + $1.utf8.count } == 1_180_362)
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for (i, text) in texts.enumerated() {
            if i > 0 { hash = (hash ^ 0) &* 0x100_0000_01B3 }
            for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        }
        #expect(hash == 0x9169_210F_EF7E_0EF4)
        #expect(texts[7841] == "Apallingly absurd...the chemistry or lack thereof between Newton and Wahlberg could turn an Imax theater into a 9\" black and white portable TV.")
    }

    @Test func batchesAndLineNumbers() throws {
        let dir = IOTempDir()
        let path = dir.write("b.csv", "text\n\"x\ny\"\nz\nw\n")
        let reader = try TextInputReader(path: path)
        #expect(try reader.nextBatch(maxCount: 1) == ["x\ny"])
        #expect(reader.lineNumber == 2)
        #expect(try reader.nextBatch(maxCount: 5) == ["z", "w"])
        #expect(reader.lineNumber == 5)
        #expect(try reader.next() == nil)
    }

    @Test func missingInput() {
        #expect(throws: FeatureIOError.cannotOpen(path: "/nonexistent/in.txt", reason: "No such file or directory")) {
            try TextInputReader(path: "/nonexistent/in.txt")
        }
    }
}

/// Reads standard input (`-`) by temporarily pointing file descriptor 0 at a file.
@Suite(.serialized) struct StandardInputTests {
    @Test func dashReadsStandardInput() throws {
        let dir = IOTempDir()
        let path = dir.write("stdin.txt", "one\ntwo\n")
        let saved = dup(0)
        let file = open(path, O_RDONLY)
        #expect(saved >= 0 && file >= 0)
        dup2(file, 0)
        close(file)
        defer { dup2(saved, 0); close(saved) }
        let reader = try TextInputReader(path: "-")
        #expect(reader.format == .text)
        #expect(try reader.readAll() == ["one", "two"])
    }

    @Test func dashWritesStandardOutput() throws {
        let dir = IOTempDir()
        for index in 0..<3 {
            let path = dir.path + "/stdout\(index)"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            #expect(fd >= 0)
            defer { close(fd) }
            try MatrixFileSink.$standardOutputDescriptor.withValue(fd) {
                let writer = try makeFeatureWriter(path: "-", columns: 2, format: [.npy, .safetensors, .jsonl][index])
                try writer.append(rows: [1, 2, 3, 4])
                try writer.finish()
            }
            let bytes = fileBytes(path)
            switch index {
            case 0:
                #expect(bytes.count == 128 + 16)
                #expect(String(decoding: bytes[10..<128], as: UTF8.self).contains("'shape': (2, 2)"))
            case 1:
                let file = try SafetensorsFile(path: path)
                #expect(try file.tensor("features").values == [1, 2, 3, 4])
            default:
                #expect(String(decoding: bytes, as: UTF8.self) == "[1.0,2.0]\n[3.0,4.0]\n")
            }
        }
    }
}
