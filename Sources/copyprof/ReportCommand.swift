import ArgumentParser
import CopyprofFiles
import CopyprofProfile
import CopyprofReport
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Turn a profile into a Markdown report with findings, tables and SVG charts, under reports/.",
        discussion: "Charts go into a folder beside the Markdown (<name>-charts/) and are linked relatively."
    )

    @Argument(help: "The profile to report on.")
    var profile: String

    @Option(help: "The Markdown file to write; an existing file only with --force. (default: reports/<profile name>.md, the profile's own report, written again each time; `-`: standard output, without charts)")
    var output: String?

    @Flag(help: "Replace the file --output names when it exists.")
    var force = false

    func run() throws {
        Interruption.installCleanup()
        if let output, !force { try OutputFile.refuseExisting(output) }
        let loaded = try Profile.read(from: profile)
        let path = try writeReport(loaded, profilePath: profile, output: output, replacing: output == nil || force)
        if path != "-" { try writeStandardOutput("report: \(path)\n") }
    }
}

/// Writes the report of a profile (an existing Markdown file only when `replacing`); returns the Markdown path.
func writeReport(_ profile: Profile, profilePath: String, output: String?, replacing: Bool) throws -> String {
    let defaults = Report.defaultPaths(forProfile: profilePath)
    let path = output ?? defaults.markdown
    let report = Report(profile: profile, source: profilePath, chartFolder: chartFolderName(forReport: path))
    if !(try report.write(to: path, replacing: replacing)) {
        note("the charts are not written: the report goes to \(path == "-" ? "standard output" : path), which has no folder beside it")
    }
    return path
}

/// The charts' folder of a report, relative to it: `<report name>-charts`.
func chartFolderName(forReport path: String) -> String {
    ((path as NSString).lastPathComponent as NSString).deletingPathExtension + "-charts"
}

/// The charts' folder of a report as a path: beside the Markdown.
func chartFolderPath(forReport path: String) -> String {
    let directory = (path as NSString).deletingLastPathComponent
    return (directory.isEmpty ? "" : directory + "/") + chartFolderName(forReport: path)
}
