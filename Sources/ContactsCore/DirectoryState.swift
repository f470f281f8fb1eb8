/// Every contact a worker serves, in listing order, at one generation of the data.
///
/// A value type: a worker keeps one, applies each change of the journal to it in place, and
/// hands copies (cheap, copy-on-write) to requests.
public struct DirectoryState: Sendable {
  /// Increases with every change; part of every entity tag.
  public private(set) var generation: UInt64 = 0
  /// All contacts, sorted by `IndexedContact.precedes`.
  public private(set) var entries = ListingOrder()
  private var byID: [String: IndexedContact] = [:]
  /// The latest changes, for the change feed.
  public var changeLog = ChangeLog(horizon: 0)
  /// Kept answers of requests with an `Idempotency-Key`, by user and key.
  public internal(set) var idempotentAnswers: [String: IdempotentAnswer] = [:]
  /// Exact-filter and `q` indexes over `entries`, built lazily (`DirectoryState+Index.swift`).
  var searchIndex = SearchIndexBox()

  public init() {}

  /// A state holding `contacts`, at `generation`; its change log starts there.
  public init(contacts: [Contact], generation: UInt64) {
    self.init(indexed: contacts.map { IndexedContact($0) }, generation: generation)
  }

  /// A state holding already indexed contacts (a loader that has their JSON at hand); its change
  /// log starts at `generation`.
  public init(indexed: [IndexedContact], generation: UInt64) {
    self.init(indexed: indexed, upserting: [], removing: [], generation: generation)
  }

  /// A state holding `indexed` (the last of any two with one id), with `upserts` inserted or
  /// replacing the contact of their id and the contacts `removed` gone; its change log starts at
  /// `generation`. What a loader builds from a snapshot and the journal after it.
  ///
  /// The same as `init(ordered:index:generation:)` given `listingOrder(indexed, adding: upserts)`
  /// and `IDIndex(indexed, upserting: upserts, removing: removed)`, which share nothing: a
  /// loader with many contacts builds the two on two threads.
  public init(
    indexed: [IndexedContact], upserting upserts: [IndexedContact], removing removed: some Collection<String>,
    generation: UInt64
  ) {
    self.init(
      ordered: Self.listingOrder(indexed, adding: upserts),
      index: IDIndex(indexed, upserting: upserts, removing: removed), generation: generation)
  }

  /// Each contact of `indexed`, with `upserts` inserted or replacing theirs and `removed` gone,
  /// by id; and whether any contact of `indexed` is not among them (a journal of creates alone
  /// leaves none out).
  public struct IDIndex: Sendable {
    fileprivate var byID: [String: IndexedContact] = [:]
    fileprivate var displaced: Bool

    public init(
      _ indexed: [IndexedContact], upserting upserts: [IndexedContact], removing removed: some Collection<String>
    ) {
      self.init(indexed, reservingFor: upserts.count)
      apply(upserting: upserts, removing: removed)
    }

    /// Each contact of `indexed` by id, with room for `upserts` more.
    public init(_ indexed: [IndexedContact], reservingFor upserts: Int = 0) {
      byID.reserveCapacity(indexed.count + upserts)
      for entry in indexed { byID[entry.id] = entry }
      displaced = byID.count != indexed.count
    }

    /// `upserts` inserted or replacing theirs, and `removed` gone: what
    /// `init(_:upserting:removing:)` does after indexing its contacts.
    public mutating func apply(upserting upserts: [IndexedContact], removing removed: some Collection<String>) {
      for entry in upserts where byID.updateValue(entry, forKey: entry.id) != nil { displaced = true }
      for id in removed where byID.removeValue(forKey: id) != nil { displaced = true }
    }
  }

  /// `indexed` and `upserts` together in listing order, those an `IDIndex` leaves out included:
  /// what a stable sort of `indexed + upserts` gives (of two contacts neither of which precedes
  /// the other, the one of `indexed` first).
  ///
  /// Files hold contacts in listing order already: one pass checks that `indexed` is, and one
  /// merge adds the sorted changes, instead of copying both into one array and sorting that
  /// (which found the same two runs, then merged them through a buffer: 28–41 ms for 100,000
  /// and 15,000 in a fresh process, against 13–15 ms this way). `indexed` out of order (a
  /// PostgreSQL worker's rows, or a file written otherwise) is sorted whole, in one copy.
  public static func listingOrder(_ indexed: [IndexedContact], adding upserts: [IndexedContact]) -> [IndexedContact] {
    listingOrder(
      indexed, addingSorted: upserts.sorted(by: IndexedContact.precedes), indexedInOrder: isInListingOrder(indexed))
  }

