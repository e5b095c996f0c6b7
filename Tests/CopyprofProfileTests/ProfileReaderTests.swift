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

    /// Every field of a sampled profile survives a write and a read: the JSON written again is the same, byte for byte
    /// (Profile lists its coding keys, to keep its cell index out of the file; a field left out of them would be
    /// dropped without a word).
    @Test func aSampledProfileRoundTripsWithEveryField() throws {
        let profile = SampledSweep.profile()
        #expect(profile.sampling != nil && profile.frameNames?.isEmpty == false)
        let path = try temporaryDirectory() + "/sampled.json"
        try profile.write(to: path)
        let back = try Profile.read(from: path)
        #expect(back.sampling != nil)
        #expect(back.frameNames == profile.frameNames)
        #expect(try back.jsonData() == profile.jsonData())
    }

    /// Profile lists its coding keys to keep its cell index out of the file: each of its other stored properties must
    /// be one of them, and one added to Profile without a key would be dropped from every file without a word.
    @Test func everyStoredPropertyOfAProfileHasACodingKey() {
        let stored = Set(Mirror(reflecting: SampledSweep.profile()).children.compactMap(\.label)).subtracting(["cellIndexCache"])
        #expect(stored == Set(Profile.CodingKeys.allCases.map(\.stringValue)))
    }

    /// Why a sweep was not sampled survives a write and a read, byte for byte.
    @Test func aProfileNotSampledRoundTripsItsReason() throws {
        var profile = SampleProfiles.make(throughput: [1, 2, 3])
        profile.notSampledReason = "the kernel refused the sampler (EACCES)"
        let path = try temporaryDirectory() + "/not-sampled.json"
        try profile.write(to: path)
        let back = try Profile.read(from: path)
        #expect(back.notSampledReason == profile.notSampledReason)
        #expect(try back.jsonData() == profile.jsonData())
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

    /// A key twice in one object is refused wherever it is, with its path: otherwise what checks a value (the version
    /// check reads the top level on its own) and the decoder could each see a different one.
    @Test func aDuplicateKeyIsRefusedWithItsPath() throws {
        let text = String(decoding: try SampleProfiles.make(throughput: [1]).jsonData(), as: UTF8.self)
        func with(_ original: String, _ replacement: String) throws -> String {
            let range = try #require(text.range(of: original), "\(original) is in the profile")
            return text.replacingCharacters(in: range, with: replacement)
        }
        let version = #""schemaVersion":\#(Profile.currentSchemaVersion)"#
        var message = try problem(try with(version, #""schemaVersion":99,"# + version))
        #expect(message.hasSuffix("duplicate key 'schemaVersion' at the top level: an object has each key once (which of the two would count is not defined)"), "\(message)")
        // The same key spelled with an escape is the same key to the decoder.
        message = try problem(try with(version, #""schema\u0056ersion":99,"# + version))
        #expect(message.contains("duplicate key 'schemaVersion' at the top level"), "\(message)")
        message = try problem(try with(#""environment":{"#, #""environment":{"hostname":"a","#))
        #expect(message.contains("duplicate key 'hostname' at environment"), "\(message)")
        message = try problem(try with(#""trials":[{"#, #""trials":[{"bytes":1,"#))
        #expect(message.contains("duplicate key 'bytes' at cells[0].trials[0]"), "\(message)")
        // The untouched profile reads.
        #expect(try problem(text) == "read without error")
    }

    @Test func duplicateKeysAreFoundAtAnyDepthAndInLargeObjects() throws {
        func duplicate(_ json: String, prefix: String = "") -> String? {
            Array(json.utf8).withUnsafeBytes { JSONLayout.duplicateKey($0, in: 0..<$0.count, prefix: prefix) }
        }
        #expect(duplicate(#"{"a":[{"b":{}},{"c":{"x":1,"y":{"x":[]},"x":2}}]}"#)?.hasPrefix("duplicate key 'x' at a[1].c:") == true)
        #expect(duplicate(#"[1,{"k":"v"},[{"k":1,"k":2}]]"#, prefix: "cells[4]")?.hasPrefix("duplicate key 'k' at cells[4][2][0]:") == true)
        // The same key in sibling objects, or as a value, is no duplicate.
        #expect(duplicate(#"{"a":{"k":1},"b":{"k":1},"k":"k","c":[{"k":1},{"k":2}]}"#) == nil)
        // Past the keys held in a list, they go into a set.
        let many = (0..<100).map { "\"k\($0)\":0" }.joined(separator: ",")
        #expect(duplicate("{\(many)}") == nil)
        #expect(duplicate("{\(many),\"k5\":1}")?.hasPrefix("duplicate key 'k5' at the top level:") == true)
        #expect(duplicate("{\(many),\"k\\u0035\":1}")?.hasPrefix("duplicate key 'k5' at the top level:") == true)
        // Canonically equivalent spellings are one key to Swift's strings, and so to the decoder: the Kelvin sign
        // U+212A decomposes to K.
        #expect(duplicate(#"{"\u212Aey":1,"Key":2}"#)?.hasPrefix("duplicate key 'Key' at the top level:") == true)
        #expect(duplicate(#"{"e\u0301":1,"\u00e9":2}"#) != nil)
        // Not well formed: no answer here (the decoder says what is wrong); no trap at any depth.
        #expect(duplicate(#"{"a":1,"a""#) == nil)
        #expect(duplicate(String(repeating: "[", count: 100_000)) == nil)
        #expect(duplicate(String(repeating: "{\"a\":", count: 100_000) + "1" + String(repeating: "}", count: 100_000)) == nil)
    }

    @Test func missingFile() {
        #expect(throws: CopyprofError.self) { try Profile.read(from: "/nonexistent/x.json") }
    }
}
