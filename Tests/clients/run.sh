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
source "$root/deploy/lib.sh"
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

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_run_stack "$stack_pid" stack
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
http_port=$(free_port)
https_port=$(free_port)
while [ "$https_port" = "$http_port" ]; do https_port=$(free_port); done
base_url=http://127.0.0.1:$http_port

log "starting the stack on $base_url (data in $tmp/data; log in $out/stack.log)"
start_run_stack "$out/stack.log" "$http_port" "$https_port" "$tmp"
stack_pid=$RUN_STACK_PID
# The first run builds the service in release mode (minutes); later ones start in seconds.
wait_for_run_stack "$stack_pid" "$base_url" "$out/stack.log" 900 || exit 1
log "the stack answers after $(( $(date +%s) - started_at )) s"

# ---------------------------------------------------------------------------- (c) the test
set +e
(cd "$tmp" && "$tmp/venv/bin/python" "$root/Tests/clients/python_client_test.py" --base-url "$base_url")
status=$?
set -e
exit "$status"