  /// `listingOrder(indexed, adding: upserts)`, given `upserts` already sorted (`added`) and
  /// whether `indexed` is in listing order (`isInListingOrder`), which a loader finds on
  /// another thread.
  public static func listingOrder(
    _ indexed: [IndexedContact], addingSorted added: [IndexedContact], indexedInOrder: Bool
  ) -> [IndexedContact] {
    guard indexedInOrder else {
      var all = indexed  // rows of a database, in the order of their ids
      all += added
      all.sort(by: IndexedContact.precedes)
      return all
    }
    guard !added.isEmpty else { return indexed }
    var merged: [IndexedContact] = []
    merged.reserveCapacity(indexed.count + added.count)
    var next = 0
    for entry in added {
      var end = next
      while end < indexed.count && !IndexedContact.precedes(entry, indexed[end]) { end += 1 }
      merged += indexed[next..<end]
      merged.append(entry)
      next = end
    }
    merged += indexed[next...]
    return merged
  }

  /// Whether no contact of `contacts` precedes the one before it.
  public static func isInListingOrder(_ contacts: [IndexedContact]) -> Bool {
    var index = 1
    while index < contacts.count {
      if IndexedContact.precedes(contacts[index], contacts[index - 1]) { return false }
      index += 1
    }
    return true
  }

  /// A state holding the contacts of `ordered` (`listingOrder`'s) that `index` holds; its
  /// change log starts at `generation`. `ordered` is copied only when `index` left some out.
  public init(ordered: [IndexedContact], index: IDIndex, generation: UInt64) {
    self.generation = generation
    changeLog = ChangeLog(horizon: generation)
    byID = index.byID
    entries = ListingOrder(sorted: index.displaced ? ordered.filter { [byID] in byID[$0.id] === $0 } : ordered)
  }

  public var count: Int { entries.count }

  public func contact(id: String) -> IndexedContact? { byID[id] }

  public func contains(id: String) -> Bool { byID[id] != nil }

  /// The contacts of one type, in listing order.
  public func contacts(ofType type: ContactType) -> [Contact] {
    entries.lazy.filter { $0.type == type }.map(\.contact)
  }

  /// Inserts or replaces `contact` (its version is the new generation).
  public mutating func upsert(_ contact: Contact, generation newGeneration: UInt64) {
    let old = removeFromOrder(id: contact.id)
    var stored = contact
    stored.version = newGeneration
    let entry = IndexedContact(stored)
    entries.insert(entry)
    byID[stored.id] = entry
    updateIndex { $0.replace(old, with: entry) }
    generation = max(generation, newGeneration)
    changeLog.append(ChangeEntry(sequence: newGeneration, id: stored.id, contact: entry))
  }

  /// Applies many changes at once: what a worker does when it loads a journal or reads a bulk
  /// record. Fewer than a sixteenth of the directory go into the order one by one (a chunk's
  /// move each); more, in one linear merge of the whole order, which copies every pointer
  /// however few change. A bulk of 1,000 creates at 100,000 contacts (`contacts-bench --writes`):
  /// 11 ms one by one, 27–31 ms merged over the chunks, 21–23 ms merged in the flat array the
  /// chunks replaced.
  ///
  /// - Parameters:
  ///   - upserts: contacts to insert or replace, each already carrying its version (the
  ///     sequence number of its last change).
  ///   - removals: ids to remove, each with the sequence number of its deletion (none of them
  ///     is also in `upserts`).
  ///   - generation: the generation after these changes.
  public mutating func apply(upserts: [Contact], removals: [String: UInt64], generation newGeneration: UInt64) {
    guard !upserts.isEmpty || !removals.isEmpty else {
      generation = max(generation, newGeneration)
      return
    }
    let added = upserts.map { IndexedContact($0) }.sorted(by: IndexedContact.precedes)
    // The contacts replaced or removed.
    var removed: [IndexedContact] = []
    for id in removals.keys { if let old = byID.removeValue(forKey: id) { removed.append(old) } }
    for entry in added { if let old = byID.updateValue(entry, forKey: entry.id) { removed.append(old) } }
    if (added.count + removed.count) * 16 < entries.count {
      for old in removed { entries.remove(old) }
      for entry in added { entries.insert(entry) }
    } else {
      // Where the contacts replaced or removed stand, each found by binary search.
      let dropped = Set(removed.compactMap { old in entries.position(of: old) ?? entries.firstIndex { $0 === old } })
      entries = ListingOrder(sorted: Self.merge(entries.array, dropping: dropped.sorted(), adding: added))
    }
    updateIndex { index in Self.replace(removed, with: added, in: &index) }
    generation = max(generation, newGeneration)
    // The change log in commit order, each contact once, in its last state.
    let logged =
      added.map { ChangeEntry(sequence: $0.version, id: $0.id, contact: $0) }
      + removals.map { ChangeEntry(sequence: $0.value, id: $0.key, contact: nil) }
    for entry in logged.sorted(by: { $0.sequence < $1.sequence }) { changeLog.append(entry) }
  }

