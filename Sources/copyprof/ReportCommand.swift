import ArgumentParser
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

    @Option(help: "The Markdown file to write (default: reports/<profile name>.md).")
    var output: String?

    func run() throws {
        let loaded = try Profile.read(from: profile)
        let path = try writeReport(loaded, profilePath: profile, output: output)
        print("report: \(path)")
    }
}

/// Writes the report of a profile; returns the Markdown path.
func writeReport(_ profile: Profile, profilePath: String, output: String?) throws -> String {
    let defaults = Report.defaultPaths(forProfile: profilePath)
    let path = output ?? defaults.markdown
    let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    let report = Report(profile: profile, source: profilePath, chartFolder: "\(base)-charts")
    try report.write(to: path)
    return path
}
