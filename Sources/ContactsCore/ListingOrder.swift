/// Every contact of a state in listing order (`IndexedContact.precedes`), held in chunks of at
/// most `chunkCapacity`, so that a change moves one chunk's pointers rather than the
/// directory's.
///
/// One flat array was simpler, but at 100,000 contacts each create moved 0.4 MB of pointers on
/// average, twice per POST (the worker that wrote it, under the journal's lock, and the one that
/// read it): 6.6% of all CPU samples of a POST run (docs/performance.md). Here an insertion is
/// two binary searches, a move of at most `chunkCapacity` pointers and an update of one start
/// per chunk after it.
///
/// A collection with `Int` positions, like the array it replaces: listings slice it, scans
/// iterate it (chunk by chunk, not through the subscript), tests compare it. Copies are cheap
/// and share the chunks; a change to a shared state copies one chunk, not every contact.
public struct ListingOrder: Sendable, RandomAccessCollection {
  /// The chunks, none empty, each sorted, each one's contacts before the next one's.
  private var chunks: [[IndexedContact]] = []
  /// The position of each chunk's first contact.
  private var starts: [Int] = []
  public private(set) var count = 0

  /// A chunk splits in two when an insertion would take it past this size; the cost of an
  /// insertion grows with it, that of finding a position with the number of chunks.
  static let chunkCapacity = 1024
  /// A chunk this small after a removal is joined to a neighbour that has room.
  static let chunkMinimum = 64

  public init() {}

  /// `sorted`, already in listing order, in chunks half full (room for insertions).
  public init(sorted: some Collection<IndexedContact>) {
    let size = Self.chunkCapacity / 2
    var chunk: [IndexedContact] = []
    chunk.reserveCapacity(size)
    for entry in sorted {
      chunk.append(entry)
      if chunk.count == size {
        appendChunk(chunk)
        chunk = []
        chunk.reserveCapacity(size)
      }
    }
    if !chunk.isEmpty { appendChunk(chunk) }
  }

  private mutating func appendChunk(_ chunk: [IndexedContact]) {
    starts.append(count)
    chunks.append(chunk)
    count += chunk.count
  }

  // MARK: Collection

  public var startIndex: Int { 0 }
  public var endIndex: Int { count }

  public subscript(position: Int) -> IndexedContact {
    precondition(position >= 0 && position < count, "position out of range")
    let chunk = chunk(holding: position)
    return chunks[chunk][position - starts[chunk]]
  }

  /// Walks the chunks: a scan of the directory costs no binary search per contact.
  public struct Iterator: IteratorProtocol {
    private let chunks: [[IndexedContact]]
    private var chunk = 0
    private var offset = 0

    fileprivate init(_ chunks: [[IndexedContact]]) {
      self.chunks = chunks
    }

    public mutating func next() -> IndexedContact? {
      guard chunk < chunks.count else { return nil }
      let entry = chunks[chunk][offset]
      offset += 1
      if offset == chunks[chunk].count {
        chunk += 1
        offset = 0
      }
      return entry
    }
  }

  public func makeIterator() -> Iterator { Iterator(chunks) }

  /// The contacts of `range`, as one array (a listing's page): a copy per chunk, not a lookup
  /// per contact.
  public func elements(in range: Range<Int>) -> [IndexedContact] {
    precondition(range.lowerBound >= 0 && range.upperBound <= count, "range out of bounds")
    var result: [IndexedContact] = []
    guard !range.isEmpty else { return result }
    result.reserveCapacity(range.count)
    var chunk = chunk(holding: range.lowerBound)
    while chunk < chunks.count && starts[chunk] < range.upperBound {
      let lower = Swift.max(range.lowerBound - starts[chunk], 0)
      let upper = Swift.min(range.upperBound - starts[chunk], chunks[chunk].count)
      result.append(contentsOf: chunks[chunk][lower..<upper])
      chunk += 1
    }
    return result
  }

  /// Every contact, as one array.
  public var array: [IndexedContact] { elements(in: 0..<count) }

  // MARK: Positions

  /// The chunk holding `position` (less than `count`): the last whose start is not after it.
  private func chunk(holding position: Int) -> Int {
    var low = 0
    var high = starts.count
    while high - low > 1 {
      let middle = (low + high) / 2
      if starts[middle] <= position { low = middle } else { high = middle }
    }
    return low
  }

