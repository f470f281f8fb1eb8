internal import CPostgreSQL
internal import Glibc

/// A failed PostgreSQL call: libpq's message, the SQLSTATE when the server sent one, and whether
/// the connection itself is gone (so the caller drops it and reconnects).
public struct PostgresError: Error, CustomStringConvertible, Sendable {
  public var message: String
  /// The five-character SQLSTATE (`23505` unique violation, `40001` serialization failure, …).
  public var sqlState: String?
  /// The connection is unusable: the server went away, or it could not be made at all.
  public var connectionLost: Bool

  public init(message: String, sqlState: String? = nil, connectionLost: Bool = false) {
    self.message = message
    self.sqlState = sqlState
    self.connectionLost = connectionLost
  }

  /// The server session does not hold this connection's prepared statements: it does not
  /// know one (SQLSTATE 26000), or already holds one of that name from elsewhere (42P05).
  public var preparedStatementLost: Bool { sqlState == "26000" || sqlState == "42P05" }

  public var description: String {
    let trimmed = message.hasSuffix("\n") ? String(message.dropLast()) : message
    return sqlState.map { "\(trimmed) (SQLSTATE \($0))" } ?? trimmed
  }
}

/// The rows of one result, as text (libpq's text format), read through the result libpq keeps
/// until this value is released: no copy of the whole result.
public final class PostgresRows {
  private let result: OpaquePointer
  /// Rows in the result.
  public let count: Int
  /// Rows a command changed (`INSERT`, `UPDATE`, `DELETE`), 0 for others.
  public let affected: Int
  /// The command tag's verb: `COMMIT`, `ROLLBACK`, `INSERT`, `SELECT`, …
  public let command: String

  fileprivate init(_ result: OpaquePointer) {
    self.result = result
    count = Int(PQntuples(result))
    affected = Int(String(cString: PQcmdTuples(result))) ?? 0
    command = String(String(cString: PQcmdStatus(result)).prefix { $0 != " " })
  }

  deinit { PQclear(result) }

  /// The value at `row`, `column` (0-based); `nil` for SQL `NULL`.
  public subscript(row: Int, column: Int) -> String? {
    guard PQgetisnull(result, Int32(row), Int32(column)) == 0 else { return nil }
    return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
  }

  /// The value at `row`, `column` as raw UTF-8 bytes (a JSON document, say); `nil` for `NULL`.
  public func bytes(row: Int, column: Int) -> [UInt8]? {
    guard PQgetisnull(result, Int32(row), Int32(column)) == 0,
      let value = PQgetvalue(result, Int32(row), Int32(column))
    else { return nil }
    let length = Int(PQgetlength(result, Int32(row), Int32(column)))
    return value.withMemoryRebound(to: UInt8.self, capacity: length) {
      Array(UnsafeBufferPointer(start: $0, count: length))
    }
  }
}

/// A statement the server parses and plans once per connection: its SQL, under a name of its
/// own (unique among the statements a connection runs).
public struct PreparedStatement: Sendable {
  public let name: String
  public let sql: String

  public init(name: String, sql: String) {
    self.name = name
    self.sql = sql
  }
}

/// One statement of a pipeline (`PostgresConnection.pipeline(_:)`).
public enum PipelinedStatement {
  /// SQL sent as an unnamed statement (`BEGIN`, `COMMIT`, a rare statement), with `$1`… as text.
  case sql(String, [String?])
  /// A statement prepared once per connection, as with `query(_:_:)`.
  case prepared(PreparedStatement, [String?])
}

/// One connection to PostgreSQL through libpq: the only code that calls `PQ*`.
///
/// Synchronous, like the workers that use it: one connection per worker process, one statement
/// (or one pipeline of them) at a time. Not `Sendable`.
public final class PostgresConnection {
  private let connection: OpaquePointer
  /// The names of the statements prepared on this connection.
  private var prepared: Set<String> = []
  /// Whether `query(_:_:)` with a `PreparedStatement` prepares it; off after the server lost one.
  public private(set) var preparesStatements = true
  private let log: (String) -> Void

