import Testing

@testable import CopyprofProfile

/// ``JSONLayout/firstDuplicateKey(_:)`` on exact bytes: keys counted per object at every depth, keys told from string
/// values, escaped spellings of one key taken as that key.
struct JSONLayoutTests {
    func duplicate(_ text: String) -> String? {
        Array(text.utf8).withUnsafeBytes { JSONLayout.firstDuplicateKey($0) }
    }

    @Test func findsAKeyGivenTwiceInOneObjectAtAnyDepth() {
        #expect(duplicate(#"{"schemaVersion":3,"schemaVersion":2}"#) == "schemaVersion")
        #expect(duplicate(#"{"a":{"b":[{"c":1},{"d":{"e":1,"e":2}}]}}"#) == "e")
        #expect(duplicate(#"{"a":1, "b":{"x":1}, "a" : 2}"#) == "a", "after a nested object, with spaces")
        #expect(duplicate(#"[{"k":1,"k":1}]"#) == "k", "in an object in a top-level array")
    }

    @Test func escapedSpellingsOfAKeyAreThatKey() {
        #expect(duplicate(#"{"a":1,"\u0061":2}"#) == "a")
        #expect(duplicate(#"{"q\"":1,"q\u0022":2}"#) == "q\"")
        #expect(duplicate(#"{"a\\":1,"a\\\\":2}"#) == nil, "a\\ and a\\\\ differ")
    }

    @Test func sameKeysInDifferentObjectsAndStringValuesAreNotDuplicates() {
        #expect(duplicate(#"{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]}"#) == nil)
        #expect(duplicate(#"{"a":"b","b":"a","c":["a","a","a"],"d":"{\"x\":1,\"x\":2}"}"#) == nil)
        #expect(duplicate(#"{"a":"}","a2":"{","a3":","}"#) == nil, "brackets and commas inside strings are text")
        #expect(duplicate("{}") == nil && duplicate("[]") == nil && duplicate("") == nil && duplicate("12") == nil)
    }

    @Test func deepNestingNeedsNoRecursion() {
        // 100,000 levels: a recursive walk would overflow the thread's stack.
        let depth = 100_000
        let deep = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(duplicate(deep) == nil)
        #expect(duplicate(String(repeating: "[", count: depth) + #"{"x":1,"x":2}"#) == "x")
    }

    @Test func malformedInputEndsTheWalkWithoutATrap() {
        #expect(duplicate(#"{"a":1,"a":"#) == "a", "the second a is a key, whatever follows")
        #expect(duplicate(#"{"a":1,"unterminated"#) == nil)
        #expect(duplicate("}}]]{") == nil)
    }
}
