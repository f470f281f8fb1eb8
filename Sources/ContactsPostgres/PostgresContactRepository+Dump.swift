public import ContactsCore

extension PostgresContactRepository: DumpTransferring {
  /// Every contact and the custom contacts' changes, read in one repeatable-read transaction.
  public func exportDump() throws -> ContactsDump {
    try withConnection(writing: false) { connection in
      try connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
      do {
        let state = try Self.loadAll(connection, inTransaction: true)
        let rows = try connection.query(
          """
          SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), by_user, op, contact_id, contact
          FROM contact_changes WHERE contact_type = 'Custom' AND seq <= $1 ORDER BY seq
          """, [String(state.generation)])
        try connection.query("COMMIT")
        var history: [ContactsDump.Change] = []
        history.reserveCapacity(rows.count)
        for row in 0..<rows.count {
          guard let seq = rows[row, 0].flatMap({ UInt64($0) }), let at = rows[row, 1], let by = rows[row, 2],
            let op = rows[row, 3], let id = rows[row, 4]
          else { throw PostgresStoreError("a row of contact_changes is malformed") }
          let change: ContactChange
          if op == "delete" {
            change = .delete(id: id)
          } else {
            guard let bytes = rows.bytes(row: row, column: 5), let value = try? JSONParser.parse(bytes),
              let contact = try? Contact(stored: value)
            else { throw PostgresStoreError("change \(seq) holds no readable contact") }
            change = op == "create" ? .create(contact) : .update(contact)
          }
          history.append(ContactsDump.Change(sequence: seq, at: at, by: by, change: change))
        }
        return ContactsDump(generation: state.generation, contacts: state.entries.map(\.contact), history: history)
      } catch {
        _ = try? connection.query("ROLLBACK")
        throw error
      }
    }
  }

  /// One transaction: the contacts and the history go in by `COPY`, the generation is set to
  /// the dump's, and so is the horizon (`contacts_meta`): changes up to it are not all in
  /// `contact_changes` (a data directory keeps no change row per imported user or queue), so
  /// change-feed cursors before it have expired, and `check` does not expect a change row for a
  /// contact last written before it.
  ///
  /// - Throws: `StoreNotEmpty` when the database holds any contact or change or its generation
  ///   is above 0 (nothing changed), `ContactStoreUnavailable`, `PostgresStoreError`.
  public func loadDump(_ dump: ContactsDump, dryRun: Bool = false) throws {
    try withConnection(writing: true) { connection in
      let locked = try connection.query("BEGIN; SELECT value FROM contacts_meta WHERE key = 'generation' FOR UPDATE")
      do {
        guard let text = locked[0, 0], let generation = UInt64(text) else {
          throw PostgresStoreError("contacts_meta has no generation row")
        }
        let counts = try connection.query(
          "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM contact_changes)")
        let contacts = Int(counts[0, 0] ?? "") ?? 0
        let changes = Int(counts[0, 1] ?? "") ?? 0
        guard generation == 0, contacts == 0, changes == 0 else {
          throw StoreNotEmpty(generation: generation, contacts: contacts)
        }
        if dryRun {
          try connection.query("ROLLBACK")
          return
        }
        var rows = CopyText()
        for contact in dump.contacts {
          rows.append([
            contact.id, contact.type.rawValue, contact.name, contact.phoneNumber, contact.userName, contact.firstName,
            contact.lastName, contact.employeeId, String(contact.version),
          ])
        }
        var changeRows = CopyText()
        for entry in dump.history {
          let contact: String? =
            switch entry.change {
            case .create(let contact), .update(let contact): String(decoding: contact.json, as: UTF8.self)
            case .delete: nil
            }
          changeRows.append([
            String(entry.sequence), entry.at, entry.by, entry.change.operationName, entry.change.contactID,
            ContactType.custom.rawValue, contact,
          ])
        }
        try connection.copy(
          """
          COPY contacts (id, type, name, phone_number, user_name, first_name, last_name, employee_id, version)
          FROM STDIN
          """, data: rows.bytes)
        try connection.copy(
          "COPY contact_changes (seq, at, by_user, op, contact_id, contact_type, contact) FROM STDIN",
          data: changeRows.bytes)
        let value = String(dump.generation)
        try connection.query("UPDATE contacts_meta SET value = $1 WHERE key = 'generation'", [value])
        try connection.query(
          """
          INSERT INTO contacts_meta (key, value) VALUES ('horizon', $1)
          ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
          """, [value])
        try connection.query("COMMIT")
        forgetState()
      } catch {
        _ = try? connection.query("ROLLBACK")
        throw error
      }
    }
  }

  /// The horizon: changes numbered up to it are not all in `contact_changes` (0 unless the
  /// database was loaded from a dump).
  static func horizon(_ connection: PostgresConnection) throws -> UInt64 {
    let rows = try connection.query("SELECT value FROM contacts_meta WHERE key = 'horizon'")
    return rows.count == 1 ? UInt64(rows[0, 0] ?? "") ?? 0 : 0
  }
}
