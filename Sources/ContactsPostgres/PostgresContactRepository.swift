public import ContactsCore
import Platform

/// Contacts in a PostgreSQL database shared by any number of hosts: the store for deployments of
/// more than one host, behind the same `ContactRepository` as the data directory.
///
/// Each worker keeps the whole directory in memory, as with the data directory, and revalidates
/// it per request with one round trip: it reads the current generation (the last change's
/// sequence number) and, only when that moved, applies the changes since from
/// `contact_changes`. Every write is one transaction that locks the generation row, brings the
/// worker's state up to it, lets the API decide (404, 405, 412, validation) on that fresh state,
/// writes the contact and its change row with the next sequence number and commits
/// (`synchronous_commit` on: acknowledged means committed).
///
/// One connection per worker, made again by itself after the database went away: while it is
/// unreachable every call throws `ContactStoreUnavailable` (503), with a new attempt at most every
/// quarter second, so service resumes within a moment of the database's return. A worker that
/// was idle meanwhile finds its connection closed before using it, and connects again at once.
public final class PostgresContactRepository: ContactRepository {
  let url: String
  let log: (String) -> Void
  private var connection: PostgresConnection?
  private var state: DirectoryState?
  private var nextConnectAttempt: UInt64 = 0
  /// Beyond this many changes behind, a worker reloads everything instead of applying them.
  static let catchUpLimit = 10_000
  static let reconnectIntervalNanoseconds: UInt64 = 250_000_000
  /// Connections made again after one was lost, since this repository was made (for metrics).
  public private(set) var reconnects = 0
  /// How long the last write held the generation row lock, as this worker saw it: from the
  /// lock's result arriving to the `COMMIT`'s (the trips to and from the server roughly
  /// cancel). Every writer on every host waits for it, so its inverse bounds the write rate
  /// (`contacts-bench --postgres-writes`).
  public private(set) var lastWriteLockNanoseconds: UInt64 = 0

  /// Connects and checks the schema.
  ///
  /// - Parameters:
  ///   - url: `postgresql://…`.
  ///   - connectingLater: a server that cannot be reached now (or refuses the connection) is
  ///     not an error: the repository starts without a connection and makes one on a later
  ///     call, answering `ContactStoreUnavailable` until then. For a worker started during an
  ///     outage (a replacement), after `serve` checked the database at start; a malformed URL
  ///     is still an error.
  ///   - log: receives a line when the connection is lost or made again.
  /// - Throws: `PostgresStoreError` naming the problem (malformed URL, refused login, unknown
  ///   database, unreachable server, a schema this build does not know): a process that cannot
  ///   start says why, and never falls back to anything else.
  public init(url: String, connectingLater: Bool = false, log: @escaping (String) -> Void = { _ in })
    throws(PostgresStoreError)
  {
    self.url = url
    self.log = log
    do {
      try PostgresConnection.validate(url: url)
    } catch {
      throw PostgresStoreError("\(error)")
    }
    do {
      let connection = try PostgresConnection(url: url, log: log)
      try Self.checkSchema(connection)
      self.connection = connection
    } catch let error as PostgresError where connectingLater && error.connectionLost {
      log("the database cannot be reached yet (\(error)); answering 503 until it can")
    } catch let error as PostgresStoreError {
      throw error
    } catch {
      throw PostgresStoreError("\(error)")
    }
  }

  // MARK: Reading

  public var cachedGeneration: UInt64 { state?.generation ?? 0 }

  /// Drops the cached state: the next call loads everything (after `loadDump`).
  func forgetState() { state = nil }

  /// How many of the latest changes the change feed serves at least; older cursors expire.
  public var changeHistory = ChangeLog.defaultCapacity

