import Foundation
import Testing

@testable import CopyprofProfile
import TestSupport

/// Schema 3's sampling records that no run can write, each refused by the reader in one line with its JSON path:
/// the real sampled fixture, changed in one place.
@Suite struct HostileSamplingTests {
    typealias Object = [String: Any]

    func fixture() throws -> Object {
        try JSONSerialization.jsonObject(with: Fixtures.data(Fixtures.schema3Sampled)) as! Object
    }

    /// The reader's message for `object`, or "read without error".
    func problem(_ object: Object) throws -> String {
        let path = try temporaryDirectory() + "/p.json"
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Profile.read(from: path)
            return "read without error"
        } catch {
            #expect(error.description.hasPrefix(path + ": ") && !error.description.contains("\n"))
            return error.description
        }
    }

    /// Applies `change` to cell 0's first trial of `kind` (its index passed along) and returns the profile.
    func changingTrial(kind: String, _ change: (inout Object, Int) -> Void) throws -> Object {
        var root = try fixture()
        var cells = root["cells"] as! [Object]
        var trials = cells[0]["trials"] as! [Object]
        let index = try #require(trials.firstIndex { $0["kind"] as? String == kind })
        change(&trials[index], index)
        cells[0]["trials"] = trials
        root["cells"] = cells
        return root
    }

    /// Applies `change` to the first worker's attribution of cell 0's first counted trial.
    func changingAttribution(_ change: (inout Object) -> Void) throws -> (Object, String) {
        var at = ""
        let root = try changingTrial(kind: "counted") { trial, index in
            var workers = trial["workers"] as! [Object]
            var attribution = workers[0]["attribution"] as! Object
            change(&attribution)
            workers[0]["attribution"] = attribution
            trial["workers"] = workers
            at = "cells[0].trials[\(index)].workers[0].attribution"
        }
        return (root, at)
    }

    func changingStacks(_ change: (inout [Object]) -> Void) throws -> Object {
        var root = try fixture()
        var cells = root["cells"] as! [Object]
        var stacks = cells[0]["stacks"] as! [Object]
        change(&stacks)
        cells[0]["stacks"] = stacks
        root["cells"] = cells
        return root
    }

    @Test func theFixtureIsValid() throws {
        #expect(try problem(fixture()) == "read without error")
    }

    @Test func aStackFrameOutsideTheFrameNames() throws {
        var root = try fixture()
        let names = (root["frameNames"] as! [String]).count
        root["frameNames"] = Array((root["frameNames"] as! [String]).prefix(1))
        let message = try problem(root)
        #expect(message.contains("cells[0].stacks[0].stacks[0].frames: "), "\(message)")
        #expect(message.contains("is not an index of frameNames (1 names)"), "\(message) (had \(names))")
        root.removeValue(forKey: "frameNames")
        #expect(try problem(root).contains("is not an index of frameNames (0 names)"))
    }

    @Test func sampledRecordsWithoutASamplingRecord() throws {
        var root = try fixture()
        root.removeValue(forKey: "sampling")
        let message = try problem(root)
        #expect(message.contains(".attribution: a sampled thread in a profile without a sampling record"), "\(message)")
        var cells = root["cells"] as! [Object]
        cells = cells.map { cell in
            var cell = cell
            cell["trials"] = (cell["trials"] as! [Object]).map { trial in
                var trial = trial
                trial["workers"] = (trial["workers"] as! [Object]).map { worker in
                    var worker = worker
                    worker.removeValue(forKey: "attribution")
                    return worker
                }
                return trial
            }
            return cell
        }
        root["cells"] = cells
        #expect(try problem(root).contains("cells[0].stacks: sampled call stacks in a profile without a sampling record"))
    }

    @Test func aSampledTimingTrial() throws {
        let attribution = try fixture()
        let counted = ((attribution["cells"] as! [Object])[0]["trials"] as! [Object]).first { $0["kind"] as? String == "counted" }!
        let sample = (counted["workers"] as! [Object])[0]["attribution"]!
        let root = try changingTrial(kind: "timing") { trial, _ in
            var workers = trial["workers"] as! [Object]
            workers[0]["attribution"] = sample
            trial["workers"] = workers
        }
        #expect(try problem(root).contains(".attribution: a timing trial's thread was sampled; only counted trials are"))
    }

    @Test func kernelCategoriesInAUserOnlyProfile() throws {
        var root = try fixture()
        var sampling = root["sampling"] as! Object
        sampling["mode"] = "user-only"
        root["sampling"] = sampling
        let message = try problem(root)
        #expect(message.contains("a kernel category in a profile sampled in user space only (sampling.mode)"), "\(message)")
    }

    @Test func countsThatNoSamplerGives() throws {
        let (zero, at) = try changingAttribution { attribution in
            var samples = attribution["samples"] as! [String: Any]
            samples["other"] = 0
            attribution["samples"] = samples
        }
        #expect(try problem(zero).contains("\(at).samples.other: 0; a category without samples is absent"))
        let (weightOnly, at2) = try changingAttribution { attribution in
            var samples = attribution["samples"] as! [String: Any]
            samples.removeValue(forKey: "tcp-ip")
            attribution["samples"] = samples
        }
        #expect(try problem(weightOnly).contains("\(at2).weights.tcp-ip: a weight without samples"))
        let emptyStack = try changingStacks { stacks in
            var stack = (stacks[0]["stacks"] as! [Object])
            stack[0]["frames"] = [Int]()
            stacks[0]["stacks"] = stack
        }
        #expect(try problem(emptyStack).contains("cells[0].stacks[0].stacks[0].frames: empty"))
        let deep = try changingStacks { stacks in
            var stack = (stacks[0]["stacks"] as! [Object])
            stack[0]["frames"] = [Int](repeating: 0, count: 65)
            stacks[0]["stacks"] = stack
        }
        #expect(try problem(deep).contains("cells[0].stacks[0].stacks[0].frames: 65 frames; a stack keeps at most 64"))
        let twice = try changingStacks { stacks in stacks.append(stacks[0]) }
        #expect(try problem(twice).contains("has two stack summaries; a cell has one per role"))
    }

    @Test func samplingRecordOutOfRange() throws {
        for (field, value, message) in [
            ("frequency", 0 as Any, "sampling.frequency: 0 Hz is not from 1 to 100000 Hz"),
            ("grantedFrequency", 5000, "sampling.grantedFrequency: 5000 Hz is not from 1 to the 4000 Hz asked for"),
            ("callchainDepth", 65, "sampling.callchainDepth: 65 is not from 0 to 64 frames"),
            ("event", "", "sampling.event: empty"),
        ] {
            var root = try fixture()
            var sampling = root["sampling"] as! Object
            sampling[field] = value
            root["sampling"] = sampling
            #expect(try problem(root).contains(message), "\(field)")
        }
        var root = try fixture()
        root["notSampledReason"] = "the kernel refused"
        #expect(try problem(root).contains("notSampledReason: the profile has a sampling record"))
    }

    @Test func cacheMissSamplesOfAnEventNotSampled() throws {
        let (root, _) = try changingAttribution { _ in }
        var changed = root
        var cells = changed["cells"] as! [Object]
        var trials = cells[0]["trials"] as! [Object]
        let index = trials.firstIndex { $0["kind"] as? String == "counted" }!
        var workers = trials[index]["workers"] as! [Object]
        workers[0]["cacheMissAttribution"] = ["LLC-load-misses": workers[0]["attribution"]!]
        trials[index]["workers"] = workers
        cells[0]["trials"] = trials
        changed["cells"] = cells
        #expect(try problem(changed).contains(
            "cells[0].trials[\(index)].workers[0].cacheMissAttribution.LLC-load-misses: not one of the sampled cache-miss events"))
    }
}
