import CopyprofModel
import CopyprofProfile
import Foundation

/// A comparison as JSON, for scripts.
extension Comparison {
    /// JSON for scripts.
    package func json() throws -> Data {
        struct Document: Encodable {
            var baseline: String
            var candidate: String
            var threshold: Double
            var alpha: Double
            var environmentDifferences: [String]
            var methodDifferences: [String]
            var onlyInBaseline: [CellKey]
            var onlyInCandidate: [CellKey]
            var drift: MachineDrift?
            var betweenRuns: BetweenRuns?
            var runs: RunCounts?
            var withinBetweenRuns: Int
            var withoutControl: [String]
            var rows: [Row]
            var relativeRows: [RelativeRow]
            var geomeans: [Geomean]
            var attributionShifts: AttributionComparison?
            var pairing: Pairing?
            var nothingInCommon: String?
            var exitCode: Int32
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(Document(
            baseline: baselinePath, candidate: candidatePath, threshold: threshold, alpha: alpha,
            environmentDifferences: environmentDifferences, methodDifferences: methodDifferences, onlyInBaseline: onlyInBaseline,
            onlyInCandidate: onlyInCandidate, drift: drift, betweenRuns: betweenRuns, runs: runs, withinBetweenRuns: withinBetweenRuns, withoutControl: withoutControl, rows: rows, relativeRows: relativeRows,
            geomeans: geomeans, attributionShifts: attributionShifts, pairing: pairing, nothingInCommon: nothingInCommon,
            exitCode: exitCode))
    }
}
