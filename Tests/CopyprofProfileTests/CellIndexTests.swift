import CopyprofModel
import Foundation
import Testing
import TestSupport

@testable import CopyprofProfile

/// `Profile.cell(_:)` finds cells through an index built once; it must answer exactly as the linear search from the
/// start that it replaced, also after the cells change.
@Suite struct CellIndexTests {
    /// The saved profiles of every schema.
    static let fixtures = [Fixtures.schema2Sweep, Fixtures.schema1Sweep, "quick-64B.json"]

    /// What `Profile.cell(_:)` answered before the index: the first cell with the key.
    static func linearSearch(_ profile: Profile, _ key: CellKey) -> Int? { profile.cells.firstIndex { $0.key == key } }

    /// Every key of a profile's plan, and beside each a size, a connection count and a receiver it does not hold.
    static func keys(around profile: Profile) -> [CellKey] {
        let plan = profile.plan
        var keys: [CellKey] = []
        for workload in Workload.allCases {
            for transport in TransportKind.allCases {
                for receiver in ReceiverKind.allCases {
                    for size in plan.sizes + [plan.sizes.max()! + 64] {
                        for connections in plan.connections + [plan.connections.max()! + 1] {
                            keys.append(CellKey(
                                transport: transport, receiver: receiver, workload: workload, messageSize: size, connections: connections))
                        }
                    }
                }
            }
        }
        return keys
    }

    /// The cell's trials as numbers that tell one record from another.
    static func fingerprint(_ cell: CellRecord?) -> [UInt64]? { cell.map { $0.trials.map(\.elapsedNs) + [UInt64($0.trials.count)] } }

    @Test(arguments: fixtures) func indexFindsEveryCellOfTheSavedProfiles(_ name: String) throws {
        let profile = try Profile.decode(try Fixtures.data(name), path: name)
        #expect(!profile.cells.isEmpty)
        let index = CellIndex(profile.cells)
        #expect(index.count == profile.cells.count, "the saved profiles hold each key once")
        for (position, cell) in profile.cells.enumerated() {
            #expect(index.position(of: cell.key) == position, "\(cell.key)")
            #expect(profile.cellIndex.position(of: cell.key) == position, "\(cell.key)")
        }
    }

    @Test(arguments: fixtures) func lookupsAgreeWithTheLinearSearch(_ name: String) throws {
        let profile = try Profile.decode(try Fixtures.data(name), path: name)
        let keys = Self.keys(around: profile)
        var found = 0
        for key in keys {
            let expected = Self.linearSearch(profile, key)
            #expect(profile.cellIndex.position(of: key) == expected, "\(key)")
            #expect(profile.cell(key)?.key == expected.map { profile.cells[$0].key }, "\(key)")
            #expect(Self.fingerprint(profile.cell(key)) == Self.fingerprint(expected.map { profile.cells[$0] }), "\(key)")
            if expected != nil { found += 1 }
        }
        #expect(found == profile.cells.count, "every cell is among the keys tried, and some keys are absent")
        #expect(keys.count > found)
    }

    @Test func aKeyHeldTwiceFindsItsFirstCell() throws {
        var profile = try Profile.decode(try Fixtures.data(Fixtures.schema2Sweep), path: "")
        var twin = profile.cells[3]
        twin.trials = Array(twin.trials.prefix(1))
        profile.cells.append(twin)
        #expect(profile.validate() != nil, "a file with a key twice is refused; a profile built in code may hold one")
        #expect(Self.fingerprint(profile.cell(twin.key)) == Self.fingerprint(profile.cells[3]))
        #expect(profile.cellIndex.position(of: twin.key) == 3)
    }

    @Test func lookupsFollowTheCellsWhenTheyChange() throws {
        var profile = try Profile.decode(try Fixtures.data(Fixtures.schema2Sweep), path: "")
        let first = profile.cells[0].key
        #expect(profile.cell(first) != nil)  // builds the index
        let original = profile

        // A changed key, an added cell, fewer trials, a removed cell: every lookup answers for the cells as they are.
        var moved = first
        moved.messageSize = 8192
        profile.cells[0].key = moved
        #expect(profile.cell(first) == nil)
        #expect(profile.cell(moved)?.key == moved)
        let added = CellKey(transport: .sendfile, receiver: .mmap, workload: .stream, messageSize: 64, connections: 1)
        profile.cells.append(CellRecord(key: added, notSupported: "not here"))
        #expect(profile.cell(added)?.notSupported == "not here")
        profile.cells[1].trials.removeAll()
        #expect(profile.cell(profile.cells[1].key)?.trials.isEmpty == true)
        profile.cells.removeFirst()
        #expect(profile.cell(moved) == nil)
        for key in Self.keys(around: profile) + [added] {
            #expect(profile.cellIndex.position(of: key) == Self.linearSearch(profile, key), "\(key)")
        }

        // The copy taken before the changes still finds its own cells.
        #expect(original.cell(first)?.key == first)
        #expect(original.cell(moved) == nil && original.cell(added) == nil)
        #expect(Self.fingerprint(original.cell(original.cells[1].key)) == Self.fingerprint(original.cells[1]))
    }
}
