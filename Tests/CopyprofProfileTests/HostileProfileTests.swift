import CopyprofModel
import Foundation
import Testing

@testable import CopyprofProfile
import TestSupport

/// Files that are not profiles, and profiles whose values no run can produce: each is one line naming the file and,
/// where there is one, the JSON path.
@Suite struct HostileProfileTests {
    /// A valid profile with a zero-copy cell, as a JSON object to mutate.
    func object() throws -> [String: Any] {
        var profile = SampleProfiles.make(throughput: [8.192, 8.192, 8.192])
        profile.cells[0].trials[0].zeroCopy = ZeroCopyRecord(sends: 10, completions: 10, copiedCompletions: 10)
        return try JSONSerialization.jsonObject(with: profile.jsonData()) as! [String: Any]
    }

    func problem(_ object: [String: Any]) throws -> String {
        try problem(text: String(decoding: JSONSerialization.data(withJSONObject: object), as: UTF8.self))
    }

    func problem(text: String) throws -> String {
        let path = try temporaryDirectory() + "/p.json"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        do {
            _ = try Profile.read(from: path)
            return "read without error"
        } catch {
            let message = error.description
            #expect(message.hasPrefix(path + ": "), "names the file: \(message)")
            #expect(!message.contains("\n"), "one line: \(message)")
            #expect(message.utf8.count < 400, "short: \(message.utf8.count) bytes")
            return message
        }
    }

    /// Applies `change` to `cells[0].trials[0]`.
    func withTrial(_ change: (inout [String: Any]) -> Void) throws -> [String: Any] {
        var root = try object()
        var cells = root["cells"] as! [[String: Any]]
        var trials = cells[0]["trials"] as! [[String: Any]]
        change(&trials[0])
        cells[0]["trials"] = trials
        root["cells"] = cells
        return root
    }

    @Test func theSampleIsValid() throws {
        #expect(try problem(object()) == "read without error")
    }

