/// One change of the change feed: a contact as the change left it, or its deletion.
public struct ChangeEntry: Sendable {
  /// The change's sequence number: its position in commit order.
  public let sequence: UInt64
  public let id: String
  /// The contact after the change; `nil` when the change deleted it.
  public let contact: IndexedContact?

  public init(sequence: UInt64, id: String, contact: IndexedContact?) {
    self.sequence = sequence
    self.id = id
    self.contact = contact
  }
}

/// The latest changes in commit order, kept by every worker beside its contacts: what
/// `GET /contacts/_changes` answers from, without reading any file or table.
///
/// Holds at least `capacity` changes once that many happened (up to half again as many, so that
/// trimming is amortized O(1)); every change after `horizon` is here, at most once per contact in
/// a run of changes applied together (then in its last state, as the feed allows).
public struct ChangeLog: Sendable {
  /// How many changes the log keeps at least.
  public var capacity: Int
  /// Every change with a sequence number above this is in the log.
  public private(set) var horizon: UInt64
  private var entries: [ChangeEntry] = []

  /// The default: the change feed keeps at least the last 10,000 changes.
  public static let defaultCapacity = 10_000

  /// An empty log: changes after `horizon` will be recorded from now on.
  public init(capacity: Int = ChangeLog.defaultCapacity, horizon: UInt64) {
    self.capacity = max(1, capacity)
    self.horizon = horizon
  }

  /// A log restored from a snapshot: `entries` in commit order, complete after `horizon`.
  public init(capacity: Int = ChangeLog.defaultCapacity, horizon: UInt64, entries: [ChangeEntry]) {
    self.init(capacity: capacity, horizon: horizon, restoring: entries, sequence: \.sequence, entry: { $0 })
  }

  /// The log restored from `stored` (a snapshot's entries in commit order, complete after
  /// `horizon`) with `later` appended one by one (changes after them, in commit order): the
  /// same log as `init(capacity:horizon:entries:)` then `append` of each, but `entry` builds
  /// only the stored entries it still holds.
  ///
  /// A worker that loads a long journal appends more changes than the log keeps: most of the
  /// snapshot's entries would be built, then trimmed at once.
  ///
  /// - Throws: what `entry` throws.
  public init<Stored: Collection, Failure: Error>(
    capacity: Int = ChangeLog.defaultCapacity, horizon: UInt64, restoring stored: Stored,
    sequence: (Stored.Element) -> UInt64, entry: (Stored.Element) throws(Failure) -> ChangeEntry,
    followedBy later: [ChangeEntry] = []
  ) throws(Failure) {
    self.init(capacity: capacity, horizon: horizon)
    // How many entries trimming drops from the front, counted as `init` then `append` trim.
    let most = self.capacity + self.capacity / 2
    var held = stored.count
    var dropped = 0
    if held > most { (dropped, held) = (held - self.capacity, self.capacity) }
    for _ in later.indices {
      held += 1
      if held > most { (dropped, held) = (dropped + held - self.capacity, self.capacity) }
    }
    if dropped > 0 {
      self.horizon =
        dropped <= stored.count
        ? sequence(stored.dropFirst(dropped - 1).first!) : later[dropped - stored.count - 1].sequence
    }
    entries.reserveCapacity(held)
    for element in stored.dropFirst(dropped) { entries.append(try entry(element)) }
    entries += later.dropFirst(max(0, dropped - stored.count))
  }

  public var count: Int { entries.count }

  /// The entries, oldest first.
  public var all: [ChangeEntry] { entries }

  /// Records a change (sequence numbers only grow).
  public mutating func append(_ entry: ChangeEntry) {
    if let last = entries.last, entry.sequence < last.sequence { return }
    entries.append(entry)
    trim()
  }

  /// Forgets everything: what a worker does when it reloads from scratch at `generation`.
  public mutating func reset(horizon newHorizon: UInt64) {
    entries.removeAll(keepingCapacity: true)
    horizon = newHorizon
  }

  private mutating func trim() {
    guard entries.count > capacity + capacity / 2 else { return }
    let dropped = entries.count - capacity
    horizon = entries[dropped - 1].sequence
    entries.removeFirst(dropped)
  }

  /// The changes after `sequence`, at most `limit`.
  ///
  /// - Returns: `nil` when changes after `sequence` are no longer all here (the cursor expired).
  public func changes(after sequence: UInt64, limit: Int) -> (entries: ArraySlice<ChangeEntry>, hasMore: Bool)? {
    // Expired when older than the horizon, or than `capacity` changes ago: the log may hold up
    // to half again as many, but what it promises is `capacity`, whatever it happens to hold.
    let newest = entries.last?.sequence ?? horizon
    guard sequence >= horizon, newest - min(sequence, newest) <= UInt64(capacity) else { return nil }
    var low = 0
    var high = entries.count
    while low < high {
      let middle = (low + high) / 2
      if entries[middle].sequence <= sequence { low = middle + 1 } else { high = middle }
    }
    let end = low + min(max(limit, 0), entries.count - low)
    return (entries[low..<end], end < entries.count)
  }
}
