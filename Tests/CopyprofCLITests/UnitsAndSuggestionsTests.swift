import CopyprofModel
import CopyprofProfile
import Foundation
import TestSupport
import Testing

@testable import copyprof

/// Sizes with binary units, durations in seconds or milliseconds, and a suggestion for a choice that is nearly right:
/// one parser of each, one line for each mistake.
@Suite struct UnitsAndSuggestionsTests {
    @Test func sizesTakeBinaryUnits() throws {
        for (text, bytes) in [
            ("65536", 65536), ("64k", 65536), ("64K", 65536), ("64KiB", 65536), ("64kib", 65536), ("1M", 1 << 20),
            ("1MiB", 1 << 20), ("2G", 2 << 30), ("2GiB", 2 << 30), ("512B", 512), (" 4K ", 4096),
        ] {
            #expect(try parseByteCount(text, option: "--sizes") == bytes, "\(text)")
        }
        let plan = try #require(try Copyprof.parseAsRoot(["run", "--sizes", "64,4k,64KiB,1M,65536"]) as? RunCommand).makePlan()
        #expect(plan.sizes == [64, 4096, 65536, 1 << 20], "65536 and 64KiB are one size")
        let serve = try #require(try Copyprof.parseAsRoot(["serve", "--max-memory", "512MiB"]) as? ServeCommand)
        #expect(try serve.makeOptions().maxMemoryBytes == 512 << 20)
    }

    @Test func ambiguousAndMalformedSizesAreRefused() {
        for (text, message) in [
            ("64KB", "--sizes: '64KB' is ambiguous (decimal for some tools, binary for others): write 64K or 64KiB for 1024 bytes each"),
            ("1MB", "write 1M or 1MiB for 1024² bytes each"), ("2gb", "write 2G or 2GiB for 1024³ bytes each"),
            ("1.5M", "'1.5M' is not a size: a whole number of bytes, or of K, M or G (binary: 64K is 65536 bytes; also 64KiB, 1MiB)"),
            ("-64", "'-64' is not a size"), ("64x", "'64x' is not a size"), ("K", "'K' is not a size"),
            ("64 K", "'64 K' is not a size"), ("99999999999G", "'99999999999G' is too large"),
        ] {
            #expect {
                _ = try parseByteCount(text, option: "--sizes")
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }

    @Test func durationsTakeSecondsOrMilliseconds() throws {
        for (text, seconds) in [("0.5", 0.5), ("500ms", 0.5), ("2s", 2.0), ("1.5s", 1.5), ("40ms", 0.04), ("3", 3.0)] {
            #expect(try parseDuration(text, option: "--duration") == seconds, "\(text)")
        }
        for text in ["5x", "inf", "nan", "-1", "1e3", "ms", "s", "", "0x10", "5 min", "1.2.3"] {
            #expect {
                _ = try parseDuration(text, option: "--duration")
            } throws: { error in
                "\(error)" == "--duration: '\(text)' is not a duration: seconds (0.5, 2s) or milliseconds (500ms)"
            }
        }
        let plan = try #require(try Copyprof.parseAsRoot(["run", "--duration", "250ms"]) as? RunCommand).makePlan()
        #expect(plan.duration == 0.25)
        let serve = try #require(try Copyprof.parseAsRoot(["serve", "--idle-timeout", "45s", "--message-timeout", "500ms"]) as? ServeCommand)
        let options = try serve.makeOptions()
        #expect(options.idleTimeout == 45 && options.messageTimeout == 0.5)
    }

    @Test func aNearlyRightChoiceGetsASuggestion() {
        let transports = TransportKind.allCases.map(\.name)
        #expect(didYouMean("zerocopy", among: transports) == "; did you mean zero-copy?")
        #expect(didYouMean("ZERO_COPY", among: transports) == "; did you mean zero-copy?")
        #expect(didYouMean("two-cpy", among: transports) == "; did you mean two-copy?")
        #expect(didYouMean("iouring", among: transports) == "; did you mean io-uring-zc?")
        #expect(didYouMean("mmpa", among: ReceiverKind.allCases.map(\.name)) == "; did you mean mmap?", "a swap is one edit")
        #expect(didYouMean("xcopy", among: transports) == "", "nothing close enough")
        #expect(didYouMean("", among: transports) == "")
        // As close to two names: both.
        #expect(didYouMean("ab", among: ["ax", "xb", "abcdef"]) == "; did you mean ax or xb?")
        #expect(editDistance(Array("kitten"), Array("sitting")) == 3)
    }

