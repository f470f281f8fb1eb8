#!/usr/bin/env bash
# End-to-end browser test of the dashboard: starts the real stack (deploy/run.sh) on free
# 127.0.0.1 ports with a temporary data directory, runs Tests/browser/dashboard_test.py in
# headless Chromium against it, stops the stack (always), and exits with the test's status.
#
#   bash Tests/browser/run.sh
#
# A second stack with CONTACTS_EVENTS=off (nginx without nchan: /contacts/_events answers 501)
# checks the page's polling fallback.
#
# Installs what is missing first (as root): the Debian packages chromium and chromium-driver,
# and from PyPI selenium and axe-selenium-python (for the copy of axe-core it ships). Screenshots
# and the stacks' logs go to test-output/dashboard/.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/deploy/lib.sh"
out=$root/test-output/dashboard
log() { printf 'browser-test: %s\n' "$*" >&2; }
started_at=$(date +%s)

# ---------------------------------------------------------------------------- (a) what it needs
missing=()
for package in chromium chromium-driver; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing packages: ${missing[*]} (run as root, or apt-get install them)"
    exit 2
  fi
  log "installing ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
if ! python3 -c 'import selenium' 2>/dev/null; then
  log "installing selenium"
  python3 -m pip install -q selenium
fi
if ! python3 -c 'import axe_selenium_python' 2>/dev/null; then
  log "installing axe-selenium-python (axe-core for the accessibility checks)"
  python3 -m pip install -q axe-selenium-python
fi

# ---------------------------------------------------------------------------- (b) the stack
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d /tmp/contacts-dashboard-test.XXXXXX)
# nginx's workers (www-data when run as root) must reach the socket inside: traversable.
chmod 711 "$tmp"
ports=()
while [ ${#ports[@]} -lt 4 ]; do
  port=$(free_port)
  [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
done
http_port=${ports[0]} https_port=${ports[1]}
polling_http_port=${ports[2]} polling_https_port=${ports[3]}
base_url=http://127.0.0.1:$http_port
polling_url=http://127.0.0.1:$polling_http_port

stack_pid="" polling_pid=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_run_stack "$polling_pid" "stack without events"
  stop_run_stack "$stack_pid" "stack"
  # deploy/run.sh keeps nginx's runtime folder per port; these ports' are ours alone.
  for port in "${http_port:-}" "${polling_http_port:-}"; do
    if [ -n "$port" ] && [ ! -s "$root/.run/nginx-$port/nginx.pid" ]; then
      rm -rf "$root/.run/nginx-$port"
    fi
  done
  rm -rf "$tmp"
  log "total runtime $(( $(date +%s) - started_at )) s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting the stack on $base_url (data in $tmp/data; log in $out/stack.log)"
start_run_stack "$out/stack.log" "$http_port" "$https_port" "$tmp"
stack_pid=$RUN_STACK_PID
# The first run builds the service in release mode (minutes); later ones start in seconds.
wait_for_run_stack "$stack_pid" "$base_url" "$out/stack.log" 900 || exit 1
log "the stack answers after $(( $(date +%s) - started_at )) s"

# The second stack, without pushed events (built already: it starts in seconds).
log "starting the stack without events on $polling_url (log in $out/stack-no-events.log)"
mkdir -m 711 "$tmp/no-events"
start_run_stack "$out/stack-no-events.log" "$polling_http_port" "$polling_https_port" "$tmp/no-events" \
  CONTACTS_EVENTS=off CONTACTS_WORKERS=1
polling_pid=$RUN_STACK_PID
wait_for_run_stack "$polling_pid" "$polling_url" "$out/stack-no-events.log" 120 || exit 1

# ---------------------------------------------------------------------------- (c) the test
set +e
# Chromium makes its profile and singleton folders under TMPDIR and leaves some behind when the
# driver stops it: inside $tmp, the cleanup removes them with the rest.
mkdir -m 700 "$tmp/browser-tmp"
TMPDIR=$tmp/browser-tmp python3 "$root/Tests/browser/dashboard_test.py" --base-url "$base_url" --socket "$tmp/contacts.sock" \
  --polling-base-url "$polling_url" --out "$out"
status=$?
set -e
# (d) its status
exit "$status"
