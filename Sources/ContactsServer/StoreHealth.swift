public import ContactsCore
import ContactsPostgres
import ContactsStore

/// What `contacts-fcgi check` reports of either store: the same lines for a data directory and a
/// database, so that scripts and people read one format.
public struct StoreHealth: Sendable {
  public var title: String
  public var generation: UInt64
  public var counts: [ContactType: Int]
  /// What the store keeps besides the contacts (journal records, change rows).
  public var kept: String
  public var notes: [String]
  /// Violated invariants; empty when the store is healthy.
  public var damage: [String]

  /// Checks the data directory at `directory`, changing nothing.
  public static func check(directory: String) -> StoreHealth {
    let report = StoreCheck.run(directory: directory)
    return StoreHealth(
      title: directory, generation: report.generation, counts: report.counts,
      kept: "\(report.journalRecords) journal records", notes: report.notes, damage: report.damage)
  }

  /// Checks the database at `url`, changing nothing.
  ///
  /// - Throws: when the database cannot be reached or has no schema.
  public static func check(databaseURL url: String) throws -> StoreHealth {
    let report = try PostgresCheck.run(url: url)
    return StoreHealth(
      title: "the database", generation: report.generation, counts: report.counts,
      kept: "\(report.changes) changes kept", notes: report.notes, damage: report.damage)
  }

  /// `TITLE: generation G, n Custom, n Queue, n User, KEPT`, notes, damage, then `ok` or `damaged`.
  public var report: String {
    let countText = ContactType.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
    var lines = ["\(title): generation \(generation), \(countText), \(kept)"]
    lines += notes.map { "note: \($0)" } + damage.map { "DAMAGE: \($0)" }
    lines.append(damage.isEmpty ? "ok" : "damaged")
    return lines.joined(separator: "\n") + "\n"
  }
}
