public import ContactsCore

/// What `contacts-fcgi check --database-url` found: the database's invariants, each a query.
public struct PostgresCheck: Sendable {
  /// Violated invariants; empty when the database is healthy.
  public var damage: [String] = []
  public var notes: [String] = []
  public var generation: UInt64 = 0
  public var counts: [ContactType: Int] = [:]
  /// Rows of the change history.
  public var changes = 0

  public var isHealthy: Bool { damage.isEmpty }

  /// Checks the database at `url`, changing nothing.
  ///
  /// - Throws: `PostgresStoreError` when the database cannot be reached or has no schema.
  public static func run(url: String) throws(PostgresStoreError) -> PostgresCheck {
    var report = PostgresCheck()
    do {
      try PostgresConnection.validate(url: url)
      let connection = try PostgresConnection(url: url)
      try PostgresContactRepository.checkSchema(connection)
      // One snapshot of the data for every query.
      try connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
      report.generation = try PostgresContactRepository.generation(connection)
      let counts = try connection.query("SELECT type, count(*) FROM contacts GROUP BY type")
      for row in 0..<counts.count {
        if let name = counts[row, 0], let type = ContactType(rawValue: name) {
          report.counts[type] = Int(counts[row, 1] ?? "") ?? 0
        }
      }
      let history = try connection.query("SELECT count(*), coalesce(max(seq), 0) FROM contact_changes")
      report.changes = Int(history[0, 0] ?? "") ?? 0
      let lastSequence = UInt64(history[0, 1] ?? "") ?? 0
      // Loaded from a dump at `horizon`: changes up to it are not all kept (the imported users
      // and queues have none), so the last change may be older than a generation still at it.
      let horizon = try PostgresContactRepository.horizon(connection)
      if horizon > 0 {
        report.notes.append("loaded from a dump at generation \(horizon); older changes are partly kept")
      }
      if horizon > report.generation {
        report.damage.append("the horizon \(horizon) is after the generation \(report.generation)")
      }
      if max(lastSequence, horizon) != report.generation {
        report.damage.append(
          "the generation is \(report.generation) but the last change is number \(lastSequence)")
      }
      let invariants: [(String, String)] = [
        (
          "SELECT count(*) FROM contacts WHERE version > \(report.generation) OR version < 1",
          "contacts have a version outside 1…generation"
        ),
        (
          """
          SELECT count(*) FROM contacts c, LATERAL
            (SELECT max(seq) AS last FROM contact_changes h WHERE h.contact_id = c.id) h
          WHERE c.version IS DISTINCT FROM h.last AND NOT (c.version <= \(horizon) AND coalesce(h.last, 0) <= \(horizon))
          """,
          "contacts whose version is not the number of their last change"
        ),
        (
          """
          SELECT count(*) FROM (SELECT DISTINCT ON (contact_id) contact_id, op FROM contact_changes
            ORDER BY contact_id, seq DESC) last
          WHERE (last.op = 'delete') = EXISTS (SELECT 1 FROM contacts c WHERE c.id = last.contact_id)
          """,
          "contacts present although their last change deleted them, or missing although it did not"
        ),
        (
          "SELECT count(*) FROM contacts WHERE type = 'Custom' AND id !~ '^[0-9a-f]{32}$'",
          "custom contacts whose id is not 32 lowercase hex digits"
        ),
        ("SELECT count(*) FROM contacts WHERE id LIKE '\\_%'", "contacts with a reserved id (starting with _)"),
      ]
      for (query, meaning) in invariants {
        let rows = try connection.query(query)
        if let count = Int(rows[0, 0] ?? ""), count > 0 { report.damage.append("\(count) \(meaning)") }
      }
      try connection.query("COMMIT")
    } catch let error as PostgresStoreError {
      throw error
    } catch {
      throw PostgresStoreError("\(error)")
    }
    return report
  }
}
