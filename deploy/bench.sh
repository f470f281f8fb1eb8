#!/usr/bin/env bash
# The end-to-end benchmark (issue 6): the Contacts API through nginx with basic auth, measured
# with wrk against nginx serving the same bytes as a static file and against a fixed-body libfcgi
# responder behind the same nginx, at several data sizes. A benchmark, not a test: it prints the
# figures and PASS/MISS per target, and exits 0 unless something broke (then non-zero).
#
#   deploy/bench.sh [--quick]
#
# Installs what is missing (wrk and the stack's packages, as root), builds the release binary,
# then runs deploy/bench/bench.py, which for each size N starts its own stack on free loopback
# ports (a copy of the binary, `contacts-fcgi serve` on a temp data dir, nginx rendered from
# nginx/local/nginx.conf.template by deploy/render-nginx.sh with extra locations), seeds N
# custom contacts over HTTP as admin, measures, and stops everything it started.
#
# Options and environment:
#   --quick            sizes "1000 10000", 3 s per wrk run, one round
#   BENCH_SIZES        data sizes, default "1000 10000 100000"
#   BENCH_DURATION     seconds per wrk run, default 5
#   BENCH_ROUNDS       rounds of the GET scenarios (best req/s is kept), default 3 (1 with --quick)
#   BENCH_CONNECTIONS  wrk connections for the GET scenarios, default 16
#   CONTACTS_WORKERS   responder workers (and fixed-responder processes), default nproc
#   BENCH_PERF         comma-separated scenarios to profile with perf during their first round
#                      (static listing filter by_id not_modified fixed post), e.g. "listing,post"
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
for arg in "$@"; do
  case $arg in
    --quick) args+=(--quick) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown option: $arg (see --help)"; exit 2 ;;
  esac
done

ensure_packages wrk gcc "${STACK_PACKAGES[@]}"
command -v perf >/dev/null || { [ -z "${BENCH_PERF:-}" ] || log "perf is not installed: BENCH_PERF ignored"; }
binary=$(build_service release)

exec python3 "$CONTACTS_ROOT/deploy/bench/bench.py" --binary "$binary" "${args[@]}"
