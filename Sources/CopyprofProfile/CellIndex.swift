import CopyprofModel
import Synchronization

/// Where each cell of a list of cell records is, by key: built once in one pass, then every lookup is O(1).
///
/// A key that appears more than once (a profile built in code; ``Profile/validate()`` refuses such a file) maps to
/// its first record, as a search from the start would find it.
struct CellIndex: Sendable {
    private let positions: [CellKey: Int]

    init(_ cells: [CellRecord]) {
        var positions: [CellKey: Int] = [:]
        positions.reserveCapacity(cells.count)
        for (position, cell) in cells.enumerated() where positions[cell.key] == nil { positions[cell.key] = position }
        self.positions = positions
    }

    /// The position of the first record with this key, or nil.
    func position(of key: CellKey) -> Int? { positions[key] }

    /// How many distinct keys the records have.
    var count: Int { positions.count }
}

/// A profile's cell index, built on the first lookup and shared by the copies of the profile until one of them
/// changes its cells (then that copy gets an empty cache of its own).
///
/// `Sendable`: the index is read and built under the mutex.
final class CellIndexCache: Sendable {
    private let index = Mutex<CellIndex?>(nil)

    init() {}

    /// The index of `cells`, which must be the cells this cache was made for.
    func index(of cells: [CellRecord]) -> CellIndex {
        index.withLock { index in
            if let index { return index }
            let built = CellIndex(cells)
            index = built
            return built
        }
    }
}
