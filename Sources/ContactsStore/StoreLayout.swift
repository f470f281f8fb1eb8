import ContactsCore

/// The names of the files in a data directory.
public struct StoreLayout: Sendable {
  public let directory: String

  static let lockName = "lock"
  static let snapshotName = "snapshot.json"
  static let journalName = "journal.jsonl"
  /// Byte-range locks, one stripe per idempotency key hash (see `FileContactRepository.commit`).
  static let idempotencyLockName = "idempotency.lock"
  /// `flock(2)` by the one process compacting (see `Compaction`).
  static let compactionLockName = "compaction.lock"
  /// The durable watermark of group commit, shared by every process (see `DurableWatermark`).
  static let watermarkName = "journal.watermark"
  /// Every change to a custom contact older than the journal, for the audit history.
  static let historyName = "history.jsonl"

  public init(directory: String) { self.directory = directory }

  public var lock: String { path(Self.lockName) }
  public var snapshot: String { path(Self.snapshotName) }
  public var journal: String { path(Self.journalName) }

  public func path(_ name: String) -> String { "\(directory)/\(name)" }

  /// `users-<generation>.json` or `queues-<generation>.json`.
  static func directoryFileName(_ type: ContactType, generation: UInt64) -> String {
    "\(type == .user ? "users" : "queues")-\(generation).json"
  }

  static func isDirectoryFile(_ name: String) -> Bool {
    (name.hasPrefix("users-") || name.hasPrefix("queues-")) && name.hasSuffix(".json")
  }
}
