// Differential-check tool for scripts/checks/csv_differential.py: prints each input file read by TextInputReader
// as a JSON array of strings (or "ERROR ..."). Built together with Sources/Featurize/IO by that script.
import Glibc
// Reads every file named on the command line with TextInputReader and prints the texts as JSON lines
// (one JSON array of strings per file), or "ERROR <description>".
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16) }
            else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
for path in CommandLine.arguments.dropFirst() {
    do {
        let texts = try TextInputReader(path: path).readAll()
        print("[" + texts.map(jsonString).joined(separator: ",") + "]")
    } catch {
        print("ERROR \(error)")
    }
}
