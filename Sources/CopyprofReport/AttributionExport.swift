import CopyprofModel
import CopyprofProfile

/// `copyprof export --attribution --csv`: one row per cell, role and category, for pandas and spreadsheets. A share
/// that could not be seen (a kernel category with user-only sampling) is empty, never 0.
package enum AttributionCSV {
    /// The columns, in this order: the cell in CSVExport's names, then the share (0 to 1) with its 95% interval, the
    /// category's samples, how the threads were sampled, the trials pooled and the samples lost.
    package static let columns = [
        "transport", "receiver", "workload", "message_size", "connections", "role", "category", "share", "low", "high",
        "samples", "sampling_mode", "trials", "lost_samples",
    ]

    /// The CSV text, header first; every category of every sampled cell and role.
    package static func render(_ analysis: AttributionAnalysis) -> String {
        var out = columns.joined(separator: ",") + "\n"
        let mode = analysis.sampling?.mode.rawValue ?? ""
        for cell in analysis.cells {
            for role in WorkerRole.allCases {
                guard let attribution = analysis.role(role, in: cell) else { continue }
                for category in AttributionCategory.allCases {
                    let share = attribution.share(category)
                    let fields: [String] = [
                        cell.transport.rawValue, cell.receiver.rawValue, cell.workload.rawValue, String(cell.messageSize),
                        String(cell.connections), role.rawValue, category.rawValue,
                        share.map { formatDecimal($0.share, digits: 6) } ?? "", share.map { formatDecimal($0.low, digits: 6) } ?? "",
                        share.map { formatDecimal($0.high, digits: 6) } ?? "", share.map { String($0.samples) } ?? "", mode,
                        String(attribution.trials), String(attribution.lost),
                    ]
                    out += fields.joined(separator: ",") + "\n"
                }
            }
        }
        return out
    }
}

extension AttributionAnalysis {
    /// The stacks `copyprof export --folded` writes: of one cell or every sampled cell, of one role or both. Frames
    /// that say whose stack it is are put before the root where more than one cell or role is written: the cell as the
    /// report names it (`stream two-copy 65536 B × 1 connection`), then the role.
    package func foldedExport(cell: CellKey?, role: WorkerRole?) -> FoldedStacks {
        var out = FoldedStacks()
        for key in cell.map({ [$0] }) ?? cells {
            for r in role.map({ [$0] }) ?? WorkerRole.allCases {
                let prefix = (cell == nil ? [key.description] : []) + (role == nil ? [r.rawValue] : [])
                for (frames, count) in folded(r, in: key, prefix: prefix).counts { out.add(rootFirst: frames, count: count) }
            }
        }
        return out
    }

    /// The sampled cells with stacks of the role (either role when nil).
    package func cellsWithStacks(role: WorkerRole? = nil) -> [CellKey] {
        cells.filter { cell in (role.map { [$0] } ?? WorkerRole.allCases).contains { stacks($0, in: cell) != nil } }
    }
}

/// A cell named on the command line: `two-copy,stream,65536,1` (TRANSPORT[+RECEIVER],WORKLOAD,SIZE,CONNECTIONS), or
/// as the report names it, `stream two-copy 65536 B × 1 connection`. One parser for every command that takes a cell.
package enum CellSelector {
    /// The comma form of a cell: `zero-copy+mmap,stream,65536,1`.
    package static func text(_ key: CellKey) -> String {
        "\(key.path),\(key.workload.name),\(key.messageSize),\(key.connections)"
    }

    static let syntax = "write TRANSPORT[+RECEIVER],WORKLOAD,SIZE,CONNECTIONS (e.g. two-copy,stream,65536,1) or as the "
        + "report names the cell (e.g. 'stream two-copy 65536 B × 1 connection')"

    /// The cell `text` names, which must be one of `cells`; the error, one line, says what is wrong and lists the cells.
    package static func parse(_ text: String, among cells: [CellKey], option: String = "--cell") throws(CopyprofError) -> CellKey {
        let filler: Set<String> = ["B", "×", "x", "connection", "connections"]
        var tokens = text.split { $0 == "," || $0.isWhitespace }.map(String.init).filter { !filler.contains($0) }
        tokens = tokens.map { $0.count > 1 && $0.hasSuffix("B") && Int($0.dropLast()) != nil ? String($0.dropLast()) : $0 }
        var workload: Workload?, path: TransportPath?, numbers: [Int] = []
        for token in tokens {
            if let w = Workload(name: token), workload == nil {
                workload = w
            } else if let n = Int(token), n > 0 {
                numbers.append(n)
            } else {
                let parts = token.split(separator: "+", maxSplits: 1).map(String.init)
                guard path == nil, let transport = TransportKind(name: parts[0]) else {
                    throw .invalidArgument("\(option) '\(text)': '\(token)' is not a transport (\(TransportKind.allCases.map(\.name).joined(separator: ", "))), a workload (stream, ping-pong) or a number; \(syntax)")
                }
                var receiver = ReceiverKind.copy
                if parts.count == 2 {
                    guard let r = ReceiverKind(name: parts[1]) else {
                        throw .invalidArgument("\(option) '\(text)': '\(parts[1])' is not a receiver (\(ReceiverKind.allCases.map(\.name).joined(separator: ", ")))")
                    }
                    receiver = r
                }
                path = TransportPath(transport, receiver)
            }
        }
        guard let workload, let path, numbers.count == 2 else {
            throw .invalidArgument("\(option) '\(text)' is not a cell: \(syntax)")
        }
        let key = CellKey(transport: path.transport, receiver: path.receiver, workload: workload, messageSize: numbers[0], connections: numbers[1])
        guard cells.contains(key) else {
            throw .invalidArgument("\(option) '\(text)': the profile has no such sampled cell; \(listing(cells))")
        }
        return key
    }

    /// The cells, each in the comma form when there are a dozen or fewer, else each dimension's values.
    static func listing(_ cells: [CellKey]) -> String {
        if cells.isEmpty { return "it has no sampled cells" }
        if cells.count <= 12 { return "its sampled cells: " + cells.map(text).joined(separator: " ") }
        func values<T: Hashable>(_ f: (CellKey) -> T) -> [T] {
            var seen: Set<T> = []
            return cells.map(f).filter { seen.insert($0).inserted }
        }
        return "its \(cells.count) sampled cells span paths \(values { $0.path }.joined(separator: ", ")); workloads "
            + "\(values { $0.workload.name }.joined(separator: ", ")); sizes \(values { $0.messageSize }.sorted().map(String.init).joined(separator: ", ")); "
            + "connections \(values { $0.connections }.sorted().map(String.init).joined(separator: ", "))"
    }
}
