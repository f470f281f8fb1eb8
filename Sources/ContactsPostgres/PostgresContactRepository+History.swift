public import ContactsCore

extension PostgresContactRepository {
  /// The answer kept for `key` of `user` within the retention, read from the database.
  static func keptAnswer(user: String, key: String, _ connection: PostgresConnection) throws -> IdempotentAnswer? {
    keptAnswer(
      user: user, key: key,
      try connection.query(Statements.keptAnswer, [user, key, String(IdempotentAnswer.retentionSeconds)]))
  }

  /// The kept answer in `rows`, the result of `Statements.keptAnswer`.
  static func keptAnswer(user: String, key: String, _ rows: PostgresRows) -> IdempotentAnswer? {
    guard rows.count == 1, let hash = rows[0, 0], let status = rows[0, 1].flatMap({ Int($0) }),
      let body = rows[0, 2], let time = rows[0, 3].flatMap({ Int($0) })
    else { return nil }
    return IdempotentAnswer(
      user: user, key: key, requestHash: hash, status: status, body: Array(body.utf8), createdAt: time)
  }

  /// One query: the kept answer for a retry, whichever host kept it.
  public func keptAnswer(user: String, key: String) throws -> IdempotentAnswer? {
    try withConnection(writing: false) { connection in try Self.keptAnswer(user: user, key: key, connection) }
  }

  /// Every change of a custom contact, from `contact_changes`.
  public func history(of id: String) throws -> [HistoryEntry]? {
    try withConnection(writing: false) { connection in
      let rows = try connection.query(
        """
        SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), by_user, op, contact
        FROM contact_changes WHERE contact_id = $1 AND contact_type = 'Custom' ORDER BY seq
        """, [id])
      var entries: [HistoryEntry] = []
      for row in 0..<rows.count {
        guard let seq = rows[row, 0].flatMap({ UInt64($0) }), let at = rows[row, 1], let by = rows[row, 2],
          let op = rows[row, 3]
        else { throw PostgresStoreError("a row of contact_changes is malformed") }
        let contact = rows.bytes(row: row, column: 4).flatMap { try? JSONParser.parse($0) }.flatMap {
          try? Contact(stored: $0)
        }
        entries.append(HistoryEntry(sequence: seq, at: at, by: by, op: op, contact: contact?.json))
      }
      if !entries.isEmpty { return entries }
      let exists = try connection.query("SELECT 1 FROM contacts WHERE id = $1", [id])
      return exists.count > 0 ? [] : nil
    }
  }

  /// The change of one row of `contact_changes` (`seq, op, contact_id, contact`).
  static func change(_ rows: PostgresRows, _ row: Int) throws -> (UInt64, ContactChange) {
    guard let seqText = rows[row, 0], let seq = UInt64(seqText), let op = rows[row, 1], let id = rows[row, 2] else {
      throw PostgresStoreError("a row of contact_changes is malformed")
    }
    if op == "delete" { return (seq, .delete(id: id)) }
    guard let bytes = rows.bytes(row: row, column: 3), let value = try? JSONParser.parse(bytes),
      let contact = try? Contact(stored: value)
    else { throw PostgresStoreError("change \(seq) holds no readable contact") }
    return (seq, op == "create" ? .create(contact) : .update(contact))
  }
}
