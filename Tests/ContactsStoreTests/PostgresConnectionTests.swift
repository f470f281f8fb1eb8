import ContactsCore
import Foundation
import TestSupport
import Testing

@testable import ContactsPostgres

/// The libpq wrapper's prepared statements: prepared once per connection, and given up for
/// unnamed statements when the server session does not keep them (a pooler in transaction mode
/// without prepared-statement tracking hands each transaction another session).
@Suite struct PostgresConnectionTests {
  @Test func aStatementIsPreparedOnceAndRunsWithItsParameters() throws {
    let connection = try PostgresConnection(url: PostgresCluster.shared().createDatabase())
    let twice = PreparedStatement(name: "test_twice", sql: "SELECT $1::int * 2")
    #expect(try connection.query(twice, ["21"])[0, 0] == "42")
    #expect(try connection.query(twice, ["-4"])[0, 0] == "-8")
    #expect(try connection.query("SELECT count(*) FROM pg_prepared_statements")[0, 0] == "1")
    #expect(connection.preparesStatements)
  }

  /// Forgotten by the session (as when another session answers): the statement still runs,
  /// unnamed from then on, and the log says why once.
  @Test func aForgottenStatementRunsUnnamedFromThenOn() throws {
    var logged: [String] = []
    let connection = try PostgresConnection(url: PostgresCluster.shared().createDatabase()) { logged.append($0) }
    let twice = PreparedStatement(name: "test_twice", sql: "SELECT $1::int * 2")
    #expect(try connection.query(twice, ["21"])[0, 0] == "42")
    try connection.query("DEALLOCATE ALL")
    #expect(try connection.query(twice, ["5"])[0, 0] == "10")
    #expect(!connection.preparesStatements)
    #expect(try connection.query(twice, ["6"])[0, 0] == "12")
    #expect(try connection.query("SELECT count(*) FROM pg_prepared_statements")[0, 0] == "0")
    #expect(logged.count == 1)
    #expect(logged.first?.contains("max_prepared_statements") == true)
  }

  /// The name already taken in the session (another client's statement, through a pooler).
  @Test func aNameTakenInTheSessionRunsUnnamed() throws {
    let connection = try PostgresConnection(url: PostgresCluster.shared().createDatabase())
    try connection.query("PREPARE test_twice AS SELECT 'someone else''s'")
    let twice = PreparedStatement(name: "test_twice", sql: "SELECT $1::int * 2")
    #expect(try connection.query(twice, ["21"])[0, 0] == "42")
    #expect(!connection.preparesStatements)
  }

  /// A statement that fails on the server (here: a parameter of the wrong type) reports the
  /// server's error, leaves the connection usable and its statements prepared.
  @Test func aFailingPreparedStatementReportsTheServersErrorAndTheConnectionGoesOn() throws {
    let connection = try PostgresConnection(url: PostgresCluster.shared().createDatabase())
    let twice = PreparedStatement(name: "test_twice", sql: "SELECT $1::int * 2")
    let error = try #require(throws: PostgresError.self) { try connection.query(twice, ["not a number"]) }
    #expect(error.sqlState == "22P02")
    #expect(!error.connectionLost)
    #expect(try connection.query(twice, ["3"])[0, 0] == "6")
    #expect(connection.preparesStatements)
  }

  /// The repository's statements forgotten mid-session: reads go on, and a write whose
  /// transaction failed on its first prepared statement is rolled back and runs again, once,
  /// without a trace of the first attempt.
  @Test func theRepositoryGoesOnAfterItsStatementsAreForgotten() throws {
    let url = try PostgresCluster.shared().createDatabase()
    let repository = try PostgresContactRepository(url: url)
    let first = Contact(id: String(repeating: "b", count: 32), type: .custom, name: "One", phoneNumber: "1")
    #expect(try repository.commit(by: "admin") { _ in .create(first) }.generation == 1)
    _ = try repository.withConnection(writing: false) { try $0.query("DEALLOCATE ALL") }
    #expect(try repository.currentState().generation == 1)

    let other = try PostgresContactRepository(url: url)
    let second = Contact(id: String(repeating: "c", count: 32), type: .custom, name: "Two", phoneNumber: "2")
    #expect(try other.commit(by: "admin") { _ in .create(second) }.generation == 2)
    _ = try other.withConnection(writing: false) { try $0.query("DEALLOCATE ALL") }
    let third = Contact(id: String(repeating: "d", count: 32), type: .custom, name: "Three", phoneNumber: "3")
    let answer = IdempotentAnswer(
      user: "admin", key: "k", requestHash: "h", status: 201, body: [], createdAt: Int(Date().timeIntervalSince1970))
    let committed = try other.commit(by: "admin", idempotencyKey: "k") { _, _ in
      CommitPlan([.create(third)], idempotentAnswer: answer)
    }
    #expect(committed.generation == 3)
    #expect(try other.withConnection(writing: false) { $0.preparesStatements } == false)
    #expect(try other.keptAnswer(user: "admin", key: "k") != nil)
    #expect(try repository.currentState().count == 3)
    #expect(try repository.history(of: third.id)?.count == 1)
  }
}
