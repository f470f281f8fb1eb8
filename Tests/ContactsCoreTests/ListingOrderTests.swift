import TestSupport
import Testing

@testable import ContactsCore

/// `ListingOrder` against the plain sorted array it replaces: the same contacts in the same
/// positions after any mix of insertions and removals, through chunk splits and joins.
struct ListingOrderTests {
  /// Names that collide when folded, others that differ only in case or accents, a shared
  /// prefix: ties are broken by the ids, as in `IndexedContact.precedes`.
  static let names = ["Ann", "ann", "ANN", "Bob", "Émile", "Emile", "Zed", "0 desk", "Front Desk", "front desk 2"]

  static func entry(_ id: Int, using random: inout SeededRandom) -> IndexedContact {
    IndexedContact(Contact(id: "c\(id)", type: .custom, name: names.randomElement(using: &random)!))
  }

  static func sorted(_ entries: [IndexedContact]) -> [IndexedContact] {
    entries.sorted(by: IndexedContact.precedes)
  }

  /// The model's binary search, written out apart from the one under test.
  static func firstNotPreceding(_ entry: IndexedContact, in model: [IndexedContact]) -> Int {
    var (low, high) = (0, model.count)
    while low < high {
      let middle = (low + high) / 2
      if IndexedContact.precedes(model[middle], entry) { low = middle + 1 } else { high = middle }
    }
    return low
  }

  /// Each step compared with the model: the order, each position, the binary searches.
  @Test(arguments: 0..<6)
  func insertionsAndRemovalsKeepTheSortedArraysOrder(seed: Int) {
    var random = SeededRandom(seed: UInt64(seed))
    let initial = (0..<Int.random(in: 0..<2500, using: &random)).map { Self.entry($0, using: &random) }
    var model = Self.sorted(initial)
    var order = ListingOrder(sorted: model)
    #expect(order.isWellFormed)
    var next = initial.count
    // Long runs of one kind of change, so chunks both split and empty out. Disagreements are
    // counted and checked once per run (an `#expect` per step costs more than the step).
    for _ in 0..<6 {
      let inserting = Bool.random(using: &random)
      var disagreements = 0
      for _ in 0..<Int.random(in: 0..<1500, using: &random) {
        if inserting || model.isEmpty {
          let added = Self.entry(next, using: &random)
          next += 1
          let expected = Self.firstNotPreceding(added, in: model)
          if order.insertionIndex(of: added) != expected { disagreements += 1 }
          order.insert(added)
          model.insert(added, at: expected)
        } else {
          let position = Int.random(in: 0..<model.count, using: &random)
          let removed = model.remove(at: position)
          if order.position(of: removed) != position { disagreements += 1 }
          if !order.remove(removed) || order.remove(removed) { disagreements += 1 }
        }
      }
      #expect(disagreements == 0)
      #expect(order.isWellFormed)
      #expect(order.count == model.count)
      let iterated = order.elementsEqual(model, by: ===)
      let flattened = order.array.elementsEqual(model, by: ===)
      #expect(iterated && flattened)
      for position in stride(from: 0, to: model.count, by: 97) {
        #expect(order[position] === model[position])
        #expect(order.position(of: model[position]) == position)
      }
    }
  }

  /// Chunks split when an insertion overfills one, and a chunk left small joins a neighbour.
  @Test
  func chunksSplitWhenFullAndJoinWhenSmall() {
    let model = (0..<2048).map { IndexedContact(Contact(id: "c\($0)", type: .custom, name: "n\(1_000_000 + $0 * 2)")) }
    var order = ListingOrder(sorted: model)
    #expect(order.chunkCount == 4)  // half full: 512 each
    // 600 between the first two contacts: the first chunk passes 1,024 once and splits.
    for index in 0..<600 {
      order.insert(IndexedContact(Contact(id: "x\(index)", type: .custom, name: "n1000000 \(100 + index)")))
    }
    #expect(order.chunkCount == 5 && order.isWellFormed && order.count == 2648)
    // Empty out the last two chunks but for one contact and eight: the one of eight, once below
    // 64, joins its neighbour of one (together they fit in half a chunk).
    for entry in model[1025..<2040] { order.remove(entry) }
    #expect(order.isWellFormed && order.count == 2648 - 1015)
    #expect(order.chunkCount == 4)
    // Left with one contact, that chunk stays: its neighbour has no room to take it in.
    for entry in model[2040...] { order.remove(entry) }
    #expect(order.isWellFormed && order.chunkCount == 4 && order[order.count - 1] === model[1024])
    // An empty chunk goes.
    order.remove(model[1024])
    #expect(order.isWellFormed && order.chunkCount == 3)
  }

  @Test
  func elementsInARangeAreThePositionsOfThatRange() {
    var random = SeededRandom(seed: 7)
    let model = Self.sorted((0..<2600).map { Self.entry($0, using: &random) })
    let order = ListingOrder(sorted: model)
    #expect(order.chunkCount > 2)
    for range in [0..<0, 0..<1, 0..<2600, 511..<513, 1000..<1000, 1023..<2049, 2599..<2600, 5..<2000] {
      let same = order.elements(in: range).elementsEqual(model[range], by: ===)
      #expect(same, "\(range)")
    }
  }

  /// A state handed to a request keeps its contacts while the worker's copy changes: the copy
  /// that changes takes its own chunk, the other is untouched.
  @Test
  func aCopyIsUnchangedByChangesToTheOther() {
    var random = SeededRandom(seed: 3)
    let model = Self.sorted((0..<1500).map { Self.entry($0, using: &random) })
    var order = ListingOrder(sorted: model)
    let copy = order
    order.insert(Self.entry(9999, using: &random))
    let removed = order.remove(model[700])
    #expect(removed)
    let unchanged = copy.elementsEqual(model, by: ===)
    #expect(unchanged)
    #expect(copy.isWellFormed)
    #expect(order.count == model.count)
  }

  /// An entry that is not there (another object with the same id and name) is neither found
  /// nor removed; one out of place, as a broken order would leave it, is still removed.
  @Test
  func onlyTheSameObjectIsFoundOrRemoved() {
    let first = IndexedContact(Contact(id: "a", type: .custom, name: "Ann"))
    let twin = IndexedContact(Contact(id: "a", type: .custom, name: "Ann"))
    var order = ListingOrder(sorted: [first])
    #expect(order.position(of: twin) == nil)
    let removedTwin = order.remove(twin)
    let removedFirst = order.remove(first)
    #expect(!removedTwin && removedFirst)
    #expect(order.isEmpty)
    #expect(order.chunkCount == 0)
    order.insert(twin)
    #expect(order.count == 1 && order[0] === twin)
  }
}
