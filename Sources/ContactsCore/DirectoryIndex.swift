/// Maps from what a query compares to the contacts that may match it, so that a filtered
/// listing or a `q` search costs its candidates, not the whole directory.
///
/// Every contact of the state has one *slot*, a small number; the maps hold slots:
///
/// - one posting list per (attribute, folded value) for the exact filters, keyed by the value's
///   hash (two values that collide only add candidates). Not for two attributes, to save a key
///   per contact: a phone number's digits of three or more are found through the digit trigrams
///   (ASCII digits on both sides: equal means the same bytes), and an id through the state's
///   `byID` (only ids that change when folded have a list);
/// - one per byte trigram of `searchableText` (folded names, user names, employee ids; trigrams
///   spanning the field separator are left out: no `q` holds that byte) and one per trigram of
///   the phone number's digits, for `q`.
///
/// The index only proposes candidates: each is checked with `ContactQuery.matches`, the scan's
/// own test, so an answer can hold no contact the scan would not. It can miss none either: a
/// contact with a value equal to a filter's is in that value's list, and a text holding `q` as a
/// substring holds every trigram of `q`.
///
/// The index does not know the listing order: the state puts the matches in it
/// (`DirectoryState.entries(matching:)`).
///
/// Maintenance is per changed contact: a new contact appends its slot to its lists (the largest
/// slot, so lists stay sorted); a removed one only empties its slot, and readers skip empty
/// slots. When empty slots pass half the live ones, the owner drops the index and the next query
/// that needs it builds it again (amortized O(1) per change).
struct DirectoryIndex: Sendable {
  /// The contact in each slot; `nil` once removed.
  private var slots: [IndexedContact?] = []
  /// The slot of each contact held, by identity (contacts are immutable objects).
  private var slotOf: [ObjectIdentifier: UInt32] = [:]
  private(set) var liveCount = 0
  /// Each key's posting list: most values (ids, names, numbers) have one contact, whose slot is
  /// the value itself; with `listFlag` set, the rest is the list's position in `lists`.
  ///
  /// Four bytes a value rather than an enum holding the list: at 100,000 contacts the exact
  /// filters' keys number one per name, and `Dictionary` rounds them up to 262,144 buckets.
  private var postings: [UInt64: UInt32] = [:]
  private var lists: [PostingList] = []
  private static let listFlag: UInt32 = 1 << 31

  /// The index of `entries`, in their order.
  init(_ entries: some Collection<IndexedContact>) {
    slots.reserveCapacity(entries.count)
    slotOf.reserveCapacity(entries.count)
    for entry in entries { add(entry) }
    for index in lists.indices { lists[index].compact() }
  }

  /// When empty slots cost more than building again would.
  var needsRebuild: Bool {
    slots.count - liveCount > max(4096, liveCount / 2)
  }

  // MARK: Maintenance

  /// Adds `entry` in a new slot.
  mutating func add(_ entry: IndexedContact) {
    precondition(slots.count < Int(Self.listFlag), "more slots than a posting can name")
    let slot = UInt32(slots.count)
    slots.append(entry)
    slotOf[ObjectIdentifier(entry)] = slot
    liveCount += 1
    for attribute in Self.attributes {
      guard let value = entry.folded(attribute) else { continue }
      switch attribute {
      case .phoneNumber where value.isEmpty: continue  // never matches a filter
      case .phoneNumber where value.utf8.count >= 3: continue  // the digit trigrams find it
      case .id where value.utf8.elementsEqual(entry.id.utf8): continue  // `byID` finds it
      default: insert(slot, at: Self.exactKey(attribute, value))
      }
    }
    entry.withSearchableText { Self.forEachTrigram(of: $0, kind: Self.textKind) { insert(slot, at: $0) } }
    entry.withPhoneDigits { Self.forEachTrigram(of: $0, kind: Self.digitsKind) { insert(slot, at: $0) } }
  }

  /// Removes `entry` (if held): its slot is emptied, its lists keep the slot until a rebuild.
  mutating func remove(_ entry: IndexedContact) {
    guard let slot = slotOf.removeValue(forKey: ObjectIdentifier(entry)) else { return }
    slots[Int(slot)] = nil
    liveCount -= 1
  }

  /// Puts `new` in place of `old`: in `old`'s slot when every value the index holds is the
  /// same (a new version of an unchanged contact, as an import makes), else removes and adds.
  mutating func replace(_ old: IndexedContact?, with new: IndexedContact) {
    if let old, old.id == new.id, old.hasSameIndexedValues(as: new),
      let slot = slotOf.removeValue(forKey: ObjectIdentifier(old))
    {
      slots[Int(slot)] = new
      slotOf[ObjectIdentifier(new)] = slot
      return
    }
    if let old { remove(old) }
    add(new)
  }

