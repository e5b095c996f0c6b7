// Lists the public symbols of a symbol graph that have no doc comment, and fails when there is one.
// Symbols the compiler synthesizes (Codable's init(from:), Hashable's hashValue ...) have no source location
// and are left out: there is nothing to write a comment on.
//
//   swift Scripts/check-doc-comments.swift .build/docs-build/symbol-graphs/PerfCounters.symbols.json
import Foundation

guard CommandLine.arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: check-doc-comments.swift MODULE.symbols.json\n".utf8))
    exit(2)
}
let path = CommandLine.arguments[1]
guard let data = FileManager.default.contents(atPath: path),
    let graph = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
    let symbols = graph["symbols"] as? [[String: Any]]
else {
    FileHandle.standardError.write(Data("check-doc-comments: \(path) is not a symbol graph; build with -emit-symbol-graph first\n".utf8))
    exit(1)
}
var missing: [String] = []
let written = symbols.filter { $0["location"] != nil }
for symbol in written where symbol["docComment"] == nil {
    let kind = (symbol["kind"] as? [String: Any])?["displayName"] as? String ?? "symbol"
    let name = (symbol["pathComponents"] as? [String])?.joined(separator: ".") ?? "?"
    let file = ((symbol["location"] as? [String: Any])?["uri"] as? String).map { ($0 as NSString).lastPathComponent } ?? "?"
    missing.append("\(file): \(kind) \(name)")
}
if missing.isEmpty {
    print(
        "check-doc-comments: all \(written.count) public symbols in the sources have a doc comment "
            + "(\(symbols.count - written.count) more are synthesized and inherit their protocol's)")
} else {
    print("check-doc-comments: \(missing.count) public symbol(s) without a doc comment:")
    for line in missing.sorted() { print("  " + line) }
    exit(1)
}
