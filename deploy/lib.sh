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
# nginx with its nchan module (pushed events), openssl for the local certificate, pkg-config for
# SwiftPM to find both libraries.
STACK_PACKAGES=(libfcgi-dev libpq-dev nginx libnginx-mod-nchan openssl pkg-config)

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
