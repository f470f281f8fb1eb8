import Synchronization

/// The state's `DirectoryIndex`, built by the first query that needs it.
///
/// A class so that a state handed to a request (a copy) and the worker's own state share the
/// one index built for their common contacts; a mutex because that build happens in a
/// non-mutating read. A state changes its index only when it alone holds the box (else it takes
/// a copy first: see `DirectoryState.updateIndex`), so no reader ever sees it change.
final class SearchIndexBox: Sendable {
  let index: Mutex<DirectoryIndex?>

  init(_ index: DirectoryIndex? = nil) {
    self.index = Mutex(index)
  }
}

extension DirectoryState {
  /// The contacts that match `query`, in listing order (`entries`' order): the same as
  /// `entries.filter(query.matches)`, through the index when it narrows the query down.
  public func entries(matching query: ContactQuery) -> [IndexedContact] {
    if query.isUnfiltered { return entries.array }
    return indexedEntries(matching: query) ?? entries.filter(query.matches)
  }

  /// What `entries(matching:)` answers through the index; `nil` when it scans instead (the
  /// index cannot narrow the query down, or narrows it too little to pay).
  public func indexedEntries(matching query: ContactQuery) -> [IndexedContact]? {
    guard DirectoryIndex.canNarrow(query) else { return nil }
    let entries = entries
    let found = searchIndex.index.withLock { index -> [IndexedContact]? in
      if index == nil { index = DirectoryIndex(entries) }
      return index!.matches(query, byID: contact(id:))
    }
    return found.flatMap(inListingOrder)
  }

  /// `found` in the order of `entries`: each one's position by binary search, checked to hold
  /// that very contact; `nil` (scan instead) when a few are not where the search looks.
  ///
  /// `IndexedContact.precedes` is a strict total order (code points, then ids, which are
  /// unique), so the binary search finds every contact `entries` holds; the identity check and
  /// the linear search after a miss are a safety net, not a path taken.
  func inListingOrder(_ found: [IndexedContact]) -> [IndexedContact]? {
    var positioned: [(position: Int, entry: IndexedContact)] = []
    positioned.reserveCapacity(found.count)
    var misses = 0
    for entry in found {
      if let position = entries.position(of: entry) {
        positioned.append((position, entry))
        continue
      }
      misses += 1
      guard misses <= 8 else { return nil }
      guard let position = entries.firstIndex(where: { $0 === entry }) else {
        assertionFailure("the index holds a contact the state does not")
        return nil
      }
      positioned.append((position, entry))
    }
    positioned.sort { $0.position < $1.position }
    return positioned.map(\.entry)
  }

  /// Whether the index is built (for tests and benchmarks).
  public var isIndexBuilt: Bool { searchIndex.index.withLock { $0 != nil } }

  /// The index's size, when built: keys, posting lists of more than one slot, those held as
  /// bitmaps, slots in all lists, bytes of the lists' storage (for benchmarks).
  public var indexStatistics: (keys: Int, lists: Int, bitmaps: Int, postings: Int, listBytes: Int)? {
    searchIndex.index.withLock { $0?.statistics }
  }

  /// Applies `body` to the index, if built; after that, drops it if rebuilding would be cheaper
  /// than keeping it. Never changes an index another state still shares.
  mutating func updateIndex(_ body: (inout DirectoryIndex) -> Void) {
    if !isKnownUniquelyReferenced(&searchIndex) {
      // Another copy of this state (a request's) holds the box: leave it its index. The copy
      // here shares the index's storage until it changes, and then copies what it changes.
      let current = searchIndex.index.withLock { $0 }
      searchIndex = SearchIndexBox(current)
    }
    searchIndex.index.withLock { index in
      guard index != nil else { return }
      body(&index!)
      if index!.needsRebuild { index = nil }
    }
  }
}
