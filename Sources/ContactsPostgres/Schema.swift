/// The database schema and its migrations: applied by `contacts-fcgi migrate`, checked by every
/// worker at start (a worker refuses a schema it does not know).
///
/// The tables:
/// - `contacts`: every contact as it is now (custom ones and the imported directory), with the
///   version (the sequence number of the change that last wrote it, which makes its ETag).
/// - `contact_changes`: every change in commit order, one row per contact changed, numbered by
///   `seq` — the change feed, the audit history and the ETags all derive from it, so every host
///   computes the same ones.
/// - `contacts_meta`: the schema version and the current generation (the last `seq`). Writers
///   lock the generation row (`SELECT … FOR UPDATE`), which orders commits exactly as `seq`.
/// - `idempotency_keys`: kept answers of `POST` requests that carried an `Idempotency-Key`.
public enum PostgresSchema {
  /// The version this build writes and reads.
  public static let currentVersion = 2

  /// Migration `n` takes the schema from version `n - 1` to `n`; each runs in one transaction.
  static let migrations: [String] = [
    """
    CREATE TABLE contacts_meta (
      key text PRIMARY KEY,
      value bigint NOT NULL
    );
    INSERT INTO contacts_meta (key, value) VALUES ('schema', 1), ('generation', 0);
    CREATE TABLE contacts (
      id text PRIMARY KEY,
      type text NOT NULL CHECK (type IN ('Custom', 'Queue', 'User')),
      name text NOT NULL,
      phone_number text,
      user_name text,
      first_name text,
      last_name text,
      employee_id text,
      version bigint NOT NULL
    );
    CREATE INDEX contacts_by_type ON contacts (type);
    CREATE TABLE contact_changes (
      seq bigint PRIMARY KEY,
      at timestamptz NOT NULL DEFAULT clock_timestamp(),
      by_user text NOT NULL,
      op text NOT NULL CHECK (op IN ('create', 'update', 'delete')),
      contact_id text NOT NULL,
      contact_type text NOT NULL,
      contact text
    );
    CREATE INDEX contact_changes_by_contact ON contact_changes (contact_id, seq);
    CREATE TABLE idempotency_keys (
      user_name text NOT NULL,
      key text NOT NULL,
      request_hash text NOT NULL,
      status integer,
      response bytea,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      PRIMARY KEY (user_name, key)
    );
    """,
    // 2: kept answers are found by age when the expired ones are pruned.
    """
    CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
    """,
  ]
}
