#!/usr/bin/env bash
# Scripted check of deploy/run.sh as a new user meets it: on a fresh data directory and free
# ports it must serve the demo data through nginx (HTTP and HTTPS), answer every curl example of
# the README as documented, then stop everything on SIGTERM and exit 0.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

work=$(mktemp -d /tmp/contacts-run-check-XXXXXX)
chmod 755 "$work"  # nginx's workers (www-data) must reach the socket inside
trap 'rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(port) https_port=$(port)

CONTACTS_DATA_DIR=$work/data CONTACTS_HTTP_PORT=$http_port CONTACTS_HTTPS_PORT=$https_port \
  CONTACTS_SOCKET=$work/contacts.sock CONTACTS_WORKERS=2 \
  setsid "$CONTACTS_ROOT/deploy/run.sh" >"$work/run.log" 2>&1 &
run_pid=$!

fail() {
  log "check-run: $*"
  cat "$work/run.log" >&2
  kill -TERM "$run_pid" 2>/dev/null
  wait "$run_pid" 2>/dev/null
  exit 1
}

deadline=$((SECONDS + 900))  # the first run builds in release mode
until curl -sf -u agent:agent "http://127.0.0.1:$http_port/contacts?type=Queue" -o "$work/queues.json"; do
  kill -0 "$run_pid" 2>/dev/null || fail "deploy/run.sh exited before serving"
  [ $SECONDS -lt $deadline ] || fail "not serving after 900 s"
  sleep 1
done
grep -q '"type":"Queue"' "$work/queues.json" || fail "no demo queues in the listing"
joe=$(curl -sfk -u agent:agent "https://127.0.0.1:$https_port/contacts/user-joej" || true)
[[ $joe == *'"userName":"joej"'* ]] || fail "HTTPS port does not serve: $joe"

# Every curl example of the README, run as written (only the port changed).
sed -n '/<!-- curl-examples:start -->/,/<!-- curl-examples:end -->/p' "$CONTACTS_ROOT/README.md" \
  | sed '/^<!--/d; /^```/d' | sed "s/127.0.0.1:8443/127.0.0.1:$https_port/g" >"$work/examples.sh"
[ -s "$work/examples.sh" ] || fail "no curl examples found in README.md"
bash -euo pipefail "$work/examples.sh" >"$work/examples.out" 2>&1 \
  || fail "the README's curl examples failed: $(cat "$work/examples.out")"
for expected in '"userName":"joej"' 'HTTP/2 201' 'location: /contacts/' '"phoneNumber":"+1 555 0199"' '304$' \
  'a comma is missing between two members' 'HTTP/2 405' 'allow: GET, HEAD' '204$' 'x-total-count:' \
  '{"id":"[^"]*","phoneNumber":"[^"]*","firstName":"[^"]*","lastName":"[^"]*"}'; do
  grep -qi -- "$expected" "$work/examples.out" || fail "README examples: no '$expected' in: $(cat "$work/examples.out")"
done
log "check-run: the README's curl examples give the documented answers"

kill -TERM "$run_pid"
status=0
wait "$run_pid" || status=$?
[ "$status" -eq 0 ] || fail "deploy/run.sh exited $status on SIGTERM"
if pgrep -f -- "--data-dir $work/data" >/dev/null || [ -S "$work/contacts.sock" ]; then
  fail "processes or the socket were left behind"
fi
log "check-run: deploy/run.sh served on ports $http_port/$https_port and stopped cleanly (exit 0)"
