#!/usr/bin/env bash
# The ceiling of the PostgreSQL store's write path, measured with pgbench: our exact statement
# sequence for one created contact, in the round trips the store makes, at 2 clients (one per
# worker of a 2-core host) and 16 (the POST benchmark's connections), beside PostgreSQL's own
# single-row INSERT + COMMIT (what deploy/bench.sh divides POST by).
#
#   deploy/bench/pg-write-ceiling.sh URL [SECONDS]
#
# URL: a database migrated by `contacts-fcgi migrate` (the probe adds rows to it and a table
# bench_rows it drops again). synchronous_commit is on, as the store requires.
#
# The variants (each one transaction per created contact; the sequence number is read from the
# locked generation row on the server, since pgbench cannot use a result inside a pipeline):
#   round-trips-5   BEGIN; lock the generation row; changes since; the write; COMMIT; one round
#                   trip each (the store before pipelining)
#   round-trips-2   [BEGIN, lock, changes since] [the write, COMMIT]: two pipelines (the store now)
#   round-trips-1   [BEGIN, the write taking the lock itself (UPDATE … RETURNING), changes since,
#                   COMMIT]: one pipeline, the lock held only for the statements and the WAL
#                   flush: the ceiling of any design that holds the row lock through the flush
#   insert          PostgreSQL's own INSERT + COMMIT (autocommit), no shared row
set -euo pipefail
url=${1:?usage: pg-write-ceiling.sh URL [SECONDS]}
seconds=${2:-5}
scripts=$(mktemp -d /tmp/contacts-pg-ceiling.XXXXXX)
trap 'rm -rf "$scripts"; PGOPTIONS="-c client_min_messages=warning" psql -X -q -d "$url" -c "DROP TABLE IF EXISTS bench_rows" >/dev/null 2>&1 || true' EXIT

ids="replace(gen_random_uuid()::text, '-', '')"
columns="id, type, name, phone_number, user_name, first_name, last_name, employee_id, version"
change_columns="seq, by_user, op, contact_id, contact_type, contact"
json="'{\"id\":\"' || id || '\",\"type\":\"Custom\",\"name\":\"Probe\",\"phoneNumber\":\"+1 555 0000000\"}'"
lock="SELECT value FROM contacts_meta WHERE key = 'generation' FOR UPDATE;"
changes="SELECT seq, op, contact_id, contact FROM contact_changes WHERE seq > (SELECT value - 1 FROM contacts_meta WHERE key = 'generation') ORDER BY seq LIMIT 10001;"
write="WITH s AS (SELECT value + 1 AS seq, $ids AS id FROM contacts_meta WHERE key = 'generation'), written AS (INSERT INTO contacts ($columns) SELECT id, 'Custom', 'Probe ' || :client_id, '+1 555 0000000', NULL, NULL, NULL, NULL, seq FROM s), changed AS (INSERT INTO contact_changes ($change_columns) SELECT seq, 'bench', 'create', id, 'Custom', $json FROM s) UPDATE contacts_meta SET value = value + 1 WHERE key = 'generation';"
write_locking="WITH g AS (UPDATE contacts_meta SET value = value + 1 WHERE key = 'generation' RETURNING value AS seq), s AS (SELECT seq, $ids AS id FROM g), written AS (INSERT INTO contacts ($columns) SELECT id, 'Custom', 'Probe ' || :client_id, '+1 555 0000000', NULL, NULL, NULL, NULL, seq FROM s), changed AS (INSERT INTO contact_changes ($change_columns) SELECT seq, 'bench', 'create', id, 'Custom', $json FROM s) SELECT seq FROM s;"
printf '%s\n' "BEGIN;" "$lock" "$changes" "$write" "COMMIT;" >"$scripts/round-trips-5.sql"
printf '%s\n' '\startpipeline' "BEGIN;" "$lock" "$changes" '\endpipeline' '\startpipeline' "$write" "COMMIT;" \
  '\endpipeline' >"$scripts/round-trips-2.sql"
printf '%s\n' '\startpipeline' "BEGIN;" "$write_locking" "$changes" "COMMIT;" '\endpipeline' >"$scripts/round-trips-1.sql"
printf '%s\n' "INSERT INTO bench_rows (name, phone_number) VALUES ('Probe ' || :client_id, '+1 555 0000000');" \
  >"$scripts/insert.sql"
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$url" -c "DROP TABLE IF EXISTS bench_rows; CREATE TABLE bench_rows (id bigserial PRIMARY KEY, name text NOT NULL, phone_number text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"

printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-15s %12s %12s\n' variant "2 clients" "16 clients"
for variant in round-trips-5 round-trips-2 round-trips-1 insert; do
  rates=()
  for clients in 2 16; do
    output=$(PGOPTIONS="-c synchronous_commit=on" pgbench -n -M prepared -c "$clients" -j 1 -T "$seconds" \
      -f "$scripts/$variant.sql" "$url" 2>&1) || { printf '%s\n' "$output" >&2; exit 1; }
    rates+=("$(sed -n 's/^tps = \([0-9]*\).*/\1/p' <<<"$output")")
  done
  printf '%-15s %10s/s %10s/s\n' "$variant" "${rates[0]}" "${rates[1]}"
done
printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