  /// Where `entry` belongs: the chunk to insert it in (or that holds it), and the first index
  /// there whose contact does not precede it. A contact between the last of one chunk and the
  /// first of the next goes at the end of the one before (chunk boundaries are arbitrary).
  private func place(of entry: IndexedContact) -> (chunk: Int, offset: Int) {
    guard !chunks.isEmpty else { return (0, 0) }
    // The last chunk whose first contact does not follow `entry` (the first chunk if all do).
    var low = 0
    var high = chunks.count
    while high - low > 1 {
      let middle = (low + high) / 2
      if IndexedContact.precedes(entry, chunks[middle][0]) { high = middle } else { low = middle }
    }
    let contacts = chunks[low]
    var first = 0
    var last = contacts.count
    while first < last {
      let middle = (first + last) / 2
      if IndexedContact.precedes(contacts[middle], entry) { first = middle + 1 } else { last = middle }
    }
    return (low, first)
  }

  /// The first position whose contact does not precede `entry` (binary search).
  public func insertionIndex(of entry: IndexedContact) -> Int {
    guard !chunks.isEmpty else { return 0 }
    let (chunk, offset) = place(of: entry)
    return starts[chunk] + offset
  }

  /// The position of `entry` itself (the same object), found by binary search; `nil` if it is
  /// not where the order puts it.
  ///
  /// `precedes` is a strict total order, so the binary search finds every contact held; the
  /// callers' linear search after a miss is a safety net, not a path taken.
  public func position(of entry: IndexedContact) -> Int? {
    located(entry).map { starts[$0.chunk] + $0.offset }
  }

  private func located(_ entry: IndexedContact) -> (chunk: Int, offset: Int)? {
    guard !chunks.isEmpty else { return nil }
    let (chunk, offset) = place(of: entry)
    guard offset < chunks[chunk].count, chunks[chunk][offset] === entry else { return nil }
    return (chunk, offset)
  }

  // MARK: Changes

  /// Inserts `entry` where it belongs.
  public mutating func insert(_ entry: IndexedContact) {
    guard !chunks.isEmpty else {
      appendChunk([entry])
      return
    }
    let (chunk, offset) = place(of: entry)
    chunks[chunk].insert(entry, at: offset)
    count += 1
    shiftStarts(after: chunk, by: 1)
    if chunks[chunk].count > Self.chunkCapacity { split(chunk) }
  }

  /// Removes `entry` (the same object); whether it was here.
  @discardableResult
  public mutating func remove(_ entry: IndexedContact) -> Bool {
    var found = located(entry)
    if found == nil, let position = firstIndex(where: { $0 === entry }) {
      let chunk = chunk(holding: position)
      found = (chunk, position - starts[chunk])
    }
    guard let (chunk, offset) = found else { return false }
    chunks[chunk].remove(at: offset)
    count -= 1
    shiftStarts(after: chunk, by: -1)
    if chunks[chunk].isEmpty {
      chunks.remove(at: chunk)
      starts.remove(at: chunk)
    } else if chunks[chunk].count < Self.chunkMinimum {
      joinSmall(chunk)
    }
    return true
  }

  private mutating func shiftStarts(after chunk: Int, by delta: Int) {
    var next = chunk + 1
    while next < starts.count {
      starts[next] += delta
      next += 1
    }
  }

  private mutating func split(_ chunk: Int) {
    let half = chunks[chunk].count / 2
    let upper = Array(chunks[chunk][half...])
    chunks[chunk].removeSubrange(half...)
    chunks.insert(upper, at: chunk + 1)
    starts.insert(starts[chunk] + half, at: chunk + 1)
  }

  /// Joins the small chunk `chunk` to the smaller of its neighbours, if the two fit in half a
  /// chunk's capacity (so that the next insertions do not split it again at once).
  private mutating func joinSmall(_ chunk: Int) {
    let neighbours = [chunk - 1, chunk + 1].filter { chunks.indices.contains($0) }
    guard let neighbour = neighbours.min(by: { chunks[$0].count < chunks[$1].count }),
      chunks[chunk].count + chunks[neighbour].count <= Self.chunkCapacity / 2
    else { return }
    let (first, second) = (Swift.min(chunk, neighbour), Swift.max(chunk, neighbour))
    chunks[first] += chunks[second]
    chunks.remove(at: second)
    starts.remove(at: second)
  }

  /// Whether the chunks hold their invariants (for tests): none empty or past capacity, starts
  /// matching their sizes, every contact before the next.
  public var isWellFormed: Bool {
    guard chunks.count == starts.count else { return false }
    var position = 0
    var previous: IndexedContact?
    for (index, chunk) in chunks.enumerated() {
      guard !chunk.isEmpty, chunk.count <= Self.chunkCapacity, starts[index] == position else { return false }
      for entry in chunk {
        if let previous, !IndexedContact.precedes(previous, entry) { return false }
        previous = entry
      }
      position += chunk.count
    }
    return position == count
  }

  /// The number of chunks (for tests).
  public var chunkCount: Int { chunks.count }
}