  /// From the worker's own change log when it reaches back far enough (it starts where the
  /// worker loaded), else from `contact_changes`; a cursor more than `changeHistory` changes
  /// old has expired, as with the data directory.
  public func changes(after sequence: UInt64, limit: Int, in state: DirectoryState) throws -> ChangeFeedPage? {
    guard state.generation - min(sequence, state.generation) <= UInt64(changeHistory) else { return nil }
    if let page = state.changeLog.changes(after: sequence, limit: limit) {
      return ChangeFeedPage(entries: Array(page.entries), hasMore: page.hasMore)
    }
    return try withConnection(writing: false) { connection in
      // A database loaded from a dump lacks changes up to its horizon: older cursors expired.
      guard try sequence >= Self.horizon(connection) else { return nil }
      let rows = try connection.query(
        Statements.changes, [String(sequence), String(state.generation), String(limit + 1)])
      var entries: [ChangeEntry] = []
      for row in 0..<min(rows.count, limit) {
        guard let seqText = rows[row, 0], let seq = UInt64(seqText), let op = rows[row, 1], let id = rows[row, 2] else {
          throw PostgresStoreError("a row of contact_changes is malformed")
        }
        var contact: IndexedContact?
        if op != "delete" {
          guard let bytes = rows.bytes(row: row, column: 3), let value = try? JSONParser.parse(bytes),
            var stored = try? Contact(stored: value)
          else { throw PostgresStoreError("change \(seq) holds no readable contact") }
          stored.version = seq
          contact = IndexedContact(stored)
        }
        entries.append(ChangeEntry(sequence: seq, id: id, contact: contact))
      }
      return ChangeFeedPage(entries: entries, hasMore: rows.count > limit)
    }
  }

  public func currentState() throws -> DirectoryState {
    try withConnection(writing: false) { connection in
      let generation = try Self.generation(connection)
      return try refresh(connection, to: generation)
    }
  }

  /// Brings the cached state to `generation`: the changes since, or a full load when there is
  /// no state yet, when it is far behind, or when the database went back in time (a restore).
  ///
  /// - Parameter inTransaction: the caller holds the generation lock in a transaction of its
  ///   own, so a full load reads inside it (no writer can commit meanwhile).
  func refresh(_ connection: PostgresConnection, to generation: UInt64, inTransaction: Bool = false)
    throws -> DirectoryState
  {
    // In place: a copy of the state held while it changes would be copied whole (100,000
    // contacts) on every write.
    if let known = state?.generation, known <= generation {
      if known == generation { return state! }
      let rows = try connection.query(
        Statements.changes, [String(known), String(generation), String(Self.catchUpLimit + 1)])
      // Only when every change since is there (one row per sequence number): a database loaded
      // from a dump meanwhile has gaps up to its horizon, and is loaded whole.
      if rows.count <= Self.catchUpLimit, UInt64(rows.count) == generation - known {
        try Self.apply(rows, to: &state!, generation: generation)
        return state!
      }
    }
    var loaded = try Self.loadAll(connection, inTransaction: inTransaction)
    loaded.changeLog.capacity = changeHistory
    state = loaded
    return loaded
  }

  static func generation(_ connection: PostgresConnection) throws -> UInt64 {
    let rows = try connection.query(Statements.generation)
    guard rows.count == 1, let text = rows[0, 0], let generation = UInt64(text) else {
      throw PostgresStoreError("contacts_meta has no generation row; run 'contacts-fcgi migrate'")
    }
    return generation
  }