  /// Appends `slot` (no smaller than any slot held) to `key`'s list.
  private mutating func insert(_ slot: UInt32, at key: UInt64) {
    guard let position = postings.index(forKey: key) else {
      postings[key] = slot
      return
    }
    let value = postings.values[position]
    if value & Self.listFlag != 0 {
      lists[Int(value & ~Self.listFlag)].append(slot)
    } else if value != slot {
      postings.values[position] = UInt32(lists.count) | Self.listFlag
      lists.append(PostingList([value, slot]))
    }
  }

  /// `key`'s posting list, if it has one.
  private func postingList(_ key: UInt64) -> PostingList? {
    guard let value = postings[key] else { return nil }
    return value & Self.listFlag != 0 ? lists[Int(value & ~Self.listFlag)] : PostingList([value])
  }

  /// Keys, posting lists of more than one slot, those of them held as bitmaps, slots in all
  /// lists, and the bytes the lists' storage takes (for benchmarks).
  var statistics: (keys: Int, lists: Int, bitmaps: Int, postings: Int, listBytes: Int) {
    var total = postings.count - lists.count
    var bitmaps = 0
    var bytes = 0
    for list in lists {
      total += list.count
      bytes += list.storageBytes
      if list.isBitmap { bitmaps += 1 }
    }
    return (postings.count, lists.count, bitmaps, total, bytes)
  }

  // MARK: Queries

  /// Whether the index can narrow `query` down at all: an exact filter, or a `q` whose text and
  /// digits are each empty or at least a trigram long. Otherwise the caller scans.
  static func canNarrow(_ query: ContactQuery) -> Bool {
    !query.filters.isEmpty || searchKeys(query) != nil
  }

  /// The matches of `query`, in no particular order, or `nil` when scanning costs no more
  /// (no narrowing constraint, or candidates for more than `maximumShare` of the directory).
  ///
  /// - Parameter byID: the state's contact of an id (`String`'s equality, as the filter's).
  func matches(_ query: ContactQuery, byID: (String) -> IndexedContact?) -> [IndexedContact]? {
    guard let candidates = candidates(query, byID: byID) else { return nil }
    var found: [IndexedContact] = []
    for slot in candidates {
      if let entry = slots[Int(slot)], query.matches(entry) { found.append(entry) }
    }
    return found
  }

  /// Candidates for more than this share of the directory are left to the scan: checking and
  /// ordering each costs about what scanning the directory does (`contacts-bench`).
  static let maximumShare = 8

  /// The slots that may match `query`, sorted and unique: those of its most selective
  /// constraint (the other constraints are checked on each candidate).
  private func candidates(_ query: ContactQuery, byID: (String) -> IndexedContact?) -> [UInt32]? {
    /// A constraint's slots: a list as held (a bitmap's slots are only listed for the
    /// constraint chosen: listing a type's 100,000 cost 70 µs), or slots already worked out.
    enum Slots {
      case list(PostingList)
      case sorted([UInt32])
      var count: Int {
        switch self {
        case .list(let list): list.count
        case .sorted(let slots): slots.count
        }
      }
      var slots: [UInt32] {
        switch self {
        case .list(let list): list.slots
        case .sorted(let slots): slots
        }
      }
    }
    var bestSize = Int.max
    var bestLists: [Slots] = []
    var bestIsSearch = false
    for (attribute, values) in query.filters {
      var lists: [Slots] = []
      for value in Set(values) {
        if attribute == .phoneNumber && value.utf8.count >= 3 {
          var keys: Set<UInt64> = []
          Self.forEachTrigram(of: Array(value.utf8), kind: Self.digitsKind) { keys.insert($0) }
          lists.append(.sorted(Self.intersection(lookUp(Array(keys)))))
        } else if let list = postingList(Self.exactKey(attribute, value)) {
          lists.append(.list(list))
        }
        if attribute == .id, let entry = byID(value), let slot = slotOf[ObjectIdentifier(entry)] {
          lists.append(.sorted([slot]))
        }
      }
      let size = lists.reduce(0) { $0 + $1.count }
      if size < bestSize { (bestSize, bestLists) = (size, lists) }
    }
    var search: (text: [PostingList], digits: [PostingList])?
    if bestSize > 16, let keys = Self.searchKeys(query) {
      let text = lookUp(keys.text)
      let digits = lookUp(keys.digits)
      let size = (text.first?.count ?? 0) + (digits.first?.count ?? 0)
      if size < bestSize {
        (bestSize, bestIsSearch) = (size, true)
        search = (text, digits)
      }
    }
    guard bestSize != Int.max, bestSize <= max(64, liveCount / Self.maximumShare) else { return nil }
    if bestIsSearch, let search {
      return Self.union([Self.intersection(search.text), Self.intersection(search.digits)])
    }
    return Self.union(bestLists.map(\.slots))
  }