  /// Connects to `url` (`postgresql://user:pass@host:port/db` or `postgresql:///db?host=/run/postgresql`).
  ///
  /// - Parameters:
  ///   - url: the database URL.
  ///   - connectTimeoutSeconds: how long to try before giving up on an unreachable server.
  ///   - log: receives a line for what an operator should know (prepared statements given up).
  /// - Throws: `PostgresError` with libpq's reason (refused login, unknown database, no server).
  public init(url: String, connectTimeoutSeconds: Int = 2, log: @escaping (String) -> Void = { _ in })
    throws(PostgresError)
  {
    try Self.loadLibrary()
    let keywords = ["dbname", "connect_timeout", "application_name", "client_encoding"]
    let values = [url, String(connectTimeoutSeconds), "contacts-fcgi", "UTF8"]
    let handle = Self.withCStrings(keywords) { keywordPointers in
      Self.withCStrings(values) { valuePointers in
        PQconnectdbParams(keywordPointers, valuePointers, 1)
      }
    }
    guard let handle else { throw PostgresError(message: "out of memory", connectionLost: true) }
    guard PQstatus(handle) == CONNECTION_OK else {
      let message = String(cString: PQerrorMessage(handle))
      PQfinish(handle)
      throw PostgresError(message: message, connectionLost: true)
    }
    // Notices (a WARNING from the server) would go to standard error as bare text; the errors
    // that matter come back from each call.
    PQsetNoticeProcessor(handle, { _, _ in }, nil)
    connection = handle
    self.log = log
  }

  deinit { PQfinish(connection) }

  /// Opens libpq (once per process; `CPostgreSQL` forwards every call to it). Before the first
  /// call of any other function of libpq.
  ///
  /// - Throws: `PostgresError` naming what is missing: the library (libpq5 not installed), or
  ///   a function of libpq 14 an older library lacks.
  static func loadLibrary() throws(PostgresError) {
    if let problem = contacts_libpq_load() { throw PostgresError(message: String(cString: problem)) }
  }

