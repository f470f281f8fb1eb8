# Shared by deploy/run.sh, deploy/test.sh and deploy/bench.sh. Source it; do not run it.

CONTACTS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '%s\n' "$*" >&2; }

# Installs the Debian packages the stack needs, only those missing (apt-get as root).
ensure_packages() {
  local missing=()
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing packages: ${missing[*]} (run as root, or install them with apt-get)"
    return 1
  fi
  log "installing: ${missing[*]}"
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] \
    || ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# What the service itself needs on a machine: the FastCGI library, libpq (the PostgreSQL store),
# zlib (listings compressed once per data generation), nginx with its nchan module (pushed
# events), openssl for the local certificate, pkg-config for SwiftPM to find the libraries.
STACK_PACKAGES=(libfcgi-dev libpq-dev zlib1g-dev nginx libnginx-mod-nchan openssl pkg-config)

# Builds contacts-fcgi; prints the binary's path.
build_service() {
  local configuration=${1:-release}
  (cd "$CONTACTS_ROOT" && swift build -c "$configuration" --product contacts-fcgi >&2)
  printf '%s\n' "$CONTACTS_ROOT/.build/$configuration/contacts-fcgi"
}

# The nginx worker user when we run as root (it must reach the 0660 socket through its group).
nginx_user() {
  if [ "$(id -u)" = 0 ] && getent passwd www-data >/dev/null; then echo www-data; fi
}

# PostgreSQL's server binaries (Debian keeps them out of PATH).
postgres_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# Starts a private PostgreSQL cluster in DIR: initdb as the unprivileged "postgres" user, a unix
# socket in DIR and no TCP listener, a database "contacts". Never a system service. Prints the
# database URL. Stop it with stop_private_postgres DIR.
start_private_postgres() {
  local dir=$1 bin
  bin=$(postgres_bin)
  [ -n "$bin" ] || { log "PostgreSQL is not installed (apt-get install postgresql)"; return 1; }
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 0755 "$dir"
  runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U contacts -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -s \
    -o "-k $dir -c listen_addresses='' -c max_connections=200" start >&2
  runuser -u postgres -- "$bin/createdb" -h "$dir" -U contacts contacts
  printf 'postgresql:///contacts?host=%s&user=contacts\n' "$dir"
}

# Restarts the private cluster in DIR (fast shutdown: sessions are cut, as in a failover).
restart_private_postgres() {
  local dir=$1
  runuser -u postgres -- "$(postgres_bin)/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -m fast -w -s \
    -o "-k $dir -c listen_addresses='' -c max_connections=200" restart >&2
}

stop_private_postgres() {
  local dir=$1
  [ -d "$dir/data" ] || return 0
  runuser -u postgres -- "$(postgres_bin)/pg_ctl" -D "$dir/data" -m fast -w -s stop >&2 || true
}

# nginx's nchan module (Debian: libnginx-mod-nchan), which holds the pushed-event streams.
NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so

# Whether the local stack serves pushed events: the module is installed and CONTACTS_EVENTS is
# not "off" (tests turn it off to check the 501 fallback).
events_enabled() {
  [ "${CONTACTS_EVENTS:-on}" != off ] && [ -f "$NCHAN_MODULE" ]
}

# ---- For test scripts that drive deploy/run.sh as a user would (Tests/browser, Tests/clients).

# A TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts deploy/run.sh in the background, in a session of its own (setsid: its own process
# group; a background job of a non-interactive shell is no group leader, so setsid does not
# fork and RUN_STACK_PID is run.sh itself):
#   start_run_stack LOG HTTP_PORT HTTPS_PORT FOLDER [VARIABLE=VALUE …]
# Data and socket go in FOLDER (traversable by nginx's workers); extra variables as given.
start_run_stack() {
  local log_file=$1 http=$2 https=$3 folder=$4
  shift 4
  env CONTACTS_DATA_DIR="$folder/data" CONTACTS_HTTP_PORT="$http" CONTACTS_HTTPS_PORT="$https" \
    CONTACTS_SOCKET="$folder/contacts.sock" CONTACTS_WORKERS=2 "$@" \
    setsid "$CONTACTS_ROOT/deploy/run.sh" >"$log_file" 2>&1 </dev/null &
  RUN_STACK_PID=$!
}

# Waits until the stack answers an agent's GET /contacts with 200:
#   wait_for_run_stack PID URL LOG SECONDS
# Returns 1 (after printing the end of LOG) if it exited first or took longer than SECONDS.
wait_for_run_stack() {
  local pid=$1 url=$2 log_file=$3 seconds=$4
  local deadline=$(($(date +%s) + seconds))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -u agent:agent "$url/contacts" 2>/dev/null)" = 200 ]; do
    if ! kill -0 "$pid" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
      log "the stack on $url did not answer (exited, or over $seconds s); the end of $log_file:"
      tail -n 30 "$log_file" >&2
      return 1
    fi
    sleep 0.5
  done
}

# Stops a stack started by start_run_stack: SIGTERM, then its whole process group after 15 s.
#   stop_run_stack PID NAME
stop_run_stack() {
  local pid=$1 name=$2
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then return 0; fi
  log "stopping the $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "the $name did not stop within 15 s; killing its process group"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
}