  /// The posting lists of `keys`, shortest first; none when one of them has no list (then
  /// nothing holds every trigram).
  private func lookUp(_ keys: [UInt64]) -> [PostingList] {
    var lists: [PostingList] = []
    for key in keys {
      guard let list = postingList(key) else { return [] }
      lists.append(list)
    }
    return lists.sorted { $0.count < $1.count }
  }

  /// The trigram keys of `q`'s text and of its digits (none for an empty part, which never
  /// constrains: an empty text matches everything, no digits match no phone number); `nil` when
  /// a non-empty part is shorter than a trigram, or there is no `q` to search.
  static func searchKeys(_ query: ContactQuery) -> (text: [UInt64], digits: [UInt64])? {
    guard let text = query.text, !text.isEmpty, text.count >= 3 else { return nil }
    let digits = query.textDigits
    guard digits.isEmpty || digits.count >= 3 else { return nil }
    var textKeys: Set<UInt64> = []
    forEachTrigram(of: text, kind: textKind) { textKeys.insert($0) }
    var digitKeys: Set<UInt64> = []
    forEachTrigram(of: digits, kind: digitsKind) { digitKeys.insert($0) }
    return (Array(textKeys), Array(digitKeys))
  }

  // MARK: Keys

  static let textKind: UInt64 = 8
  static let digitsKind: UInt64 = 9

  /// One attribute's folded value: the attribute in the top byte, the value's hash below.
  ///
  /// `String`'s own hash, because the filters compare with `String`'s `==`, which holds
  /// canonically equivalent texts equal (`Zoë` precomposed and `Zoe` + U+0308): a hash of the
  /// bytes would tell them apart and miss a match. (Seeded per process, so no client can choose
  /// values that collide.)
  static func exactKey(_ attribute: ContactAttribute, _ value: String) -> UInt64 {
    UInt64(attribute.position) << 56 | UInt64(UInt(bitPattern: value.hashValue)) >> 8
  }

  static let attributes = ContactAttribute.allCases

  /// Calls `body` with the key of every byte trigram of `bytes` that does not hold the field
  /// separator.
  static func forEachTrigram(of bytes: UnsafeBufferPointer<UInt8>, kind: UInt64, _ body: (UInt64) -> Void) {
    guard bytes.count >= 3 else { return }
    let separator = IndexedContact.searchSeparator
    for start in 0...(bytes.count - 3) {
      let (a, b, c) = (bytes[start], bytes[start + 1], bytes[start + 2])
      if a == separator || b == separator || c == separator { continue }
      body(kind << 56 | UInt64(a) << 16 | UInt64(b) << 8 | UInt64(c))
    }
  }

  /// The same, over an array (a query's folded text or digits).
  static func forEachTrigram(of bytes: [UInt8], kind: UInt64, _ body: (UInt64) -> Void) {
    bytes.withUnsafeBufferPointer { forEachTrigram(of: $0, kind: kind, body) }
  }

  // MARK: Sorted lists

  /// The slots in every list (`lists` shortest first); stops intersecting once a handful of
  /// candidates is left, since checking them is cheaper than narrowing further.
  static func intersection(_ lists: [PostingList]) -> [UInt32] {
    guard var result = lists.first?.slots else { return [] }
    for list in lists.dropFirst() {
      if result.count <= 8 { break }
      result = result.filter { list.contains($0) }
    }
    return result
  }

  /// The slots in any list, sorted and unique.
  static func union(_ lists: [[UInt32]]) -> [UInt32] {
    let nonEmpty = lists.filter { !$0.isEmpty }
    if nonEmpty.count <= 1 { return nonEmpty.first ?? [] }
    var all = nonEmpty.flatMap { $0 }
    all.sort()
    var unique: [UInt32] = []
    unique.reserveCapacity(all.count)
    for slot in all where unique.last != slot { unique.append(slot) }
    return unique
  }
}

extension IndexedContact {
  /// Whether every value the index holds for `other` is this contact's too.
  func hasSameIndexedValues(as other: IndexedContact) -> Bool {
    DirectoryIndex.attributes.allSatisfy { folded($0) == other.folded($0) }
  }
}
