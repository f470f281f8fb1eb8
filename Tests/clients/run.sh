#!/usr/bin/env bash
# A generated client works: generates a Python client from nginx/openapi.json with
# openapi-python-client (PyPI, pinned below), installs it into a fresh virtual environment, starts
# the real stack (deploy/run.sh) on free 127.0.0.1 ports with a temporary data directory, drives
# every operation of the document through the client (Tests/clients/python_client_test.py), and
# stops the stack (always). Exits with the test's status; a generator warning fails it too (a
# warning means a model or an operation is missing or untyped in the generated client).
#
#   bash Tests/clients/run.sh
#
# Needs python3 with venv and network access to PyPI (the generator and the client's httpx and
# attrs; pip's cache serves later runs). The generated client, the generator's output and the
# stack's log go to test-output/clients/.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/test-output/clients
generator_version=0.29.1
log() { printf 'clients-test: %s\n' "$*" >&2; }
started_at=$(date +%s)

rm -rf "$out"
mkdir -p "$out"
tmp=$(mktemp -d /tmp/contacts-clients-test.XXXXXX)
# nginx's workers (www-data when run as root) must reach the socket inside: traversable.
chmod 711 "$tmp"
stack_pid=""
http_port=""

stop_stack() {
  if [ -z "$stack_pid" ] || ! kill -0 "$stack_pid" 2>/dev/null; then return 0; fi
  log "stopping the stack (pid $stack_pid)"
  kill -TERM "$stack_pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$stack_pid" 2>/dev/null; then
    log "the stack did not stop within 15 s; killing its process group"
    kill -KILL -- "-$stack_pid" 2>/dev/null || true
  fi
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_stack
  # deploy/run.sh keeps nginx's runtime folder per port; this port's is ours alone.
  if [ -n "$http_port" ] && [ ! -s "$root/.run/nginx-$http_port/nginx.pid" ]; then
    rm -rf "$root/.run/nginx-$http_port"
  fi
  rm -rf "$tmp"
  log "total runtime $(( $(date +%s) - started_at )) s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------- (a) the client
log "installing openapi-python-client $generator_version into a virtual environment"
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q "openapi-python-client==$generator_version"
# The venv's bin first: the generator formats its output with the ruff it brought.
export PATH=$tmp/venv/bin:$PATH

log "generating the client from nginx/openapi.json"
mkdir -p "$tmp/generated"
(cd "$tmp/generated" && openapi-python-client generate --path "$root/nginx/openapi.json" --meta setup) \
  > "$out/generator.log" 2>&1 || { cat "$out/generator.log" >&2; log "the generator failed"; exit 1; }
cat "$out/generator.log" >&2
if grep -qi "warning" "$out/generator.log"; then
  log "the generator warned (see above): the document must generate a complete, typed client"
  exit 1
fi
cp -r "$tmp/generated/contacts-api-client" "$out/contacts-api-client"
"$tmp/venv/bin/python" -m pip install -q "$tmp/generated/contacts-api-client"

# ---------------------------------------------------------------------------- (b) the stack
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
http_port=$(free_port)
https_port=$(free_port)
while [ "$https_port" = "$http_port" ]; do https_port=$(free_port); done
base_url=http://127.0.0.1:$http_port

log "starting the stack on $base_url (data in $tmp/data; log in $out/stack.log)"
# setsid: the stack gets its own session and process group; $! is deploy/run.sh itself.
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
(cd "$tmp" && "$tmp/venv/bin/python" "$root/Tests/clients/python_client_test.py" --base-url "$base_url")
status=$?
set -e
exit "$status"
