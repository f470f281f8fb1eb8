#!/usr/bin/env bash
# End-to-end browser test of the dashboard: starts the real stack (deploy/run.sh) on free
# 127.0.0.1 ports with a temporary data directory, runs Tests/browser/dashboard_test.py in
# headless Chromium against it, stops the stack (always), and exits with the test's status.
#
#   bash Tests/browser/run.sh
#
# Installs what is missing first (as root): the Debian packages chromium and chromium-driver,
# and selenium from PyPI. Screenshots and the stack's log go to test-output/dashboard/.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
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

# ---------------------------------------------------------------------------- (b) the stack
rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d /tmp/contacts-dashboard-test.XXXXXX)
# nginx's workers (www-data when run as root) must reach the socket inside: traversable.
chmod 711 "$tmp"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
http_port=$(free_port)
https_port=$(free_port)
while [ "$https_port" = "$http_port" ]; do https_port=$(free_port); done
base_url=http://127.0.0.1:$http_port

stack_pid=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$stack_pid" ] && kill -0 "$stack_pid" 2>/dev/null; then
    log "stopping the stack (pid $stack_pid)"
    kill -TERM "$stack_pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$stack_pid" 2>/dev/null; then
      log "the stack did not stop within 15 s; killing its process group"
      kill -KILL -- "-$stack_pid" 2>/dev/null || true
    fi
  fi
  # deploy/run.sh keeps nginx's runtime folder per port; this port's is ours alone.
  if [ -n "${http_port:-}" ] && [ ! -s "$root/.run/nginx-$http_port/nginx.pid" ]; then
    rm -rf "$root/.run/nginx-$http_port"
  fi
  rm -rf "$tmp"
  log "total runtime $(( $(date +%s) - started_at )) s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting the stack on $base_url (data in $tmp/data; log in $out/stack.log)"
# setsid: the stack gets its own session and process group; $! is deploy/run.sh itself (a
# background job of a non-interactive shell is no group leader, so setsid does not fork).
CONTACTS_DATA_DIR=$tmp/data CONTACTS_HTTP_PORT=$http_port CONTACTS_HTTPS_PORT=$https_port \
  CONTACTS_SOCKET=$tmp/contacts.sock CONTACTS_WORKERS=2 \
  setsid "$root/deploy/run.sh" > "$out/stack.log" 2>&1 < /dev/null &
stack_pid=$!

# The first run builds the service in release mode (minutes); later ones start in seconds.
deadline=$(( $(date +%s) + 900 ))
until [ "$(curl -s -o /dev/null -w '%{http_code}' -u agent:agent "$base_url/contacts" 2>/dev/null)" = 200 ]; do
  if ! kill -0 "$stack_pid" 2>/dev/null; then
    log "the stack exited before answering; the end of $out/stack.log:"
    tail -n 30 "$out/stack.log" >&2
    exit 1
  fi
  if [ "$(date +%s)" -gt "$deadline" ]; then
    log "the stack did not answer within 15 minutes; the end of $out/stack.log:"
    tail -n 30 "$out/stack.log" >&2
    exit 1
  fi
  sleep 0.5
done
log "the stack answers after $(( $(date +%s) - started_at )) s"

# ---------------------------------------------------------------------------- (c) the test
set +e
python3 "$root/Tests/browser/dashboard_test.py" --base-url "$base_url" --socket "$tmp/contacts.sock" --out "$out"
status=$?
set -e
# (d) its status
exit "$status"
