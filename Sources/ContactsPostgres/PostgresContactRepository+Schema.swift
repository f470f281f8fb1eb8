import ContactsCore

extension PostgresContactRepository {
  // MARK: Schema

  /// The schema version the database has (0 for an empty database).
  static func schemaVersion(_ connection: PostgresConnection) throws -> Int {
    let table = try connection.query("SELECT to_regclass('contacts_meta') IS NOT NULL")
    guard table[0, 0] == "t" else { return 0 }
    let rows = try connection.query("SELECT value FROM contacts_meta WHERE key = 'schema'")
    return rows.count == 1 ? Int(rows[0, 0] ?? "") ?? 0 : 0
  }

  static func checkSchema(_ connection: PostgresConnection) throws {
    let version = try schemaVersion(connection)
    guard version == PostgresSchema.currentVersion else {
      throw PostgresStoreError(
        version == 0
          ? "the database has no contacts schema yet; run 'contacts-fcgi migrate --database-url …' first"
          : "the database's contacts schema is version \(version), this build knows version \(PostgresSchema.currentVersion)"
            + (version < PostgresSchema.currentVersion ? "; run 'contacts-fcgi migrate'" : "; upgrade this build"))
    }
  }

  /// Applies every migration the database lacks, each in one transaction; safe to run again.
  ///
  /// - Returns: the schema versions before and after.
  /// - Throws: `PostgresStoreError` naming the problem.
  public static func migrate(url: String) throws(PostgresStoreError) -> (from: Int, to: Int) {
    do {
      try PostgresConnection.validate(url: url)
      let connection = try PostgresConnection(url: url)
      // One migrator at a time, across hosts.
      try connection.query("SELECT pg_advisory_lock(727273)")
      let from = try schemaVersion(connection)
      guard from <= PostgresSchema.currentVersion else {
        throw PostgresStoreError(
          "the database's schema is version \(from), newer than this build's \(PostgresSchema.currentVersion)")
      }
      for version in (from + 1)..<(PostgresSchema.currentVersion + 1) where version > from {
        try connection.query(
          "BEGIN; \(PostgresSchema.migrations[version - 1]); "
            + "UPDATE contacts_meta SET value = \(version) WHERE key = 'schema'; COMMIT")
      }
      try connection.query("SELECT pg_advisory_unlock(727273)")
      return (from, PostgresSchema.currentVersion)
    } catch let error as PostgresStoreError {
      throw error
    } catch {
      throw PostgresStoreError("\(error)")
    }
  }
}
