/// The slots of the contacts that hold one key of `DirectoryIndex`, sorted and unique: as an
/// array of slots, or as a bitmap with one bit per slot up to the last, whichever is smaller.
///
/// Most of the index's memory is in these lists. Directories share a few trigrams among nearly
/// every contact ("con", "555", a type): at 100,000 contacts 30 lists of more than one slot in
/// 32 held half of the 2.6 million postings, at 4 bytes each in an array and 1 bit in a bitmap.
/// An array also grows by doubling while the index is built; `compact()` then gives each list
/// the form and the exact capacity it needs (measured in `contacts-bench --memory`).
///
/// Both forms answer `contains` without decoding (a binary search, or one bit), which is what
/// intersecting `q`'s trigrams and picking candidates need.
struct PostingList: Sendable, Equatable {
  /// The slots, in order, while the list is an array; empty once it is a bitmap.
  private var sorted: [UInt32]
  /// Bit `slot % 64` of word `slot / 64` for every slot, once the list is a bitmap.
  private var bits: [UInt64] = []
  private(set) var count: Int
  private(set) var last: UInt32

  /// A list of `slots` (sorted, unique, not empty), as an array.
  init(_ slots: [UInt32]) {
    precondition(!slots.isEmpty)
    sorted = slots
    count = slots.count
    last = slots[slots.count - 1]
  }

  var isBitmap: Bool { !bits.isEmpty }

  /// The bytes of the list's storage (its capacity, for an array).
  var storageBytes: Int {
    isBitmap ? bits.capacity * 8 : sorted.capacity * 4
  }

  /// An array takes more room than a bitmap of the same slots once it holds more than one slot
  /// in 32 (4 bytes a slot against 1 bit a slot up to the last).
  private static func bitmapIsSmaller(count: Int, last: UInt32) -> Bool {
    count * 4 > (Int(last) / 64 + 1) * 8
  }

  /// Appends `slot` (no smaller than every slot held; the same slot twice is kept once).
  mutating func append(_ slot: UInt32) {
    guard slot != last else { return }
    precondition(slot > last, "posting lists are appended in slot order")
    count += 1
    last = slot
    if isBitmap {
      let word = Int(slot / 64)
      if word >= bits.count { bits.append(contentsOf: repeatElement(0, count: word + 1 - bits.count)) }
      bits[word] |= 1 << UInt64(slot % 64)
      return
    }
    sorted.append(slot)
    // Twice the bitmap's size, so that a list near the line does not go back and forth.
    if count * 4 > 2 * (Int(last) / 64 + 1) * 8 { makeBitmap() }
  }

  /// Gives the list the smaller form, at its exact size: once the index is built.
  mutating func compact() {
    if isBitmap {
      if bits.capacity > bits.count { bits = bits.withUnsafeBufferPointer { Array($0) } }
      return
    }
    if Self.bitmapIsSmaller(count: count, last: last) {
      makeBitmap()
    } else if sorted.capacity > sorted.count {
      sorted = sorted.withUnsafeBufferPointer { Array($0) }
    }
  }

  private mutating func makeBitmap() {
    var words = [UInt64](repeating: 0, count: Int(last) / 64 + 1)
    for slot in sorted { words[Int(slot / 64)] |= 1 << UInt64(slot % 64) }
    bits = words
    sorted = []
  }

  func contains(_ slot: UInt32) -> Bool {
    if isBitmap {
      let word = Int(slot / 64)
      return word < bits.count && bits[word] & (1 << UInt64(slot % 64)) != 0
    }
    var low = 0
    var high = sorted.count
    while low < high {
      let middle = (low + high) / 2
      if sorted[middle] < slot { low = middle + 1 } else { high = middle }
    }
    return low < sorted.count && sorted[low] == slot
  }

  /// Every slot, in order.
  var slots: [UInt32] {
    guard isBitmap else { return sorted }
    var result: [UInt32] = []
    result.reserveCapacity(count)
    for (index, word) in bits.enumerated() {
      var remaining = word
      while remaining != 0 {
        result.append(UInt32(index * 64 + remaining.trailingZeroBitCount))
        remaining &= remaining - 1
      }
    }
    return result
  }
}
