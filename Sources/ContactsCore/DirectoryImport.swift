/// What an import of users or queues changes, decided the same way by every store.
public struct DirectoryImportSummary: Equatable, Sendable {
  public var added: [String] = []
  public var changed: [String] = []
  public var removed: [String] = []
  public var unchanged = 0
  /// The generation after the import.
  public var generation: UInt64 = 0

  public init() {}

  /// What `contacts-fcgi import` prints: the counts, and with `dryRun` each id that would change.
  public func report(count: Int, kind: String, file: String, dryRun: Bool) -> String {
    var text =
      dryRun
      ? "dry run: would import \(count) \(kind) from \(file)\n"
      : "imported \(count) \(kind) from \(file) (generation \(generation))\n"
    text += "  added \(added.count), changed \(changed.count), removed \(removed.count), unchanged \(unchanged)\n"
    if dryRun {
      text += added.map { "  + \($0)\n" }.joined() + changed.map { "  ~ \($0)\n" }.joined()
      text += removed.map { "  - \($0)\n" }.joined()
    }
    return text
  }

  /// The contacts that change, in the order every store numbers them: by id.
  public var changedIDs: [String] { (added + changed + removed).sorted() }
}

/// Why an import is refused; nothing is changed then.
public enum DirectoryImportError: Error, Equatable, Sendable, CustomStringConvertible {
  /// An id is repeated.
  case invalid(String)
  /// `id` already belongs to a contact of another `type` (ids are unique across types).
  case idTaken(id: String, type: ContactType)
  /// The import holds no contacts and would remove all `existing` ones of `type`.
  case removesAll(type: ContactType, existing: Int)

  public var description: String {
    switch self {
    case .invalid(let reason): reason
    case .idTaken(let id, let type): "id '\(id)' already belongs to a \(type.rawValue) contact; ids must be unique"
    case .removesAll(let type, let existing):
      "the file holds no \(type.rawValue) contacts: importing it would remove all \(existing) existing ones"
    }
  }
}

extension DirectoryState {
  /// What importing `contacts` as the whole set of `type` would change here.
  ///
  /// - Parameter allowEmpty: whether an import may remove every existing contact of `type`.
  ///   Without it that is refused: a header-only CSV export or an empty array is far more often
  ///   a broken export than an intent to delete the whole directory.
  /// - Throws: `DirectoryImportError`.
  public func importSummary(_ type: ContactType, _ contacts: [Contact], allowEmpty: Bool) throws(DirectoryImportError)
    -> DirectoryImportSummary
  {
    var summary = DirectoryImportSummary()
    var seen: Set<String> = []
    for contact in contacts {
      guard seen.insert(contact.id).inserted else {
        throw .invalid("id '\(contact.id)' appears more than once")
      }
      if let existing = self.contact(id: contact.id) {
        guard existing.type == type else { throw .idTaken(id: contact.id, type: existing.type) }
        var comparable = contact
        comparable.type = type
        comparable.version = existing.version
        if comparable == existing.contact { summary.unchanged += 1 } else { summary.changed.append(contact.id) }
      } else {
        summary.added.append(contact.id)
      }
    }
    summary.removed = entries.filter { $0.type == type && !seen.contains($0.id) }.map(\.id)
    if contacts.isEmpty && !summary.removed.isEmpty && !allowEmpty {
      throw .removesAll(type: type, existing: summary.removed.count)
    }
    return summary
  }
}

/// A store that imports the contact-center directory (users, queues): every real store.
public protocol DirectoryImporting: ContactRepository {
  /// Replaces every contact of `type` (Queue or User) with `contacts`, all or nothing; each
  /// contact added, changed or removed is one change of the change feed.
  ///
  /// - Parameters:
  ///   - dryRun: decide and report only.
  ///   - allowEmpty: let an empty import remove every existing contact of `type`.
  /// - Throws: an error naming why nothing was changed.
  func importDirectory(
    _ type: ContactType, contacts: [Contact], by user: String, dryRun: Bool, allowEmpty: Bool
  ) throws -> DirectoryImportSummary
}
