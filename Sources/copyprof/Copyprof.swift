import ArgumentParser
import CopyprofProfile

@main
struct Copyprof: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copyprof",
        abstract: "Shows what every data copy in a TCP transport costs, with counters read inside the process.",
        version: CopyprofVersion.current,
        subcommands: [RunCommand.self, ReportCommand.self, CompareCommand.self, ExportCommand.self, CountersCommand.self, ServeCommand.self]
    )
}
