#!/usr/bin/env bash
# Every test: formatting, unit tests, and end-to-end tests through a real nginx, then a scripted
# check that deploy/run.sh serves on a fresh data directory and stops cleanly on SIGTERM.
# Installs what is missing (as root); the tests start and stop their own nginx and workers on
# free 127.0.0.1 ports. Artifacts (logs, screenshots) go to test-output/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CONTACTS_ROOT"

ensure_packages "${STACK_PACKAGES[@]}" curl
mkdir -p test-output

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

log "== deploy/run.sh on a fresh data directory"
deploy/check-run.sh
