import ArgumentParser
import CopyprofFiles
import CopyprofModel
import CopyprofProfile
import CopyprofReport
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a profile: CSV of its trials or of where its threads' time went, folded stacks, a flame graph.",
        discussion: """
            --csv: one row per trial, counters summed over sender and receiver threads. --attribution --csv: one row \
            per cell, role and category: the share of the role's sampled time with its 95% interval. --folded: the \
            sampled call stacks as flamegraph.pl, inferno and speedscope read them (`frame;frame;frame count` per line, \
            root first); without --cell or --role, each stack starts with its cell and role. --flamegraph: an SVG \
            flame graph of one cell's role (--cell and --role). A cell is TRANSPORT[+RECEIVER],WORKLOAD,SIZE,CONNECTIONS \
            (two-copy,stream,65536,1) or as the report names it ('stream two-copy 65536 B × 1 connection').
            """
    )

    @Argument(help: "The profile to export.")
    var profile: String

    @Flag(help: "Write CSV: one row per trial (with --attribution: per cell, role and category).")
    var csv = false

    @Flag(help: "With --csv: where each role's time went, per category, from the profile's samples.")
    var attribution = false

    @Flag(help: "Write the sampled call stacks in the folded format (flamegraph.pl, inferno, speedscope).")
    var folded = false

    @Flag(help: "Write an SVG flame graph of one cell's role (needs --cell and --role).")
    var flamegraph = false

    @Option(help: "The cell for --folded and --flamegraph: TRANSPORT[+RECEIVER],WORKLOAD,SIZE,CONNECTIONS, e.g. two-copy,stream,65536,1.")
    var cell: String?

    @Option(help: "The threads for --folded and --flamegraph: sender or receiver.")
    var role: WorkerRole?

    @Option(help: "Where to write (default: standard output, also `-`). A device or FIFO is written in place; a new file atomically; an existing file only with --force.")
    var output: String?

    @Flag(help: "Replace the file --output names when it exists.")
    var force = false

    func validate() throws {
        if attribution && !csv { throw ValidationError("--attribution is written as CSV: add --csv") }
        let formats = [csv, folded, flamegraph].filter { $0 }.count
        if formats == 0 { throw ValidationError("choose a format: --csv, --attribution --csv, --folded or --flamegraph") }
        if formats > 1 { throw ValidationError("choose one format: --csv, --folded or --flamegraph") }
        if (cell != nil || role != nil) && !(folded || flamegraph) {
            throw ValidationError("--cell and --role choose the stacks of --folded and --flamegraph")
        }
        if flamegraph && (cell == nil || role == nil) {
            throw ValidationError("--flamegraph draws one cell's role: give --cell (e.g. two-copy,stream,65536,1) and --role (sender or receiver)")
        }
    }

    func run() throws {
        Interruption.installCleanup()
        if let output, !force { try OutputFile.refuseExisting(output) }
        let loaded = try Profile.read(from: profile)
        guard attribution || folded || flamegraph else {
            try OutputFile.write(Data(CSVExport.render(loaded).utf8), to: output ?? "-", replacing: output == nil || force)
            return
        }
        let analysis = AttributionAnalysis(profile: loaded)
        if let reason = analysis.unavailableReason {
            throw CopyprofError.invalidArgument("\(profile): no attribution to export, \(reason); profile again with `copyprof run`, which samples its threads unless told --sample off")
        }
        let text: String
        if attribution {
            text = AttributionCSV.render(analysis)
        } else {
            let key = try cell.map { text throws(CopyprofError) in try CellSelector.parse(text, among: analysis.cellsWithStacks(role: role)) }
            if flamegraph, let key, let role {
                guard let graph = analysis.flameGraph(key, role) else {
                    throw CopyprofError.invalidArgument("--cell \(CellSelector.text(key)): the \(role.rawValue)s have no stacks in this profile")
                }
                text = graph.svg()
            } else {
                if analysis.cellsWithStacks(role: role).isEmpty {
                    throw CopyprofError.invalidArgument("\(profile) has no sampled stacks\(role.map { " of \($0.rawValue)s" } ?? "") to fold")
                }
                text = analysis.foldedExport(cell: key, role: role).text
            }
        }
        try OutputFile.write(Data(text.utf8), to: output ?? "-", replacing: output == nil || force)
    }
}

extension WorkerRole: ExpressibleByArgument {}
