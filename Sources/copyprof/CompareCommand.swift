import ArgumentParser
import CopyprofFiles
import CopyprofModel
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
            change of 3 points or more) are listed too; they leave the exit status alone. The trials of one run share \
            its moment, so runs made at different times differ beyond their trials: every test allows for the spread \
            between the runs that all the comparisons together show (λ). Several runs of a side, made alternately with \
            the other side's, can be given separated by commas: their trials are pooled, and the spread between runs \
            is then inside each side. Exit status: 0 nothing \
            changed, 2 something regressed (a cell or a ratio), 4 only improvements, 3 nothing found but most \
            comparisons were untestable (too few trials) or unstable, or changes lie within the spread between the \
            runs, or no cell to compare, 1 bad input.
            """
    )

    @Argument(help: "The baseline profile, or several runs of it separated by commas (a1.json,a2.json): their trials pooled; with 2 or more runs on each side the run is the unit of every test.")
    var baseline: String
    @Argument(help: "The candidate profile, or several runs of it separated by commas.")
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
        let (base, baseRuns, basePaths) = try Self.side(baseline, "baseline")
        let (cand, candRuns, candPaths) = try Self.side(candidate, "candidate")
        let comparison = Comparison(
            baseline: base, candidate: cand, baselinePath: Self.describe(basePaths), candidatePath: Self.describe(candPaths),
            threshold: threshold, baselineRuns: baseRuns, candidateRuns: candRuns)
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

    /// The profile of one side: the file the argument names, or the runs of a comma-separated list pooled
    /// (``Profile/pooling(_:names:)``); the runs; and the paths read.
    static func side(_ argument: String, _ name: String) throws(CopyprofError) -> (pooled: Profile, runs: [Profile], paths: [String]) {
        let paths = FileManager.default.fileExists(atPath: argument) || !argument.contains(",")
            ? [argument] : argument.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
        guard !paths.isEmpty else { throw .invalidArgument("'\(argument)' names no profile: give a path, or paths separated by commas") }
        // A run given twice would look like two runs that agree exactly.
        var seen: [String: String] = [:]
        for path in paths {
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
            if let first = seen[resolved] {
                throw .invalidArgument(
                    "the \(name) names one run twice (\(first)\(first == path ? "" : " and \(path)")): give each run once")
            }
            seen[resolved] = path
        }
        var runs: [Profile] = []
        for path in paths { runs.append(try Profile.read(from: path)) }
        return (try Profile.pooling(runs, names: paths), runs, paths)
    }

    /// `a.json`, or `a1.json, a2.json (2 runs pooled)`.
    static func describe(_ paths: [String]) -> String {
        paths.count == 1 ? paths[0] : paths.joined(separator: ", ") + " (\(paths.count) runs pooled)"
    }
}
