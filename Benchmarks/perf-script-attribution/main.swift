// Reads `perf script -F tid,period,ip,sym` output of a `perf record -g` recording on stdin and charges every sample
// to a category with copyprof's attribution table and walk (CopyprofAttribution), as the sweep charges its own
// samples: the other side of Benchmarks/attribution-crosscheck.sh. Prints one line per thread:
//
//     TID SAMPLES WEIGHT category=weight category=weight ...
//
// Kernel frames are those at kernel addresses (the upper half); `perf script` leaves Swift names mangled, so they are
// demangled here as PerfSymbols demangles its own.

import CopyprofAttribution
import CopyprofModel
import PerfSymbols

struct Frame {
    var name: String
    var isKernel: Bool
}

/// Samples per thread, charged as they are read.
struct PerfScriptTally {
    let attributor = Attributor()
    var totals: [Int: (samples: Int, weight: UInt64, categories: [AttributionCategory: UInt64])] = [:]
    var tid: Int?
    var period: UInt64 = 0
    var frames: [Frame] = []

    mutating func finishSample() {
        defer {
            tid = nil
            frames = []
        }
        guard let thread = tid else { return }
        let kernel = frames.prefix { $0.isKernel }.map(\.name)
        let user = frames.drop { $0.isKernel }.filter { !$0.isKernel }.map(\.name)
        let category = attributor.attribute(kernelFrames: kernel, userFrames: user).category
        var entry = totals[thread] ?? (0, 0, [:])
        entry.samples += 1
        entry.weight &+= period
        entry.categories[category, default: 0] &+= period
        totals[thread] = entry
    }

    mutating func read(_ line: String) {
        if line.isEmpty {
            finishSample()
            return
        }
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if line.first == "\t" {
            // A frame: a tab, "ADDRESS NAME+0xOFF" (leaf first), NAME `[unknown]` when perf could not name it.
            guard tid != nil, let address = fields.first.flatMap({ UInt64($0, radix: 16) }) else { return }
            var name = fields.count > 1 ? fields[1...].joined(separator: " ") : "[unknown]"
            if let plus = name.utf8.indices.last(where: { name.utf8[$0...].starts(with: "+0x".utf8) }) {
                name = String(name[..<plus])
            }
            if name.hasPrefix("$s") || name.hasPrefix("_$s") { name = SymbolDemangler.displayName(name) }
            frames.append(Frame(name: name, isKernel: address >= 0xffff_8000_0000_0000))
            return
        }
        // A sample's header: "TID PERIOD" (perf script -F tid,period,...), the tid padded with spaces.
        finishSample()
        if fields.count >= 2, let thread = Int(fields[0]), let weight = UInt64(fields[1]) {
            tid = thread
            period = weight
        }
    }
}

var tally = PerfScriptTally()
while let line = readLine() { tally.read(line) }
tally.finishSample()
for (thread, entry) in tally.totals.sorted(by: { $0.key < $1.key }) {
    let categories = entry.categories.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }
    print(([String(thread), String(entry.samples), String(entry.weight)] + categories).joined(separator: " "))
}
