import ArgumentParser
import CopyprofFiles
import CopyprofProfile
import CopyprofReport
import Foundation

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two profiles cell by cell: medians, Mann-Whitney U, regressions first.",
        discussion: """
            A change counts only when it is significant (p < 0.05), at least --threshold percent in the metric's \
            bad or good direction, and its 95% interval lies wholly beyond half the threshold. The control workload of \
            both profiles tells how much the machine itself moved: where it moved significantly, changes of \
            throughput, RTT and CPU time are also judged relative to it, and count only where they count both ways. \
            Each transport's ratio to two-copy, taken round by round, is compared too: drift the transports share \
            cancels in it. A cell whose trials disagree in either run (some below half or above twice the median: \
            stalls, two modes) is unstable, neither a regression nor an improvement. Profiles that share no cell but \
            differ in one dimension only, with one value each (1 vs 4 connections), are compared along it. For \
            sampled profiles, shifts in where each role's time went (each category's share, in percentage points, a \
            change of 3 points or more) are listed too; they leave the exit status alone. Exit status: 0 nothing \
            changed, 2 something regressed (a cell or a ratio), 4 only improvements, 3 nothing found but most \
            comparisons were untestable (too few trials) or unstable, or no cell to compare, 1 bad input.
            """
    )

    @Argument(help: "The baseline profile.")
    var baseline: String
    @Argument(help: "The candidate profile.")
    var candidate: String
    @Option(help: "Write the Markdown (or JSON) here instead of standard output; an existing file only with --force.")
    var output: String?
    @Flag(help: "Replace the file --output names when it exists.")
    var force = false
    @Option(help: "The smallest change in percent that counts.")
    var threshold: Double = 5
    @Flag(help: "Print JSON instead of Markdown.")
    var json = false

    func validate() throws {
        if !(threshold >= 0 && threshold < 1000) { throw ValidationError("--threshold must be a percentage from 0 to 1000") }
    }

    func run() throws {
        Interruption.installCleanup()
        if let output, !force { try OutputFile.refuseExisting(output) }
        let base = try Profile.read(from: baseline)
        let cand = try Profile.read(from: candidate)
        let comparison = Comparison(
            baseline: base, candidate: cand, baselinePath: baseline, candidatePath: candidate, threshold: threshold)
        if let why = comparison.nothingInCommon, !json {
            // One line, and no report of nothing: "0 regressions of 0 comparisons" would read as "nothing changed".
            note(why)
            throw ExitCode(comparison.exitCode)
        }
        let text = json ? String(decoding: try comparison.json(), as: UTF8.self) + "\n" : comparison.markdown
        if let output, output != "-" {
            try OutputFile.write(Data(text.utf8), to: output, replacing: force)
            try writeStandardOutput("comparison: \(output)\n")
        } else {
            try writeStandardOutput(text)
        }
        if comparison.exitCode != 0 { throw ExitCode(comparison.exitCode) }
    }
}
