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

# What the service itself needs on a machine: the FastCGI library, nginx, openssl for the
# local certificate, pkg-config for SwiftPM to find libfcgi.
STACK_PACKAGES=(libfcgi-dev nginx openssl pkg-config)

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