  /// Checks that `url` is a connection string libpq can parse, without connecting.
  ///
  /// - Throws: `PostgresError` with libpq's reason.
  public static func validate(url: String) throws(PostgresError) {
    guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") else {
      throw PostgresError(message: "a database URL starts with postgresql:// (got '\(url.prefix(40))')")
    }
    try loadLibrary()
    var error: UnsafeMutablePointer<CChar>?
    guard let options = PQconninfoParse(url, &error) else {
      let message = error.map { String(cString: $0) } ?? "not a valid connection URL"
      if let error { PQfreemem(error) }
      throw PostgresError(message: message)
    }
    PQconninfoFree(options)
  }

  /// Whether the connection is still usable.
  public var isHealthy: Bool { PQstatus(connection) == CONNECTION_OK }

  /// Whether the server has sent something on this idle connection: between calls nothing is
  /// expected (no LISTEN, notices come with their results), so it is the server's goodbye
  /// (a restart, a terminated backend) and the end of the stream. One `poll` that never
  /// blocks; libpq itself would only notice on the next query, and fail it.
  public var closedWhileIdle: Bool {
    let socket = PQsocket(connection)
    guard socket >= 0 else { return true }
    var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
    return poll(&descriptor, 1, 0) != 0
  }

  /// Runs `sql` with `parameters` (`$1`, `$2`, … as text; `nil` is `NULL`).
  ///
  /// - Returns: the result's rows (empty for commands).
  /// - Throws: `PostgresError`; `connectionLost` when the server is gone.
  @discardableResult
  public func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresRows {
    let result: OpaquePointer?
    if parameters.isEmpty {
      // The simple protocol: several statements in one round trip ("BEGIN; SELECT …").
      result = try execute { PQsendQuery(connection, sql) }
    } else {
      result = try execute { Self.sendUnnamed(connection, sql, parameters) }
    }
    return try check(result)
  }

  /// Runs the prepared statement `statement` with `parameters`: the server parses and plans it
  /// once per connection, not per call, which halves the cost of the per-request revalidation
  /// (22–30 µs against 40–75 µs for the same `SELECT` sent as text, on a loopback socket).
  ///
  /// The statement is prepared on first use on this connection (a new connection prepares
  /// again).
  ///
  /// Through a pooler in transaction mode that does not track prepared statements (PgBouncer
  /// before 1.21, or without `max_prepared_statements`), a statement prepared on one server
  /// session is executed on another, which does not know it (SQLSTATE 26000) or knows the name
  /// from another client (42P05). On the first such error this connection goes on with unnamed
  /// statements, as if never prepared, and says so once in the log; outside a transaction the
  /// statement runs again at once, inside one (which the error has aborted) the caller runs its
  /// transaction again (`PostgresError.preparedStatementLost`).
  ///
  /// - Returns: the result's rows (empty for commands).
  /// - Throws: `PostgresError`; `connectionLost` when the server is gone.
  @discardableResult
  public func query(_ statement: PreparedStatement, _ parameters: [String?] = []) throws(PostgresError)
    -> PostgresRows
  {
    guard preparesStatements else { return try unnamed(statement.sql, parameters) }
    do {
      return try executePrepared(statement, parameters)
    } catch  where error.preparedStatementLost {
      givingUpPreparing(error)
      guard PQtransactionStatus(connection) == PQTRANS_IDLE else { throw error }
      return try unnamed(statement.sql, parameters)
    }
  }

  /// Sends `statements` in one pipeline (libpq's pipeline mode) ended by one `Sync`, then reads
  /// every result: one round trip for all of them, where `query` costs one each. The server runs
  /// them in order, each as if sent alone (in READ COMMITTED, each with a snapshot taken when it
  /// starts, so a statement after one that waited for a lock sees what the lock's holder
  /// committed).
  ///
  /// The first statement that fails makes the server skip the rest up to the `Sync`; inside a
  /// transaction that aborts it, and the caller rolls it back (its `COMMIT`, if in the
  /// pipeline, was skipped). The connection leaves pipeline mode before this returns or throws,
  /// so `query` works again at once. Prepared statements not yet prepared on this connection are
  /// prepared in the same round trip; a session that does not keep them (SQLSTATE 26000, 42P05:
  /// see `query(_:_:)` with a `PreparedStatement`) turns preparing off and throws
  /// `preparedStatementLost`, for the caller to run its transaction again.
  ///
  /// The server's answers to a pipeline are small (a row or two, or a command tag, each), so a
  /// pipeline of a few dozen statements cannot fill the socket's buffers while this blocking
  /// connection is still sending: callers keep pipelines that short.
  ///
  /// - Returns: one result per statement, in order.
  /// - Throws: the first failed statement's error; `connectionLost` when the server is gone.
  public func pipeline(_ statements: [PipelinedStatement]) throws(PostgresError) -> [PostgresRows] {
    guard PQenterPipelineMode(connection) == 1 else { throw lastError() }
    // What the server answers, in order: a preparation (the statement's name) or a statement.
    var expected: [String?] = []
    var preparing: Set<String> = []
    var failure: PostgresError?
    for statement in statements {
      var sent: Int32
      switch statement {
      case .prepared(let statement, let parameters) where preparesStatements:
        if !prepared.contains(statement.name), !preparing.contains(statement.name) {
          guard PQsendPrepare(connection, statement.name, statement.sql, Int32(parameters.count), nil) == 1 else {
            sent = 0
            break
          }
          expected.append(statement.name)
          preparing.insert(statement.name)
        }
        sent = Self.withOptionalCStrings(parameters) { pointers in
          PQsendQueryPrepared(connection, statement.name, Int32(parameters.count), pointers, nil, nil, 0)
        }
      case .prepared(let statement, let parameters):
        sent = Self.sendUnnamed(connection, statement.sql, parameters)
      case .sql(let sql, let parameters):
        sent = Self.sendUnnamed(connection, sql, parameters)
      }
      guard sent == 1 else {
        failure = lastError()
        break
      }
      expected.append(nil)
    }
    var results: [PostgresRows] = []
    if PQpipelineSync(connection) != 1 {
      failure = failure ?? lastError()
    } else {
      // One result per thing sent (then a NULL that ends it), then the Sync's.
      for name in expected {
        do { try awaitResult() } catch {
          failure = failure ?? error
          break
        }
        guard isHealthy, let result = PQgetResult(connection) else {
          failure = failure ?? lastError()
          break
        }
        let status = PQresultStatus(result)
        if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK {
          if let name {
            prepared.insert(name)
            PQclear(result)
          } else {
            results.append(PostgresRows(result))
          }
        } else if status == PGRES_PIPELINE_ABORTED {
          PQclear(result)  // skipped after an earlier failure, which `failure` holds
        } else {
          failure = failure ?? error(of: result)
        }
        while isHealthy {
          do { try awaitResult() } catch {
            failure = failure ?? error
            break
          }
          guard let rest = PQgetResult(connection) else { break }
          PQclear(rest)
        }
        if failure?.connectionLost == true { break }
      }
      if failure?.connectionLost != true, isHealthy, (try? awaitResult()) != nil, let sync = PQgetResult(connection) {
        if PQresultStatus(sync) != PGRES_PIPELINE_SYNC {
          failure = failure ?? PostgresError(message: "the pipeline ended without its Sync", connectionLost: true)
        }
        PQclear(sync)
      }
    }
    if PQexitPipelineMode(connection) != 1 {
      // Results left unread: the connection cannot be trusted to be in step any more.
      failure = failure ?? PostgresError(message: lastErrorMessage(), connectionLost: true)
    }
    if let failure {
      if failure.preparedStatementLost, preparesStatements { givingUpPreparing(failure) }
      throw failure
    }
    return results
  }

  /// From now on, statements are sent unnamed on this connection; the log says why, once.
  private func givingUpPreparing(_ error: PostgresError) {
    preparesStatements = false
    log(
      "the database session does not keep this connection's prepared statements (\(error)); "
        + "going on without them (a pooler in transaction mode needs max_prepared_statements)")
  }

  private static func sendUnnamed(_ connection: OpaquePointer, _ sql: String, _ parameters: [String?]) -> Int32 {
    withOptionalCStrings(parameters) { pointers in
      PQsendQueryParams(connection, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
    }
  }

  private func executePrepared(_ statement: PreparedStatement, _ parameters: [String?]) throws(PostgresError)
    -> PostgresRows
  {
    if !prepared.contains(statement.name) {
      _ = try check(
        execute { PQsendPrepare(connection, statement.name, statement.sql, Int32(parameters.count), nil) })
      prepared.insert(statement.name)
    }
    let result = try execute {
      Self.withOptionalCStrings(parameters) { pointers in
        PQsendQueryPrepared(connection, statement.name, Int32(parameters.count), pointers, nil, nil, 0)
      }
    }
    return try check(result)
  }

  /// `sql` as an unnamed statement (parsed and planned for this call only).
  private func unnamed(_ sql: String, _ parameters: [String?]) throws(PostgresError) -> PostgresRows {
    try check(execute { Self.sendUnnamed(connection, sql, parameters) })
  }

  /// How long a wait for the server may go without a byte from it before the connection is
  /// given up: a server that froze (a stopped process, a hung machine, a network that drops
  /// packets without a reset) never answers, and on loopback or a quiet path neither TCP
  /// keepalives nor `tcp_user_timeout` notice it. Far longer than any wait of a healthy server
  /// here (a lock behind another host's import streams nothing, a load streams rows), and far
  /// shorter than the pool's request timeout (30 s), which would kill the worker: the request
  /// answers 503 instead, and the next one connects again (`connect_timeout` bounds that).
  public static let silenceLimitMilliseconds: Int32 = 10_000

  /// Waits until libpq can hand out the next result without blocking (`PQisBusy`), reading what
  /// the server sends; gives up when it sends nothing for `silenceLimitMilliseconds`.
  ///
  /// - Throws: `PostgresError` with `connectionLost` (the caller drops the connection).
  private func awaitResult() throws(PostgresError) {
    let socket = PQsocket(connection)
    while PQisBusy(connection) == 1 {
      var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
      let ready = poll(&descriptor, 1, Self.silenceLimitMilliseconds)
      if ready < 0 && errno == EINTR { continue }
      guard ready > 0 else {
        throw PostgresError(
          message: "the database sent nothing for \(Self.silenceLimitMilliseconds / 1000) s; giving the connection up",
          connectionLost: true)
      }
      guard PQconsumeInput(connection) == 1 else { throw lastError() }
    }
  }

  /// What `PQexec` does, with every wait bounded (`awaitResult`): sends with `send`, then reads
  /// the results to the end and returns the first that failed, else the last (a `COPY` start at
  /// once, as the copy goes on from there).
  private func execute(_ send: () -> Int32) throws(PostgresError) -> OpaquePointer? {
    guard send() == 1 else { throw lastError() }
    var kept: OpaquePointer?
    while true {
      do { try awaitResult() } catch {
        if let kept { PQclear(kept) }
        throw error
      }
      guard let result = PQgetResult(connection) else { break }
      let status = PQresultStatus(result)
      if status == PGRES_COPY_IN || status == PGRES_COPY_OUT {
        if let kept { PQclear(kept) }
        return result
      }
      if let current = kept {
        let failed = PQresultStatus(current) != PGRES_COMMAND_OK && PQresultStatus(current) != PGRES_TUPLES_OK
        if failed {
          PQclear(result)
          continue
        }
        PQclear(current)
      }
      kept = result
    }
    return kept
  }

  /// `COPY … FROM STDIN` with `data` in COPY's text format (tab-separated, `\N` for `NULL`).
  ///
  /// - Throws: `PostgresError` from the server (a row it rejected) or the connection.
  public func copy(_ sql: String, data: [UInt8]) throws(PostgresError) {
    let started = try execute { PQsendQuery(connection, sql) }
    guard let started, PQresultStatus(started) == PGRES_COPY_IN else {
      _ = try check(started)
      throw PostgresError(message: "the server did not start COPY for: \(sql)")
    }
    PQclear(started)
    var offset = 0
    while offset < data.count {
      let chunk = min(1 << 20, data.count - offset)
      let sent = data.withUnsafeBufferPointer { buffer in
        buffer.baseAddress!.advanced(by: offset).withMemoryRebound(to: CChar.self, capacity: chunk) {
          PQputCopyData(connection, $0, Int32(chunk))
        }
      }
      guard sent == 1 else { throw lastError() }
      offset += chunk
    }
    guard PQputCopyEnd(connection, nil) == 1 else { throw lastError() }
    var failure: PostgresError?
    while true {
      try awaitResult()
      guard let result = PQgetResult(connection) else { break }
      if failure == nil { do { _ = try check(result) } catch { failure = error } } else { PQclear(result) }
    }
    if let failure { throw failure }
  }

  /// The rows of a successful result; the error of a failed one (the result is freed).
  private func check(_ result: OpaquePointer?) throws(PostgresError) -> PostgresRows {
    guard let result else { throw lastError() }
    let status = PQresultStatus(result)
    if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK { return PostgresRows(result) }
    throw error(of: result)
  }

  /// The error a failed result reports (the result is freed).
  private func error(of result: OpaquePointer) -> PostgresError {
    let message = String(cString: PQresultErrorMessage(result))
    let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
    PQclear(result)
    // Every error the server sends has a SQLSTATE; one without is libpq's own, about the
    // connection (the server closed it, a write failed). Class 08 is "connection exception";
    // 57P0x is an administrator or crash shutdown.
    let lost = state == nil || !isHealthy || state?.hasPrefix("08") == true || state?.hasPrefix("57P0") == true
    return PostgresError(message: message.isEmpty ? lastErrorMessage() : message, sqlState: state, connectionLost: lost)
  }

  private func lastErrorMessage() -> String { String(cString: PQerrorMessage(connection)) }

  private func lastError() -> PostgresError {
    PostgresError(message: lastErrorMessage(), connectionLost: !isHealthy)
  }

  private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStrings(strings, body)
  }

  private static func withOptionalCStrings<R>(
    _ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R
  ) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } } + [nil]
    defer { for copy in copies { free(copy) } }
    return copies.map { UnsafePointer($0) }.withUnsafeBufferPointer { body($0.baseAddress!) }
  }
}
