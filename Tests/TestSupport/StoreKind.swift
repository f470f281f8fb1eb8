public import Testing

/// Which store a stack serves from: the same API contract holds for both.
public enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
  case dataDirectory, postgres

  public var testDescription: String { rawValue }

  /// What `LocalStack(database:)` takes for this store: `nil` for a data directory of the
  /// stack's own, a fresh migrated database on the shared test cluster for PostgreSQL.
  public func newDatabase() throws -> String? {
    switch self {
    case .dataDirectory: nil
    case .postgres: try PostgresCluster.shared().createDatabase()
    }
  }
}
