#!/usr/bin/env bash
# The local stack: responder workers + nginx, with demo data, in the foreground.
# Installs what is missing (as root), builds in release mode, serves until SIGINT or SIGTERM,
# then stops everything it started and exits 0. Variables: docs/configuration.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

data_dir=${CONTACTS_DATA_DIR:-$CONTACTS_ROOT/.run/data}
database_url=${CONTACTS_DATABASE_URL:-}
change_history=${CONTACTS_CHANGE_HISTORY:-10000}
http_port=${CONTACTS_HTTP_PORT:-8080}
https_port=${CONTACTS_HTTPS_PORT:-8443}
workers=${CONTACTS_WORKERS:-$(nproc)}
socket=${CONTACTS_SOCKET:-$CONTACTS_ROOT/.run/contacts.sock}
runtime=$CONTACTS_ROOT/.run/nginx-$http_port  # one per port: several local stacks can run side by side

ensure_packages "${STACK_PACKAGES[@]}"
binary=$(build_service release)

mkdir -p "$(dirname "$socket")" "$runtime"
if [ -n "$database_url" ]; then
  # Several stacks given the same URL serve the same data; the first one fills an empty database.
  store_args=(--database-url "$database_url")
  "$binary" migrate "${store_args[@]}" >&2
  for kind in users queues; do
    "$binary" import "$kind" "$CONTACTS_ROOT/deploy/demo/$kind.json" "${store_args[@]}" --by demo --only-if-empty >&2
  done
  store_description="PostgreSQL database (CONTACTS_DATABASE_URL)"
else
  store_args=(--data-dir "$data_dir")
  if [ ! -s "$data_dir/journal.jsonl" ]; then
    log "preparing $data_dir with demo users and queues"
    for kind in users queues; do
      "$binary" import "$kind" "$CONTACTS_ROOT/deploy/demo/$kind.json" "${store_args[@]}" --by demo >&2
    done
  fi
  store_description=$data_dir
fi
conf=$("$CONTACTS_ROOT/deploy/render-nginx.sh" "$runtime" "$socket" "$http_port" "$https_port")

group_args=()
user=$(nginx_user)
[ -n "$user" ] && group_args=(--socket-group "$user")
# Pushed events: nginx (nchan) publishes on a socket in its runtime folder.
events_args=()
events_enabled && events_args=(--events-socket "$runtime/events.sock")

pids=()
stop() {
  local code=${1:-0}
  trap - INT TERM
  log "stopping"
  [ -s "$runtime/nginx.pid" ] && kill -QUIT "$(cat "$runtime/nginx.pid")" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  log "stopped"
  exit "$code"
}
trap 'stop 0' INT TERM

"$binary" serve --socket "$socket" --workers "$workers" --change-history "$change_history" "${store_args[@]}" "${group_args[@]}" "${events_args[@]}" &
pids+=($!)
for _ in $(seq 100); do [ -S "$socket" ] && break; sleep 0.05; done
[ -S "$socket" ] || { log "the responder did not start"; stop 1; }

nginx -p "$runtime" -c "$conf" -e "$runtime/error.log" &
pids+=($!)
status=000
for _ in $(seq 200); do
  status=$(curl -s -o /dev/null -w '%{http_code}' -u agent:agent "http://127.0.0.1:$http_port/contacts?limit=1" || true)
  [ "$status" = 200 ] && break
  kill -0 "${pids[1]}" 2>/dev/null || { log "nginx did not start: see $runtime/error.log"; stop 1; }
  sleep 0.05
done
if [ "$status" != 200 ]; then
  log "the stack answers $status instead of 200: see $runtime/error.log"
  [ "$status" = 502 ] && log "(can nginx's user ${user:-?} reach $socket? every folder above it must be searchable)"
  stop 1
fi

cat <<INFO
Contacts API is running
  http://127.0.0.1:$http_port/contacts
  https://127.0.0.1:$https_port/contacts   (self-signed certificate: curl -k)
  dashboard:  http://127.0.0.1:$http_port/dashboard/
  OpenAPI:    http://127.0.0.1:$http_port/contacts/openapi.json
  accounts:   admin/admin (Contact Center Admin), agent/agent (Agent), guest/guest (no role)
  data:       $store_description    workers: $workers    socket: $socket
Stop with Ctrl-C (SIGINT) or SIGTERM.
INFO

# Wait for either to exit; if one dies on its own, stop the other.
while true; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then log "process $pid exited unexpectedly"; stop 1; fi
  done
  sleep 1 &
  wait $! || true
done