  /// Every contact at one generation, read in one repeatable-read transaction (or in the
  /// caller's, which holds the generation lock).
  static func loadAll(_ connection: PostgresConnection, inTransaction: Bool = false) throws -> DirectoryState {
    if !inTransaction { try connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") }
    do {
      let generation = try Self.generation(connection)
      let rows = try connection.query(
        """
        SELECT id, type, name, phone_number, user_name, first_name, last_name, employee_id, version
        FROM contacts ORDER BY id
        """)
      if !inTransaction { try connection.query("COMMIT") }
      var contacts: [Contact] = []
      contacts.reserveCapacity(rows.count)
      for row in 0..<rows.count { contacts.append(try contact(rows, row)) }
      return DirectoryState(contacts: contacts, generation: generation)
    } catch {
      if !inTransaction { _ = try? connection.query("ROLLBACK") }
      throw error
    }
  }

  static func contact(_ rows: PostgresRows, _ row: Int) throws -> Contact {
    guard let id = rows[row, 0], let typeName = rows[row, 1], let type = ContactType(rawValue: typeName),
      let name = rows[row, 2], let versionText = rows[row, 8], let version = UInt64(versionText)
    else { throw PostgresStoreError("a row of contacts is malformed (row \(row))") }
    return Contact(
      id: id, type: type, name: name, phoneNumber: rows[row, 3], userName: rows[row, 4], firstName: rows[row, 5],
      lastName: rows[row, 6], employeeId: rows[row, 7], version: version)
  }

  /// Applies change rows (`seq, op, contact_id, contact`) in order.
  static func apply(_ rows: PostgresRows, to state: inout DirectoryState, generation: UInt64) throws {
    // A few changes one by one (a sorted insertion each); many in one linear merge.
    if rows.count < 64 {
      for row in 0..<rows.count {
        let (seq, change) = try change(rows, row)
        state.apply(change, generation: seq)
      }
      state.advance(to: generation)
      return
    }
    var upserts: [String: Contact] = [:]
    var removals: [String: UInt64] = [:]
    for row in 0..<rows.count {
      guard let seqText = rows[row, 0], let seq = UInt64(seqText), let op = rows[row, 1], let id = rows[row, 2] else {
        throw PostgresStoreError("a row of contact_changes is malformed")
      }
      if op == "delete" {
        upserts[id] = nil
        removals[id] = seq
        continue
      }
      guard let bytes = rows.bytes(row: row, column: 3), let value = try? JSONParser.parse(bytes),
        var contact = try? Contact(stored: value)
      else { throw PostgresStoreError("change \(seq) holds no readable contact") }
      contact.version = seq
      removals[id] = nil
      upserts[id] = contact
    }
    state.apply(upserts: Array(upserts.values), removals: removals, generation: generation)
  }

  // MARK: Writing

  /// Statements a write sends in one pipeline at most: the server's answers to them (a command
  /// tag each) stay far below what the socket buffers while the blocking connection still sends.
  static let pipelineLimit = 64

  /// One transaction in two round trips, with the generation row locked for about one of them
  /// plus the `COMMIT`'s WAL flush:
  ///
  /// 1. `BEGIN`, the generation row's lock and the changes since the worker's generation, in
  ///    one pipeline (with an idempotency key, `BEGIN`, the key's try-lock and its kept answer
  ///    go first, in a round trip of their own, so that a 409 never waits for the lock). The server
  ///    runs them in order, and in READ COMMITTED the catch-up query takes its snapshot when it
  ///    starts, after the lock was granted: it sees every change up to the locked generation,
  ///    including the one committed by the writer it waited for. (One statement that locks in a
  ///    CTE and joins `contact_changes` would not: its snapshot is taken before it waits, so it
  ///    returns the new generation without the change that made it.)
  /// 2. The API decides on that state (404, 405, 412, validation); then the write statements,
  ///    the kept answer and `COMMIT` go in one pipeline (a bulk write in pipelines of
  ///    `pipelineLimit`, the last one ending with `COMMIT`).
  ///
  /// A statement that fails makes the server skip the rest of its pipeline, `COMMIT` included:
  /// the transaction is rolled back whole, and the worker's state holds only committed changes
  /// (the catch-up, never its own write). Only a `COMMIT` whose result came back `COMMIT`
  /// counts as committed: acknowledged means committed.
  public func commit(
    by user: String, idempotencyKey: String?, _ decide: (DirectoryState, IdempotentAnswer?) throws -> CommitPlan
  ) throws -> DirectoryState {
    try withConnection(writing: true) { connection in
      // A worker with nothing loaded (just started, or after `forgetState`) loads before it
      // takes the generation lock, not while every writer waits on it; under the lock it then
      // only catches up.
      if state == nil { _ = try refresh(connection, to: Self.generation(connection)) }
      let known = state!.generation
      do {
        var kept: IdempotentAnswer?
        var opening: [PipelinedStatement] = [.sql("BEGIN", [])]
        if let key = idempotencyKey {
          // Without waiting, and before the generation lock, in a round trip of its own: a retry
          // that arrives while the first request with its key still runs (on any host) is told
          // so (409) at once, rather than queued behind the writers.
          let keyed = try connection.pipeline([
            .sql("BEGIN", []), .prepared(Statements.tryKeyLock, [user + "\u{0}" + key]),
            .prepared(Statements.keptAnswer, [user, key, String(IdempotentAnswer.retentionSeconds)]),
          ])
          guard keyed[1][0, 0] == "t" else { throw IdempotencyKeyInUse() }
          kept = Self.keptAnswer(user: user, key: key, keyed[2])
          opening = []
        }
        let results = try connection.pipeline(
          opening + [
            .prepared(Statements.lockGeneration, []),
            .prepared(Statements.changesSince, [String(known), String(Self.catchUpLimit + 1)]),
          ])
        let lockedAt = Clock.monotonicNanoseconds()
        let locked = results[results.count - 2]
        guard locked.count == 1, let text = locked[0, 0], let generation = UInt64(text) else {
          throw PostgresStoreError("contacts_meta has no generation row; run 'contacts-fcgi migrate'")
        }
        try catchUp(connection, from: known, to: generation, results[results.count - 1])
        let plan = try decide(state!, kept)
        var writes = plan.changes.enumerated().map { index, change in
          Self.write(change, sequence: generation + 1 + UInt64(index), by: user)
        }
        if let answer = plan.idempotentAnswer, !plan.changes.isEmpty {
          writes.append(
            .prepared(
              Statements.rememberAnswer,
              [
                answer.user, answer.key, answer.requestHash, String(answer.status),
                String(decoding: answer.body, as: UTF8.self), String(answer.createdAt),
              ]))
        }
        if plan.idempotentAnswer != nil, UInt64.random(in: 0..<100) == 0 {
          // Now and then, answers past twice their retention go (an index finds them).
          writes.append(
            .sql(
              "DELETE FROM idempotency_keys WHERE created_at < clock_timestamp() - make_interval(secs => $1)",
              [String(2 * IdempotentAnswer.retentionSeconds)]))
        }
        writes.append(.sql("COMMIT", []))
        var ended: PostgresRows?
        for start in stride(from: 0, to: writes.count, by: Self.pipelineLimit) {
          ended = try connection.pipeline(Array(writes[start..<min(writes.count, start + Self.pipelineLimit)])).last
        }
        // A transaction that failed earlier answers COMMIT with ROLLBACK; a pipeline skips the
        // COMMIT after a failure instead, but nothing less than COMMIT is taken as committed.
        guard ended?.command == "COMMIT" else { throw PostgresStoreError("the write was not committed") }
        lastWriteLockNanoseconds = Clock.monotonicNanoseconds() - lockedAt
        for (index, change) in plan.changes.enumerated() {
          state!.apply(change, generation: generation + 1 + UInt64(index))
        }
        if let answer = plan.idempotentAnswer, !plan.changes.isEmpty { state!.remember(answer) }
        return state!
      } catch {
        _ = try? connection.query("ROLLBACK")
        throw error
      }
    }
  }

  /// Brings the state from `known` to the locked `generation` with `rows`, the changes after
  /// `known` read under the lock; when they are not exactly every change up to `generation`
  /// (more than `catchUpLimit`, a database restored or loaded from a dump meanwhile),
  /// `refresh` decides, inside the transaction.
  func catchUp(_ connection: PostgresConnection, from known: UInt64, to generation: UInt64, _ rows: PostgresRows)
    throws
  {
    guard known != generation else { return }
    // The rows are ordered and unique, after `known`, and nothing after `generation` can be
    // committed while the lock is held: as many as the generations between, ending at
    // `generation`, is every one of them.
    if known < generation, rows.count <= Self.catchUpLimit, UInt64(rows.count) == generation - known,
      rows[rows.count - 1, 0] == String(generation)
    {
      try Self.apply(rows, to: &state!, generation: generation)
      return
    }
    _ = try refresh(connection, to: generation, inTransaction: true)
  }

  /// The contact row, its change row and the new generation, in one statement.
  static func write(_ change: ContactChange, sequence: UInt64, by user: String) -> PipelinedStatement {
    let seq = String(sequence)
    switch change {
    case .create(let contact), .update(let contact):
      var stored = contact
      stored.version = sequence
      let isCreate = if case .create = change { true } else { false }
      return .prepared(
        isCreate ? Statements.create : Statements.update,
        [
          stored.id, stored.type.rawValue, stored.name, stored.phoneNumber, stored.userName, stored.firstName,
          stored.lastName, stored.employeeId, seq, user, isCreate ? "create" : "update",
          String(decoding: stored.json, as: UTF8.self),
        ])
    case .delete(let id):
      return .prepared(Statements.delete, [id, seq, user])
    }
  }

  // MARK: Connection

  /// Runs `body` on a healthy connection, making one if needed; a lost connection becomes
  /// `ContactStoreUnavailable` (503) and is made again on a later call.
  ///
  /// A transaction that failed because the server session did not hold the connection's
  /// prepared statements (see `PostgresConnection.query(_:_:)`) was rolled back; it runs once
  /// more, with unnamed statements.
  func withConnection<Result>(writing: Bool, _ body: (PostgresConnection) throws -> Result) throws -> Result {
    let connection = try connected(writing: writing)
    do {
      do {
        return try body(connection)
      } catch let error as PostgresError where error.preparedStatementLost {
        return try body(connection)
      }
    } catch let error as PostgresError {
      if error.connectionLost || !connection.isHealthy {
        self.connection = nil
        log("lost the database connection: \(error)")
        nextConnectAttempt = 0
      }
      if error.connectionLost || !connection.isHealthy {
        throw ContactStoreUnavailable(reason: "database: \(error)", duringWrite: writing)
      }
      throw PostgresStoreError(error.description)
    }
  }

  private func connected(writing: Bool) throws -> PostgresConnection {
    if let connection, connection.isHealthy {
      guard connection.closedWhileIdle else { return connection }
      // The database restarted (or ended this session) while this worker was idle: connect
      // again now rather than fail this request on the dead connection.
      log("the database closed the connection while it was idle; connecting again")
      nextConnectAttempt = 0
    }
    connection = nil
    let now = Clock.monotonicNanoseconds()
    guard now >= nextConnectAttempt else {
      throw ContactStoreUnavailable(reason: "database unreachable (retrying shortly)", duringWrite: writing)
    }
    do {
      let made = try PostgresConnection(url: url, log: log)
      try Self.checkSchema(made)
      connection = made
      reconnects += 1
      log("connected to the database again")
      return made
    } catch {
      nextConnectAttempt = now + Self.reconnectIntervalNanoseconds
      throw ContactStoreUnavailable(reason: "database unreachable: \(error)", duringWrite: writing)
    }
  }
}

/// Why the PostgreSQL store cannot start or go on: a sentence naming the problem.
public struct PostgresStoreError: Error, CustomStringConvertible, Sendable {
  public var description: String
  public init(_ description: String) { self.description = description }
}

extension PostgresContactRepository: DirectoryImporting {}

extension PostgresContactRepository: GenerationWatching {
  /// One round trip: the generation row, without touching the contacts. Every host's publisher
  /// polls the shared database, so every host's nginx hears every host's writes.
  public func currentGeneration() throws -> UInt64 {
    try withConnection(writing: false) { connection in try Self.generation(connection) }
  }
}
