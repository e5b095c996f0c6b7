import ArgumentParser
import CopyprofFiles
import CopyprofProfile
import CopyprofReport
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a profile as CSV: one row per trial, counters summed over sender and receiver threads."
    )

    @Argument(help: "The profile to export.")
    var profile: String

    @Flag(help: "Write CSV (the only format for now).")
    var csv = false

    @Option(help: "Where to write (default: standard output, also `-`). A device or FIFO is written in place; a file is replaced atomically.")
    var output: String?

    func validate() throws {
        if !csv { throw ValidationError("choose a format: --csv") }
    }

    func run() throws {
        Interruption.installCleanup()
        let loaded = try Profile.read(from: profile)
        let text = CSVExport.render(loaded)
        try OutputFile.write(Data(text.utf8), to: output ?? "-")
    }
}
