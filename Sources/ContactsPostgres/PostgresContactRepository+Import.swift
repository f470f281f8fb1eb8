public import ContactsCore

extension PostgresContactRepository {
  /// Replaces every contact of `type` (Queue or User) with `contacts` in one transaction (all or
  /// nothing): the rows go in by `COPY`, and each contact added, changed or removed gets its own
  /// change row, numbered in id order, so the change feed shows the import contact by contact.
  ///
  /// - Throws: `DirectoryImportError` (nothing changed), `ContactStoreUnavailable`.
  public func importDirectory(
    _ type: ContactType, contacts: [Contact], by user: String, dryRun: Bool = false, allowEmpty: Bool = false
  ) throws -> DirectoryImportSummary {
    precondition(type != .custom, "custom contacts are not imported")
    return try withConnection(writing: true) { connection in
      let locked = try connection.query("BEGIN; SELECT value FROM contacts_meta WHERE key = 'generation' FOR UPDATE")
      do {
        guard let text = locked[0, 0], let generation = UInt64(text) else {
          throw PostgresStoreError("contacts_meta has no generation row")
        }
        let current = try refresh(connection, to: generation, inTransaction: true)
        var summary = try current.importSummary(type, contacts, allowEmpty: allowEmpty)
        let changed = summary.changedIDs
        summary.generation = generation + UInt64(changed.count)
        if dryRun || changed.isEmpty {
          try connection.query("ROLLBACK")
          return summary
        }
        var sequenceOf: [String: UInt64] = [:]
        for (index, id) in changed.enumerated() { sequenceOf[id] = generation + 1 + UInt64(index) }
        let byID = Dictionary(contacts.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })

        var rows = CopyText()
        var changeRows = CopyText()
        for contact in contacts {
          var stored = contact
          stored.type = type
          stored.version = sequenceOf[contact.id] ?? current.contact(id: contact.id)?.version ?? generation
          rows.append([
            stored.id, stored.type.rawValue, stored.name, stored.phoneNumber, stored.userName, stored.firstName,
            stored.lastName, stored.employeeId, String(stored.version),
          ])
        }
        let added = Set(summary.added)
        for id in changed {
          let seq = String(sequenceOf[id]!)
          if var contact = byID[id] {
            contact.type = type
            contact.version = sequenceOf[id]!
            changeRows.append([
              seq, user, added.contains(id) ? "create" : "update", id, type.rawValue,
              String(decoding: contact.json, as: UTF8.self),
            ])
          } else {
            changeRows.append([seq, user, "delete", id, type.rawValue, nil])
          }
        }
        try connection.query("DELETE FROM contacts WHERE type = $1", [type.rawValue])
        try connection.copy(
          """
          COPY contacts (id, type, name, phone_number, user_name, first_name, last_name, employee_id, version)
          FROM STDIN
          """, data: rows.bytes)
        try connection.copy(
          "COPY contact_changes (seq, by_user, op, contact_id, contact_type, contact) FROM STDIN",
          data: changeRows.bytes)
        try connection.query(
          "UPDATE contacts_meta SET value = $1 WHERE key = 'generation'", [String(summary.generation)])
        try connection.query("COMMIT")
        return summary
      } catch {
        _ = try? connection.query("ROLLBACK")
        throw error
      }
    }
  }
}

/// Rows in `COPY`'s text format: tab-separated, `\N` for `NULL`, backslash escapes.
struct CopyText {
  private(set) var bytes: [UInt8] = []

  mutating func append(_ values: [String?]) {
    for (index, value) in values.enumerated() {
      if index > 0 { bytes.append(UInt8(ascii: "\t")) }
      guard let value else {
        bytes.append(contentsOf: #"\N"#.utf8)
        continue
      }
      for byte in value.utf8 {
        switch byte {
        case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
        case UInt8(ascii: "\t"): bytes.append(contentsOf: #"\t"#.utf8)
        case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
        case UInt8(ascii: "\r"): bytes.append(contentsOf: #"\r"#.utf8)
        default: bytes.append(byte)
        }
      }
    }
    bytes.append(UInt8(ascii: "\n"))
  }
}
