// copyprof — the command line: one thin command per job (run, report, compare, export, counters, serve) over the
// sweep, report and counters modules; parsing, Ctrl-C handling and progress live in their own files.

import ArgumentParser
import CopyprofProfile

@main
struct Copyprof: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copyprof",
        abstract: "Shows what every data copy in a TCP transport costs, with counters read inside the process.",
        discussion: """
            Examples:
              copyprof counters                  what this host can count
              copyprof run --quick               a first look, about 15 s
              copyprof run                       the whole sweep and its report
              copyprof report profiles/X.json    findings, tables, charts
              copyprof compare A.json B.json     what changed, and how surely
              copyprof export X.json --csv       one row per trial
              copyprof export X.json --folded    sampled stacks for flame graphs
            """,
        version: CopyprofVersion.current,
        subcommands: [RunCommand.self, ReportCommand.self, CompareCommand.self, ExportCommand.self, CountersCommand.self, ServeCommand.self]
    )
}
