#!/usr/bin/env bash
# Every test: formatting, unit tests, and end-to-end tests through a real nginx, a Python client
# generated from the OpenAPI document driving every operation (Tests/clients/run.sh), a one-minute soak
# (deploy/soak.sh), then a scripted check that deploy/run.sh serves on a fresh data directory and
# stops cleanly on SIGTERM.
# Installs what is missing (as root); the tests start and stop their own nginx and workers on
# free 127.0.0.1 ports. Artifacts (logs, dashboard screenshots) go to test-output/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CONTACTS_ROOT"

# Besides the stack: curl for the checks, spawn-fcgi and systemd's tools for the deployment tests
# (socket handed over on descriptor 0, systemd-analyze verify of the units).
ensure_packages "${STACK_PACKAGES[@]}" curl spawn-fcgi systemd postgresql
# The reference Prometheus parser, for the end-to-end test of /_contacts/metrics
# (Tests/prometheus/parse_metrics.py): PyPI's prometheus-client, as Tests/browser/run.sh installs
# selenium.
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  log "installing prometheus-client (PyPI)"
  python3 -m pip install -q prometheus-client
fi
mkdir -p test-output

# A private PostgreSQL cluster for the PostgreSQL store's tests: initdb into a temporary folder
# as the unprivileged postgres user, socket in that folder, no TCP; stopped when this script ends.
postgres_dir=$(mktemp -d /tmp/contacts-test-pg.XXXXXX)
chmod 0755 "$postgres_dir"
trap 'stop_private_postgres "$postgres_dir/cluster"; rm -rf "$postgres_dir"' EXIT
start_private_postgres "$postgres_dir/cluster" >/dev/null
export CONTACTS_TEST_POSTGRES="$postgres_dir/cluster"
log "== PostgreSQL for the tests: $CONTACTS_TEST_POSTGRES"

log "== format (swift format lint --strict)"
Scripts/format.sh --check

log "== build (warnings fail the build)"
swift build --build-tests 2>&1 | tee test-output/build.log
if grep -E "^/.*(Sources|Tests)/.*warning:" test-output/build.log; then
  log "the build has warnings"
  exit 1
fi

log "== swift test"
swift test --skip-build 2>&1 | tee test-output/swift-test.log
test "${PIPESTATUS[0]}" -eq 0

log "== a client generated from nginx/openapi.json drives every operation (Tests/clients/run.sh)"
Tests/clients/run.sh 2>&1 | tee test-output/clients-test.log
test "${PIPESTATUS[0]}" -eq 0

log "== soak: 60 s under load with workers killed and reloads (deploy/soak.sh)"
CONTACTS_FCGI_BINARY=$CONTACTS_ROOT/.build/debug/contacts-fcgi deploy/soak.sh --seconds 60 2>&1 \
  | tee test-output/soak.log
test "${PIPESTATUS[0]}" -eq 0

log "== the agents' dashboard in headless Chromium"
Tests/browser/run.sh 2>&1 | tee test-output/dashboard-test.log
test "${PIPESTATUS[0]}" -eq 0

log "== deploy/run.sh on a fresh data directory"
deploy/check-run.sh