    @Test func aDirectoryAnEmptyFileAndAMissingFile() throws {
        let dir = try temporaryDirectory()
        #expect(throws: CopyprofError.unreadableProfile(
            path: dir, problem: "is a directory, not a profile (give the path of a .json file in it)")) { try Profile.read(from: dir) }
        #expect(throws: CopyprofError.unreadableProfile(path: "/dev/null", problem: "empty file: not a copyprof profile")) {
            try Profile.read(from: "/dev/null")
        }
        #expect(throws: CopyprofError.unreadableProfile(path: "\(dir)/none.json", problem: "cannot read: no such file")) {
            try Profile.read(from: "\(dir)/none.json")
        }
        #expect(throws: CopyprofError.unreadableProfile(path: "''", problem: "no path given")) { try Profile.read(from: "") }
    }

    @Test(.enabled(if: geteuid() != 0, "root reads files whatever their mode"))
    func anUnreadableFile() throws {
        let path = try temporaryDirectory() + "/secret.json"
        try "{}".write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0)
        #expect(throws: CopyprofError.unreadableProfile(
            path: path, problem: "cannot read: permission denied (check the file's mode and owner)")) { try Profile.read(from: path) }
    }

    @Test func numbersThatDoNotFitTheirFieldAreNamedWithTheirPath() throws {
        let text = String(decoding: try JSONSerialization.data(withJSONObject: withTrial { $0["bytes"] = "@" }), as: UTF8.self)
        for (number, type) in [("-1", "UInt64"), ("1.5", "UInt64"), ("18446744073709551616", "UInt64"), ("1e400", "UInt64")] {
            let message = try problem(text: text.replacingOccurrences(of: "\"@\"", with: number))
            #expect(message.hasSuffix("bad number at cells[0].trials[0].bytes: \(number) does not fit \(type)"), "\(message)")
        }
        let duration = try object()
        var plan = duration["plan"] as! [String: Any]
        plan["duration"] = "@"
        var root = duration
        root["plan"] = plan
        let message = try problem(text: String(decoding: try JSONSerialization.data(withJSONObject: root), as: UTF8.self)
            .replacingOccurrences(of: "\"@\"", with: "1e999"))
        #expect(message.hasSuffix("bad number at plan.duration: 1e999 does not fit Double"), "\(message)")
    }

    @Test func longStringsAreShortenedInErrors() throws {
        let long = String(repeating: "x", count: 5_000_000)
        var root = try object()
        var cells = root["cells"] as! [[String: Any]]
        var key = cells[0]["key"] as! [String: Any]
        key["transport"] = long
        cells[0]["key"] = key
        root["cells"] = cells
        let started = Date()
        let message = try problem(root)
        #expect(message.contains("cells[0].key.transport"), "\(message)")
        #expect(message.contains("Cannot initialize TransportKind") && message.contains("… (50000"), "\(message)")
        #expect(Date().timeIntervalSince(started) < 10)
        // A long key: its path is shortened too.
        let weird = try withTrial { trial in
            var workers = trial["workers"] as! [[String: Any]]
            var counters = workers[0]["counters"] as! [String: Any]
            counters[String(repeating: "k", count: 100_000)] = ["raw": 1, "timeEnabled": 1, "timeRunning": 2]
            workers[0]["counters"] = counters
            trial["workers"] = workers
        }
        let keyMessage = try problem(weird)
        #expect(keyMessage.contains("timeRunning 2 ns is above timeEnabled 1 ns"), "\(keyMessage)")
        #expect(keyMessage.contains("(100000 bytes)"), "\(keyMessage)")
    }

    @Test func countsThatNoRunProduces() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("cells[0].trials[0].zeroCopy.copiedCompletions: 11 is above completions (10)", { trial in
                trial["zeroCopy"] = ["sends": 10, "completions": 10, "copiedCompletions": 11, "notifications": 0, "enobufs": 0, "reuseWaits": 0]
            }),
            ("cells[0].trials[0].zeroCopy.completions: 12 is above sends (10)", { trial in
                trial["zeroCopy"] = ["sends": 10, "completions": 12, "copiedCompletions": 1, "notifications": 0, "enobufs": 0, "reuseWaits": 0]
            }),
            ("cells[0].trials[0].bytes: 4096 is not messages (0) × 4096 B", { trial in
                trial["messages"] = 0
                trial["bytes"] = 4096
            }),
            ("cells[0].trials[0].bytes: 18446744073709551615 is not messages", { trial in
                trial["bytes"] = UInt64.max
            }),
            ("cells[0].trials[0].workers: no worker records", { trial in trial["workers"] = [Any]() }),
            ("cells[0].trials[0].workers[1].connection: 3 is not one of the cell's 1 connection(s)", { trial in
                var workers = trial["workers"] as! [[String: Any]]
                workers[1]["connection"] = 3
                trial["workers"] = workers
            }),
            ("cells[0].trials[0].workers[0].counters.task-clock: timeRunning 5 ns is above timeEnabled 3 ns", { trial in
                var workers = trial["workers"] as! [[String: Any]]
                workers[0]["counters"] = ["task-clock": ["raw": 1, "timeEnabled": 3, "timeRunning": 5]]
                trial["workers"] = workers
            }),
            ("cells[0].trials[0].workers[0].tid: 0 is not a thread id", { trial in
                var workers = trial["workers"] as! [[String: Any]]
                workers[0]["tid"] = 0
                trial["workers"] = workers
            }),
            ("cells[0].trials[0].trial: 0 is not a trial number", { trial in trial["trial"] = 0 }),
            ("cells[0].trials[0].firstMismatch.offset: 4096 is outside a 4096-byte message", { trial in
                trial["integrityErrors"] = 1
                trial["firstMismatch"] = ["sequence": 1, "offset": 4096]
            }),
        ]
        for (expected, change) in cases {
            let message = try problem(withTrial(change))
            #expect(message.contains(expected), "\(message)")
        }
    }

    @Test func cellsOutsideTheLimitsOrTwice() throws {
        func withCells(_ change: (inout [[String: Any]]) -> Void) throws -> [String: Any] {
            var root = try object()
            var cells = root["cells"] as! [[String: Any]]
            change(&cells)
            root["cells"] = cells
            return root
        }
        let twice = try problem(withCells { $0.append($0[0]) })
        #expect(twice.contains("cells[1].key: stream two-copy 4096 B × 1 connection appears twice (also cells[0])"), "\(twice)")
        for (field, value, expected) in [
            ("messageSize", -64, "cells[0].key.messageSize: -64 B is not a multiple of 64"),
            ("messageSize", 1 << 40, "cells[0].key.messageSize: 1099511627776 B is not a multiple of 64"),
            ("threads", -1, "cells[0].key.threads: -1 is not a connection count from 1 to 256"),
            ("threads", 0, "cells[0].key.threads: 0 is not a connection count"),
        ] {
            let message = try problem(withCells { cells in
                var key = cells[0]["key"] as! [String: Any]
                key[field] = value
                cells[0]["key"] = key
            })
            #expect(message.contains(expected), "\(message)")
        }
        var root = try object()
        var plan = root["plan"] as! [String: Any]
        plan["sizes"] = [64, 100]
        root["plan"] = plan
        #expect(try problem(root).contains("plan.sizes[1]: 100 B is not a multiple of 64"))
    }

    /// A stack whose frame is not in the frame-name table: the reader says where, instead of a report naming nothing.
    @Test func stacksFramesMustBeInTheFrameNames() throws {
        var frames = SampleProfiles.FrameTable()
        let stack = frames.stack(["root", "leaf"], .other, samples: 3)
        let cell = SampleProfiles.attributedCell(
            CellKey(transport: .twoCopy, workload: .stream, messageSize: 4096, connections: 1), sender: [[.other: 3]],
            receiver: [[.other: 1]], stacks: [StackSummary(role: .sender, stacks: [stack])])
        let valid = SampleProfiles.sampled([cell], frames: frames)
        #expect(valid.validate() == nil)
        var root = try JSONSerialization.jsonObject(with: valid.jsonData()) as! [String: Any]
        root["frameNames"] = ["root"]
        #expect(try problem(root).contains("cells[0].stacks[0].stacks[0].frames: 1 is not an index of frameNames (1 names)"))
        root.removeValue(forKey: "frameNames")
        #expect(try problem(root).contains("cells[0].stacks[0].stacks[0].frames: 0 is not an index of frameNames (0 names)"))
    }

    @Test func numberTokensAreFoundOutsideStrings() {
        let text = #"{"a": -1.5e3, "b": "x\"9", "c": [0, 12]}"#
        let ranges = NumberLocator.numberRanges(in: Array(text.utf8))
        let tokens = ranges.map { String(decoding: Array(text.utf8)[$0], as: UTF8.self) }
        #expect(tokens == ["-1.5e3", "0", "12"])
    }

    @Test func abbreviationKeepsShortTextAndShortensLongText() {
        #expect(abbreviated("short") == "short")
        let long = abbreviated(String(repeating: "é", count: 1000), limit: 10)
        #expect(long == "ééééé… (2000 bytes)")
    }
}
