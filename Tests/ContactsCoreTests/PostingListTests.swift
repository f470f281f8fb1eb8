import TestSupport
import Testing

@testable import ContactsCore

/// A posting list answers as the sorted set of its slots would, in either form and across the
/// change from array to bitmap (while appending, or when compacted).
@Suite struct PostingListTests {
  /// Random lists from sparse (one slot in ~500) to dense (every slot), with repeats, checked
  /// against a `Set` after every append and after compacting.
  @Test(arguments: [1 as UInt64, 2, 3, 4, 5, 6])
  func listAnswersAsItsSlotsDo(seed: UInt64) {
    var random = SeededRandom(seed: seed)
    let gap = [1, 2, 8, 31, 33, 64, 500][random.next(upTo: 7)]
    var slot = UInt32(random.next(upTo: 200))
    var list = PostingList([slot])
    var expected: [UInt32] = [slot]
    for _ in 0..<random.next(upTo: 3000) {
      if random.next(upTo: 10) == 0 {
        list.append(slot)  // the same slot again: kept once
      } else {
        slot += UInt32(1 + random.next(upTo: gap))
        list.append(slot)
        expected.append(slot)
      }
    }
    func check(_ list: PostingList) {
      #expect(list.slots == expected)
      #expect(list.count == expected.count && list.last == expected.last)
      let members = Set(expected)
      for probe in 0...(slot + 70) where members.contains(probe) != list.contains(probe) {
        Issue.record("contains(\(probe)) is \(list.contains(probe)), bitmap \(list.isBitmap)")
        return
      }
    }
    check(list)
    var compacted = list
    compacted.compact()
    check(compacted)
    // Compacted: the smaller form, at its exact size.
    let arrayBytes = expected.count * 4
    let bitmapBytes = (Int(slot) / 64 + 1) * 8
    #expect(compacted.isBitmap == (arrayBytes > bitmapBytes) || list.isBitmap)
    if !compacted.isBitmap { #expect(compacted.storageBytes <= arrayBytes + 32) }
    // Appending after compacting keeps working in either form.
    compacted.append(slot + 1000)
    expected.append(slot + 1000)
    slot += 1000
    check(compacted)
  }

  @Test func denseListsBecomeBitmapsSparseOnesStayArrays() {
    var dense = PostingList([0])
    for slot in 1..<10_000 as Range<UInt32> { dense.append(slot) }
    #expect(dense.isBitmap && dense.count == 10_000)
    dense.compact()
    #expect(dense.storageBytes < 10_000 / 8 + 64)
    var sparse = PostingList([0])
    for slot in stride(from: 100, to: 100_000, by: 100) { sparse.append(UInt32(slot)) }
    sparse.compact()
    #expect(!sparse.isBitmap && sparse.count == 1000)
    #expect(sparse.storageBytes <= 1000 * 4 + 32)
  }
}