  /// Removes the contact `id`, if present.
  public mutating func remove(id: String, generation newGeneration: UInt64) {
    if let old = removeFromOrder(id: id) { updateIndex { $0.remove(old) } }
    byID[id] = nil
    generation = max(generation, newGeneration)
    changeLog.append(ChangeEntry(sequence: newGeneration, id: id, contact: nil))
  }

  /// Replaces every contact of `type` with `contacts` (each at the new generation): an import.
  ///
  /// Each contact the import adds, changes or removes is one change of the change log, numbered
  /// in id order from `firstSequence` (as `DirectoryImportSummary.changedIDs` orders them), so
  /// that every worker and every store numbers an import alike.
  public mutating func replaceAll(
    ofType type: ContactType, with contacts: [Contact], generation newGeneration: UInt64,
    firstSequence: UInt64? = nil
  ) {
    var previous: [String: IndexedContact] = [:]
    for entry in entries where entry.type == type { previous[entry.id] = entry }
    let removed = entries.filter { $0.type == type }
    var kept = entries.filter { $0.type != type }
    var added: [IndexedContact] = []
    var imported: [String: IndexedContact] = [:]
    for contact in contacts {
      var stored = contact
      stored.type = type
      stored.version = newGeneration
      let entry = IndexedContact(stored)
      kept.append(entry)
      added.append(entry)
      imported[stored.id] = entry
    }
    byID = Dictionary(kept.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
    entries = ListingOrder(sorted: kept.sorted(by: IndexedContact.precedes))
    updateIndex { index in Self.replace(removed, with: added, in: &index) }
    generation = max(generation, newGeneration)

    var changed: [String] = []
    for (id, entry) in imported {
      guard let old = previous[id] else {
        changed.append(id)
        continue
      }
      var comparable = entry.contact
      comparable.version = old.version
      if comparable != old.contact { changed.append(id) }
    }
    changed += previous.keys.filter { imported[$0] == nil }
    changed.sort()
    let first = firstSequence ?? newGeneration
    for (index, id) in changed.enumerated() {
      let sequence = min(first + UInt64(index), newGeneration)
      changeLog.append(ChangeEntry(sequence: sequence, id: id, contact: imported[id]))
    }
  }

  /// Applies one change at `generation` (its sequence number).
  public mutating func apply(_ change: ContactChange, generation: UInt64) {
    switch change {
    case .create(let contact), .update(let contact): upsert(contact, generation: generation)
    case .delete(let id): remove(id: id, generation: generation)
    }
  }

  /// Moves to `newGeneration` without changing a contact (a record that touched nothing here).
  public mutating func advance(to newGeneration: UInt64) {
    generation = max(generation, newGeneration)
  }

  /// Takes `removed` out of `index` and puts `added` in; an added contact whose indexed values
  /// are those of the removed one with its id keeps that one's slot (a re-import changes few).
  private static func replace(_ removed: [IndexedContact], with added: [IndexedContact], in index: inout DirectoryIndex)
  {
    var previous: [String: IndexedContact] = [:]
    for entry in removed { previous[entry.id] = entry }
    for entry in added { index.replace(previous.removeValue(forKey: entry.id), with: entry) }
    for entry in removed { index.remove(entry) }  // those not replaced (removing twice does nothing)
  }

  /// Removes the contact `id` from `entries`; the entry removed, if any.
  private mutating func removeFromOrder(id: String) -> IndexedContact? {
    guard let existing = byID[id], entries.remove(existing) else { return nil }
    return existing
  }

  /// `entries` without the indices `dropped` (ascending) and with `added` (sorted) merged in:
  /// a binary search per added contact and one copy of the rest, so adding a thousand contacts
  /// to a hundred thousand costs about one pass over them, not a thousand.
  static func merge(_ entries: [IndexedContact], dropping dropped: [Int], adding added: [IndexedContact])
    -> [IndexedContact]
  {
    var merged: [IndexedContact] = []
    merged.reserveCapacity(entries.count - dropped.count + added.count)
    var next = 0
    var drop = 0
    /// Copies `entries[next..<end]`, leaving out the dropped ones.
    func copy(upTo end: Int) {
      while drop < dropped.count && dropped[drop] < end {
        merged.append(contentsOf: entries[next..<dropped[drop]])
        next = dropped[drop] + 1
        drop += 1
      }
      merged.append(contentsOf: entries[next..<end])
      next = end
    }
    for entry in added {
      copy(upTo: insertionIndex(of: entry, in: entries, from: next))
      merged.append(entry)
    }
    copy(upTo: entries.count)
    return merged
  }

  /// The first index at or after `start` whose entry of `entries` does not precede `entry`.
  private static func insertionIndex(of entry: IndexedContact, in entries: [IndexedContact], from start: Int) -> Int {
    var low = start
    var high = entries.count
    while low < high {
      let middle = (low + high) / 2
      if IndexedContact.precedes(entries[middle], entry) { low = middle + 1 } else { high = middle }
    }
    return low
  }
}
