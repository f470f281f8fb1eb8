/// What one commit writes, decided under the write lock: one change (a `POST`, `PUT` or
/// `DELETE`) or several (a bulk request: one durable write for all of them), and the answer to
/// keep for an `Idempotency-Key`, if the request carried one.
public struct CommitPlan: Sendable {
  /// The changes, in order; they get consecutive sequence numbers. Empty: nothing is written.
  public var changes: [ContactChange]
  /// The answer a retry with the same key gets back instead of running again.
  public var idempotentAnswer: IdempotentAnswer?

  public init(_ changes: [ContactChange], idempotentAnswer: IdempotentAnswer? = nil) {
    self.changes = changes
    self.idempotentAnswer = idempotentAnswer
  }
}

/// The kept answer of a request that carried an `Idempotency-Key`: kept with the data (every
/// worker and host sees it, restarts keep it) for at least 24 hours, per user.
public struct IdempotentAnswer: Sendable, Equatable {
  public var user: String
  public var key: String
  /// A hash of the request (method, path, body): the same key with another request is refused.
  public var requestHash: String
  public var status: Int
  public var body: [UInt8]
  /// When it was made, in seconds since 1970 (UTC).
  public var createdAt: Int

  /// How long answers are kept at least.
  public static let retentionSeconds = 24 * 3600

  public init(user: String, key: String, requestHash: String, status: Int, body: [UInt8], createdAt: Int) {
    self.user = user
    self.key = key
    self.requestHash = requestHash
    self.status = status
    self.body = body
    self.createdAt = createdAt
  }

  /// The key answers are found by: the user and the key (keys are per user).
  public var lookupKey: String { Self.lookupKey(user: user, key: key) }

  static func lookupKey(user: String, key: String) -> String { "\(user)\u{0}\(key)" }
}

/// Another request with the same `Idempotency-Key` is running right now (409).
public struct IdempotencyKeyInUse: Error, Sendable {
  public init() {}
}

/// One entry of a custom contact's audit history.
public struct HistoryEntry: Sendable, Equatable {
  /// The server's time, UTC with milliseconds: `2026-12-01T12:00:00.000Z`.
  public var at: String
  /// Who acted (`REMOTE_USER`).
  public var by: String
  /// `create`, `update` or `delete`.
  public var op: String
  /// The contact as the change left it (its JSON); `nil` on a delete.
  public var contact: [UInt8]?
  public var sequence: UInt64

  public init(sequence: UInt64, at: String, by: String, op: String, contact: [UInt8]?) {
    self.sequence = sequence
    self.at = at
    self.by = by
    self.op = op
    self.contact = contact
  }
}

extension DirectoryState {
  /// The kept answer for `key` of `user`, if any.
  public func idempotentAnswer(user: String, key: String) -> IdempotentAnswer? {
    idempotentAnswers[IdempotentAnswer.lookupKey(user: user, key: key)]
  }

  /// Keeps `answer` (a commit that carried one).
  public mutating func remember(_ answer: IdempotentAnswer) {
    idempotentAnswers[answer.lookupKey] = answer
  }

  /// Forgets answers made before `time` (seconds since 1970).
  public mutating func forgetAnswers(before time: Int) {
    idempotentAnswers = idempotentAnswers.filter { $0.value.createdAt >= time }
  }
}
