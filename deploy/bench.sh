#!/usr/bin/env bash
# The end-to-end benchmark (issue 6): the Contacts API through nginx with basic auth, measured
# with wrk against nginx serving the same bytes as a static file and against a fixed-body libfcgi
# responder behind the same nginx, at several data sizes. A benchmark, not a test: it prints the
# figures and PASS/MISS per target, and exits 0 unless something broke (then non-zero).
#
#   deploy/bench.sh [--quick] [--store data|postgres|both]
#
# Installs what is missing (wrk and the stack's packages, as root), builds the release binary,
# then runs deploy/bench/bench.py, which for each size N starts its own stack on free loopback
# ports (a copy of the binary, `contacts-fcgi serve` on a temp data dir, nginx rendered from
# nginx/local/nginx.conf.template by deploy/render-nginx.sh with extra locations), seeds N
# custom contacts over HTTP as admin, measures, and stops everything it started.
#
# With --store postgres (or both) it first starts a private PostgreSQL cluster in a temp folder
# (start_private_postgres in deploy/lib.sh: the postgres user, a unix socket, no TCP), which it
# stops at the end, also on Ctrl-C; each size gets a database of its own there, migrated with
# `contacts-fcgi migrate`, and the workers serve it with --database-url. The POST reference is
# then PostgreSQL's own single-row INSERT + COMMIT rate on that cluster (pgbench, from
# postgresql-contrib: a table of its own, synchronous_commit on, 16 clients like the POST run).
#
# Options and environment:
#   --quick            sizes "1000 10000", 3 s per wrk run, one round
#   --store STORE      data (default): the data directory; postgres: the PostgreSQL store; both:
#                      each size on both, side by side, and PostgreSQL's targets relative to the
#                      data directory's (by id and 304 ≥ 0.7×, whole listing ≥ 0.9×)
#   BENCH_SIZES        data sizes, default "1000 10000 100000"
#   BENCH_DURATION     seconds per wrk run, default 5
#   BENCH_ROUNDS       rounds of the GET scenarios (best req/s is kept), default 3 (1 with --quick)
#   BENCH_CONNECTIONS  wrk connections for the GET scenarios, default 16
#   CONTACTS_WORKERS   responder workers (and fixed-responder processes), default nproc
#   BENCH_PERF         comma-separated scenarios to profile with perf during their first round
#                      (static listing filter by_id not_modified fixed post sorted_not_modified
#                      changes_not_modified changes replay), e.g. "listing,post"
#   BENCH_BULK_REQUESTS  POST /contacts/_bulk requests of 1,000 creates each, default 5
#   BENCH_KEEP=1       keep the temp folders (data, nginx runtime, logs) instead of removing them
#
# Before each size, each round and the POST run it waits (up to 90 s) for the CPU to be mostly
# idle, as other work on the machine skews every figure; it reports how busy it found it.
#
# Output: one table per N, then a summary of every target; also
#   test-output/bench/bench-<date>.txt       the full text
#   test-output/bench/summary-<date>.json    the summary as JSON
set -euo pipefail
source "$(dirname "$0")/lib.sh"

args=()
store=data
while [ $# -gt 0 ]; do
  case $1 in
    --quick) args+=(--quick) ;;
    --store) [ $# -ge 2 ] || { log "--store needs a value: data, postgres or both"; exit 2; }; store=$2; shift ;;
    --store=*) store=${1#--store=} ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown option: $1 (see --help)"; exit 2 ;;
  esac
  shift
done
case $store in
  data | postgres | both) ;;
  *) log "--store: data, postgres or both (got '$store')"; exit 2 ;;
esac

packages=(wrk gcc "${STACK_PACKAGES[@]}")
[ "$store" = data ] || packages+=(postgresql postgresql-contrib)
ensure_packages "${packages[@]}"
command -v perf >/dev/null || { [ -z "${BENCH_PERF:-}" ] || log "perf is not installed: BENCH_PERF ignored"; }
binary=$(build_service release)

if [ "$store" = data ]; then
  exec python3 "$CONTACTS_ROOT/deploy/bench/bench.py" --binary "$binary" "${args[@]}"
fi

# The private cluster: stopped and removed however this script ends. On Ctrl-C the terminal
# interrupts bench.py too, which stops its own stacks first; bash runs the trap once it returns.
postgres_dir=$(mktemp -d /tmp/contacts-bench-pg.XXXXXX)
chmod 0755 "$postgres_dir"
cleanup() {
  stop_private_postgres "$postgres_dir/cluster"
  rm -rf "$postgres_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
database_url=$(start_private_postgres "$postgres_dir/cluster")
log "PostgreSQL for the benchmark: $database_url"
status=0
python3 "$CONTACTS_ROOT/deploy/bench/bench.py" --binary "$binary" --store "$store" --database-url "$database_url" \
  "${args[@]}" || status=$?
exit "$status"