    /// Through the binary: one error line each, exit 64 (usage), the option named.
    @Test func mistakesAreOneLineEach() throws {
        for (arguments, message) in [
            (["run", "--transports", "two-copy,zerocopy"], "--transports: 'zerocopy' is not one of two-copy, marshal, one-copy, zero-copy, io-uring-zc, sendfile; did you mean zero-copy?"),
            (["run", "--receivers", "discrad"], "--receivers: 'discrad' is not one of copy, discard, mmap; did you mean discard?"),
            (["run", "--workloads", "strem"], "did you mean stream?"),
            (["run", "--preset", "allpaths"], "--preset: 'allpaths' is not one of all-paths; did you mean all-paths?"),
            (["run", "--verify", "ful"], "--verify: 'ful' is not one of header, full; did you mean full?"),
            (["run", "--events", "task-clok"], "--events: unknown event 'task-clok'"),
            (["counters", "--events", "cycle"], "did you mean cycles?"),
            (["run", "--sizes", "64KB"], "--sizes: '64KB' is ambiguous"),
            (["run", "--duration", "5x"], "--duration: '5x' is not a duration"),
            (["serve", "--max-memory", "1GB"], "--max-memory: '1GB' is ambiguous"),
            (["serve", "--idle-timeout", "soon"], "--idle-timeout: 'soon' is not a duration"),
        ] {
            let result = try runProcess(copyprofBinary, arguments, timeout: 30)
            #expect(result.status == 64, "\(arguments): exit \(result.status)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            // One error line; ArgumentParser adds the option's help and the usage after it.
            let lines = result.stderr.split(separator: "\n").filter {
                !$0.hasPrefix("Help:") && !$0.hasPrefix("Usage:") && !$0.contains("See 'copyprof")
            }
            #expect(lines.count == 1 && lines[0].hasPrefix("Error: "), "\(arguments): \(result.stderr)")
        }
        // --events: the suggestion comes after the catalog.
        let events = try runProcess(copyprofBinary, ["run", "--events", "task-clok"], timeout: 30)
        #expect(events.stderr.contains("or a tracepoint as subsystem:name; did you mean task-clock?"), "\(events.stderr)")
    }

    /// One figure for --quick's time, in --help and in the README (measured: see the README).
    @Test func quickTakesTheSameTimeInTheHelpTheREADMEAndTheCommandsPage() throws {
        let top = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: top.appendingPathComponent("README.md"), encoding: .utf8)
        let commands = try String(contentsOf: top.appendingPathComponent("docs/commands.md"), encoding: .utf8)
        let help = Copyprof.helpMessage(columns: 1000)
        func figure(_ text: String, after marker: String) -> String? {
            guard let line = text.split(separator: "\n").first(where: { $0.contains(marker) }),
                let about = line.range(of: "about ", options: .backwards) else { return nil }
            return String(line[about.upperBound...].prefix { $0 != "\n" && $0 != ")" })
        }
        let inHelp = try #require(figure(help, after: "copyprof run --quick"))
        let inREADME = try #require(figure(readme, after: "**A quick sweep**"))
        let inCommands = try #require(figure(commands, after: "copyprof run --quick "))
        #expect(inHelp == "15 s" && inREADME == "15 s" && inCommands == "15 s",
                "help: \(inHelp), README: \(inREADME), docs/commands.md: \(inCommands)")
    }

    @Test func helpSaysWhatKMeans() {
        let help = Copyprof.helpMessage(for: RunCommand.self, columns: 1000)
        #expect(help.contains("K = 1024 bytes"), "\(help)")
        #expect(help.contains("500ms"))
    }
}
