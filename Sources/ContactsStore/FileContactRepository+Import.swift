public import ContactsCore
import Platform

extension FileContactRepository {
  /// What an import did, or would do with `dryRun`.
  public typealias ImportSummary = DirectoryImportSummary

  /// Replaces every contact of `type` (Queue or User) with `contacts`, atomically.
  ///
  /// The contacts go to a new directory file (`users-<g>.json`), written and synced first; the
  /// journal record naming it is what makes the import current, for every worker at once.
  ///
  /// - Parameter allowEmpty: whether an import may remove every existing contact of `type`
  ///   (an empty file). Without it that is refused: a header-only CSV export or an empty array
  ///   is far more often a broken export than an intent to delete the whole directory.
  /// - Throws: `StoreError.invalidImport` when an id is repeated or already belongs to a
  ///   contact of another type, `StoreError.importRemovesAll` for an empty import that
  ///   `allowEmpty` does not allow (also on a dry run); nothing is changed then. (Declared
  ///   untyped: Swift 6.3 crashes compiling a `catch StoreError.case(let …)` against typed throws.)
  public func importDirectory(
    _ type: ContactType, contacts: [Contact], by user: String, dryRun: Bool = false, allowEmpty: Bool = false
  ) throws -> ImportSummary {
    precondition(type != .custom, "custom contacts are not imported")
    return try writing { () throws(StoreError) -> ImportSummary in
      var summary = try Self.summary(of: type, contacts, against: state, allowEmpty: allowEmpty)
      // One change (and sequence number) per contact added, changed or removed: the change feed
      // shows an import contact by contact. An import that changes nothing writes nothing.
      let changes = UInt64(summary.changedIDs.count)
      let first = state.generation + 1
      let sequence = state.generation + changes
      summary.generation = sequence
      if dryRun || changes == 0 { return summary }

      let file = StoreLayout.directoryFileName(type, generation: sequence)
      let path = layout.path(file)
      try StoreError.wrapping { () throws(SystemError) in
        try FileSystem.replaceAtomically(path, with: DirectoryFile.encode(contacts, type: type))
      }
      try append(
        JournalRecord(
          sequence: sequence, firstSequence: first, timestamp: Clock.timestamp(), user: user,
          operation: .directoryImport(type: type, file: file, count: contacts.count)),
        importing: contacts)
      return summary
    }
  }

  /// What importing `contacts` as all of `type` would change in `state`, checked by the rule
  /// every store shares (`DirectoryState.importSummary`).
  private static func summary(
    of type: ContactType, _ contacts: [Contact], against state: DirectoryState, allowEmpty: Bool
  ) throws(StoreError) -> ImportSummary {
    do throws(DirectoryImportError) {
      return try state.importSummary(type, contacts, allowEmpty: allowEmpty)
    } catch {
      switch error {
      case .invalid(let reason): throw .invalidImport(reason)
      case .removesAll(let type, let existing): throw .importRemovesAll(type: type, existing: existing)
      case .idTaken(let id, let type): throw .importIDTaken(id: id, type: type)
      }
    }
  }
}
