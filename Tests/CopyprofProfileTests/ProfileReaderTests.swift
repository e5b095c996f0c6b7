import CopyprofModel
import Foundation
import Testing

@testable import CopyprofProfile
import TestSupport

@Suite struct ProfileFileTests {
    func write(_ text: String) throws -> String {
        let path = try temporaryDirectory() + "/p.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func problem(_ text: String) throws -> String {
        let path = try write(text)
        do {
            _ = try Profile.read(from: path)
            return "read without error"
        } catch {
            let message = error.description
            #expect(message.hasPrefix(path + ": "), "names the file: \(message)")
            #expect(!message.contains("\n"), "one line: \(message)")
            return message
        }
    }

    @Test func aProfileRoundTrips() throws {
        let profile = SampleProfiles.make(throughput: [10, 11, 12])
        let path = try temporaryDirectory() + "/round.json"
        try profile.write(to: path)
        let back = try Profile.read(from: path)
        #expect(back.cells.count == profile.cells.count)
        #expect(back.cells[0].trials.map(\.bytes) == profile.cells[0].trials.map(\.bytes))
        #expect(back.environment.hostname == profile.environment.hostname)
        #expect(try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent) == ["round.json"])
    }

    @Test func truncatedProfile() throws {
        let data = try SampleProfiles.make(throughput: [1]).jsonData()
        let text = String(decoding: data.prefix(data.count / 2), as: UTF8.self)
        #expect(try problem(text).contains("truncated or is not JSON"))
    }

    @Test func unknownSchemaVersion() throws {
        #expect(try problem(#"{"tool": "copyprof", "schemaVersion": 99}"#).contains("schema version 99 is not supported"))
    }

    @Test func foreignJSON() throws {
        #expect(try problem(#"{"name": "something else"}"#).contains("not a copyprof profile"))
        #expect(try problem("hello").contains("not JSON"))
    }

    @Test func wrongTypes() throws {
        var object = try JSONSerialization.jsonObject(with: SampleProfiles.make(throughput: [1]).jsonData()) as! [String: Any]
        var cells = object["cells"] as! [[String: Any]]
        var trials = cells[0]["trials"] as! [[String: Any]]
        trials[0]["bytes"] = "many"
        cells[0]["trials"] = trials
        object["cells"] = cells
        let text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let message = try problem(text)
        #expect(message.contains("wrong type at cells[0].trials[0].bytes"), "\(message)")
    }

    @Test func missingFile() {
        #expect(throws: CopyprofError.self) { try Profile.read(from: "/nonexistent/x.json") }
    }
}
