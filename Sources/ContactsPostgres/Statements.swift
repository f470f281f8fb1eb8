/// The statements of the hot paths, prepared once per connection (see
/// `PostgresConnection.query(_:_:)` with a `PreparedStatement`): the per-request revalidation,
/// catching up, and the statements of a write, which run while the generation row is locked.
enum Statements {
  /// The current generation: the one round trip of each request.
  static let generation = PreparedStatement(
    name: "contacts_generation", sql: "SELECT value FROM contacts_meta WHERE key = 'generation'")

  /// The generation row, locked until the transaction ends: writers take it one after another.
  static let lockGeneration = PreparedStatement(
    name: "contacts_lock_generation", sql: "SELECT value FROM contacts_meta WHERE key = 'generation' FOR UPDATE")

  /// The changes after `$1` up to `$2`, at most `$3` of them: catching up, and the change feed.
  static let changes = PreparedStatement(
    name: "contacts_changes",
    sql: "SELECT seq, op, contact_id, contact FROM contact_changes WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
  )

  /// The changes after `$1`, at most `$2` of them: a write's catch-up, sent in the same
  /// pipeline as the generation lock and run after it, so it needs no upper bound (no change
  /// after the locked generation can be committed meanwhile).
  static let changesSince = PreparedStatement(
    name: "contacts_changes_since",
    sql: "SELECT seq, op, contact_id, contact FROM contact_changes WHERE seq > $1 ORDER BY seq LIMIT $2")

  /// Whether this transaction got the advisory lock of the idempotency key `$1` (user NUL key).
  static let tryKeyLock = PreparedStatement(
    name: "contacts_try_key_lock", sql: "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 727273))")

  /// The answer kept for user `$1` and key `$2`, if younger than `$3` seconds.
  static let keptAnswer = PreparedStatement(
    name: "contacts_kept_answer",
    sql: """
      SELECT request_hash, status, convert_from(response, 'UTF8'), extract(epoch FROM created_at)::bigint
      FROM idempotency_keys WHERE user_name = $1 AND key = $2
        AND created_at > clock_timestamp() - make_interval(secs => $3)
      """)

  /// Keeps the answer to a request with an idempotency key.
  static let rememberAnswer = PreparedStatement(
    name: "contacts_remember_answer",
    sql: """
      INSERT INTO idempotency_keys (user_name, key, request_hash, status, response, created_at)
      VALUES ($1, $2, $3, $4, convert_to($5, 'UTF8'), to_timestamp($6))
      ON CONFLICT (user_name, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
        status = EXCLUDED.status, response = EXCLUDED.response, created_at = EXCLUDED.created_at
      """)

  /// A created or updated contact: its row, its change row and the new generation, in one
  /// statement. `$1`…`$8` the contact's columns, `$9` the sequence number, `$10` the user,
  /// `$11` the operation, `$12` the contact as stored JSON.
  static func write(creating: Bool) -> PreparedStatement {
    let upsert =
      creating
      ? """
      INSERT INTO contacts (id, type, name, phone_number, user_name, first_name, last_name, employee_id, version)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
      """
      : """
      UPDATE contacts SET type = $2, name = $3, phone_number = $4, user_name = $5, first_name = $6,
        last_name = $7, employee_id = $8, version = $9 WHERE id = $1
      """
    return PreparedStatement(
      name: creating ? "contacts_create" : "contacts_update",
      sql: """
        WITH written AS (\(upsert)),
        changed AS (
          INSERT INTO contact_changes (seq, by_user, op, contact_id, contact_type, contact)
          VALUES ($9, $10, $11, $1, $2, $12))
        UPDATE contacts_meta SET value = $9 WHERE key = 'generation'
        """)
  }

  static let create = write(creating: true)
  static let update = write(creating: false)

  /// A deleted contact (`$1`), its change row at `$2` by `$3`, and the new generation.
  static let delete = PreparedStatement(
    name: "contacts_delete",
    sql: """
      WITH removed AS (DELETE FROM contacts WHERE id = $1 RETURNING type),
      changed AS (
        INSERT INTO contact_changes (seq, by_user, op, contact_id, contact_type)
        SELECT $2, $3, 'delete', $1, type FROM removed)
      UPDATE contacts_meta SET value = $2 WHERE key = 'generation'
      """)
}
