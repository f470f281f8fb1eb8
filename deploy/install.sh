#!/usr/bin/env bash
# Installs the Contacts API on a Debian machine with systemd and nginx, idempotently: run it
# again after an upgrade and it changes only what changed, says so file by file, and says
# "nothing changed" when nothing did.
#
#   deploy/install.sh                    build a release binary, then install (as root)
#   deploy/install.sh --binary PATH      install PATH instead of building
#   deploy/install.sh --root DIR         stage everything under DIR (like DESTDIR): no user is
#                                        created and systemctl is not run
#   deploy/install.sh --uninstall        remove what the installer put there; NEVER the data
#                                        (/var/lib/contacts), /etc/contacts/contacts.json or
#                                        your nginx site files (/etc/nginx/contacts/)
#   --force                              with --uninstall: even if nginx still includes the snippets
#
# What goes where:
#   /usr/local/bin/contacts-fcgi                   the binary
#   /etc/systemd/system/contacts.service           the pool (or contacts.socket +
#   /etc/systemd/system/contacts{.socket,-activated.service}   for socket activation)
#   /etc/contacts/contacts.json                    from deploy/contacts.json.example, only if missing
#   /var/lib/contacts                              the data directory (0700, user contacts)
#   /etc/nginx/snippets/contacts-*.conf            the drop-in snippets
#   /etc/nginx/snippets/contacts-auth/*.conf       the authentication variants
#   /etc/nginx/contacts/*.map                      your CORS origins and role maps, only if missing
#   /usr/share/contacts/                           openapi.json, dashboard/, examples/, README.md
# Product files are replaced when they differ (atomically: temp file + rename, so a running
# binary is never overwritten in place); files that are yours are created once and then left
# alone. A list of the product files is kept in /usr/share/contacts/install-manifest.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

usage() { sed -n '2,/^set -euo pipefail/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

root="" binary="" uninstall=0 force=0
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=${2:?"--root needs a directory"}; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --binary) binary=${2:?"--binary needs a file"}; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    --force) force=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) log "install.sh: unknown argument '$1' (see deploy/install.sh --help)"; exit 64 ;;
  esac
done

staging=0
if [ -n "$root" ]; then
  staging=1
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
  [ "$root" != / ] || root=""
elif [ "$(id -u)" != 0 ]; then
  log "install.sh: run as root (sudo deploy/install.sh), or stage with --root DIR"
  exit 1
fi

service_user=contacts
installed=0 updated=0 unchanged=0 removed=0 created=0
units_changed=0 binary_changed=0 snippets_changed=0
manifest_path=/usr/share/contacts/install-manifest
declare -a manifest=()

report() { printf '%-10s %s\n' "$1" "$2"; }

# make_dir PATH MODE [OWNER:GROUP]: creates PATH (and its parents) if missing; fixes the mode of
# an existing one. Never touches an existing directory's contents or times otherwise.
make_dir() {
  local path=$1 mode=$2 owner=${3:-}
  local target=$root$path
  if [ ! -d "$target" ]; then
    mkdir -p "$target"
    chmod "$mode" "$target"
    [ -n "$owner" ] && [ $staging = 0 ] && chown "$owner" "$target"
    report created "$path/"
    created=$((created + 1))
  elif [ "$(stat -c %a "$target")" != "$mode" ]; then
    chmod "$mode" "$target"
    report updated "$path/ (mode $mode)"
    updated=$((updated + 1))
  fi
  if [ -n "$owner" ] && [ $staging = 0 ] && [ "$(stat -c %U:%G "$target")" != "$owner" ]; then
    chown "$owner" "$target"
    report updated "$path/ (owner $owner)"
    updated=$((updated + 1))
  fi
}

# install_file SOURCE PATH MODE: a product file, replaced whenever its content differs.
# Prints installed / updated / unchanged; returns 0 if it changed the file, 1 if not.
install_file() {
  local source=$1 path=$2 mode=$3
  local target=$root$path
  manifest+=("$path")
  if [ -f "$target" ] && cmp -s "$source" "$target"; then
    if [ "$(stat -c %a "$target")" != "$mode" ]; then
      chmod "$mode" "$target"
      report updated "$path (mode $mode)"
      updated=$((updated + 1))
      return 0
    fi
    report unchanged "$path"
    unchanged=$((unchanged + 1))
    return 1
  fi
  local state=installed
  [ -e "$target" ] && state=updated
  mkdir -p "$(dirname "$target")"
  local temp
  temp=$(mktemp "$(dirname "$target")/.$(basename "$target").XXXXXX")
  cp "$source" "$temp"
  chmod "$mode" "$temp"
  [ $staging = 0 ] && chown root:root "$temp"
  mv -f "$temp" "$target"
  report "$state" "$path"
  if [ "$state" = installed ]; then installed=$((installed + 1)); else updated=$((updated + 1)); fi
  return 0
}

# keep_or_seed SOURCE PATH MODE [GROUP]: a file that is the admin's: created from SOURCE if
# missing, otherwise never touched.
keep_or_seed() {
  local source=$1 path=$2 mode=$3 group=${4:-root}
  local target=$root$path
  if [ -e "$target" ]; then
    report kept "$path (yours: never overwritten)"
    return
  fi
  mkdir -p "$(dirname "$target")"
  cp "$source" "$target"
  chmod "$mode" "$target"
  [ $staging = 0 ] && chown "root:$group" "$target"
  report installed "$path (from $(basename "$source"); edit it, it is yours)"
  installed=$((installed + 1))
}

# The product files, as "SOURCE PATH MODE" lines (SOURCE relative to the checkout).
product_files() {
  echo "- /usr/local/bin/contacts-fcgi 755"  # the binary: SOURCE given separately
  local unit snippet file
  for unit in contacts.service contacts.socket contacts-activated.service; do
    echo "deploy/systemd/$unit /etc/systemd/system/$unit 644"
  done
  for snippet in "$CONTACTS_ROOT"/nginx/contacts-*.conf; do
    echo "nginx/${snippet##*/} /etc/nginx/snippets/${snippet##*/} 644"
  done
  for file in "$CONTACTS_ROOT"/nginx/auth/*.conf; do
    echo "nginx/auth/${file##*/} /etc/nginx/snippets/contacts-auth/${file##*/} 644"
  done
  echo "nginx/openapi.json /usr/share/contacts/openapi.json 644"
  (cd "$CONTACTS_ROOT/nginx" && find dashboard -type f ! -name '.*' ! -name '*.md' | LC_ALL=C sort) \
    | while read -r file; do echo "nginx/$file /usr/share/contacts/$file 644"; done
  echo "nginx/examples/contacts-https-server.conf /usr/share/contacts/examples/contacts-https-server.conf 644"
  echo "deploy/contacts.json.example /usr/share/contacts/examples/contacts.json.example 644"
  echo "README.md /usr/share/contacts/README.md 644"
}

systemd_running() { [ $staging = 0 ] && [ -d /run/systemd/system ]; }

nginx_includes_snippets() {
  [ -d "$root/etc/nginx" ] || return 1
  grep -rlE --exclude-dir=snippets --exclude-dir=contacts 'snippets/contacts-' "$root/etc/nginx" 2>/dev/null
}

uninstall() {
  local includers
  if includers=$(nginx_includes_snippets) && [ $force = 0 ]; then
    log "install.sh: nginx still includes the Contacts snippets in:"
    log "$includers"
    log "remove those includes (then nginx -t && systemctl reload nginx) first, or pass --force"
    exit 1
  fi
  if systemd_running; then
    local unit
    for unit in contacts.socket contacts.service contacts-activated.service; do
      if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit" 2>/dev/null; then
        systemctl disable --now "$unit" >/dev/null 2>&1 || true
        report stopped "$unit"
      fi
    done
  fi
  local -a paths=()
  local source path mode
  while read -r source path mode; do paths+=("$path"); done < <(product_files)
  if [ -f "$root$manifest_path" ]; then
    while read -r path; do [ -n "$path" ] && paths+=("$path"); done <"$root$manifest_path"
  fi
  paths+=("$manifest_path")
  local units_removed=0
  for path in $(printf '%s\n' "${paths[@]}" | LC_ALL=C sort -u); do
    if [ -e "$root$path" ] || [ -L "$root$path" ]; then
      rm -f "$root$path"
      report removed "$path"
      removed=$((removed + 1))
      case $path in /etc/systemd/system/*) units_removed=1 ;; esac
    fi
  done
  # The folders that were the product's alone, once empty.
  local dir
  for dir in /usr/share/contacts /etc/nginx/snippets/contacts-auth; do
    [ -d "$root$dir" ] || continue
    find "$root$dir" -depth -type d -empty -delete
    [ -d "$root$dir" ] || report removed "$dir/"
  done
  if systemd_running && [ $units_removed = 1 ]; then
    systemctl daemon-reload
    report reloaded "systemd (daemon-reload)"
  fi
  report kept "/var/lib/contacts (your data: never removed by the installer)"
  report kept "/etc/contacts/contacts.json (your configuration: never removed by the installer)"
  report kept "/etc/nginx/contacts/ (your nginx site files: htpasswd, role maps, CORS origins)"
  [ $staging = 0 ] && report kept "user and group '$service_user' (owner of the data)"
  echo "uninstalled: $removed files removed. To remove your data and configuration too:"
  if [ $staging = 1 ]; then
    echo "  rm -r $root/var/lib/contacts $root/etc/contacts $root/etc/nginx/contacts"
  else
    echo "  rm -r /var/lib/contacts /etc/contacts /etc/nginx/contacts && userdel $service_user"
  fi
}

if [ $uninstall = 1 ]; then
  uninstall
  exit 0
fi

# The binary: given, or built in release mode (installing the build's packages if missing).
if [ $staging = 0 ]; then
  # libpq for the PostgreSQL store, zlib for compressed listings; nchan holds the pushed-event
  # streams (Debian enables it in /etc/nginx/modules-enabled/).
  ensure_packages libfcgi-dev libpq-dev zlib1g-dev nginx libnginx-mod-nchan pkg-config
fi
if [ -z "$binary" ]; then
  if [ $staging = 1 ]; then ensure_packages libfcgi-dev libpq-dev zlib1g-dev pkg-config; fi
  log "building contacts-fcgi (release)…"
  binary=$(build_service release)
fi
[ -x "$binary" ] || { log "install.sh: $binary is not an executable"; exit 1; }

# The service's user: a system account with no shell and no home of its own.
if [ $staging = 0 ]; then
  if ! getent group "$service_user" >/dev/null; then
    groupadd --system "$service_user"
    report created "group $service_user"
    created=$((created + 1))
  fi
  if ! getent passwd "$service_user" >/dev/null; then
    useradd --system --gid "$service_user" --home-dir /var/lib/contacts --no-create-home \
      --shell /usr/sbin/nologin --comment "Contacts API" "$service_user"
    report created "user $service_user"
    created=$((created + 1))
  fi
fi

make_dir /etc/contacts 755
make_dir /var/lib/contacts 700 "$service_user:$service_user"
make_dir /etc/nginx/contacts 755

old_manifest=""
[ -f "$root$manifest_path" ] && old_manifest=$(cat "$root$manifest_path")

while read -r source path mode; do
  [ "$source" = - ] && source=$binary || source=$CONTACTS_ROOT/$source
  if install_file "$source" "$path" "$mode"; then
    case $path in
      /etc/systemd/system/*) units_changed=1 ;;
      /usr/local/bin/*) binary_changed=1 ;;
      /etc/nginx/*) snippets_changed=1 ;;
    esac
  fi
done < <(product_files)

# Files the admin edits: seeded once, never overwritten.
keep_or_seed "$CONTACTS_ROOT/deploy/contacts.json.example" /etc/contacts/contacts.json 640 "$service_user"
for file in "$CONTACTS_ROOT"/deploy/nginx-site/*.map; do
  keep_or_seed "$file" "/etc/nginx/contacts/${file##*/}" 644
done

# Whether PATH is one of the files this run installed. (A loop, not printf | grep -q: under
# pipefail, grep -q leaving early can fail the pipe with SIGPIPE and read as "not found".)
in_manifest() {
  local entry
  for entry in "${manifest[@]}"; do [ "$entry" = "$1" ] && return 0; done
  return 1
}

# Product files an earlier version installed that this one no longer ships.
if [ -n "$old_manifest" ]; then
  while read -r path; do
    [ -n "$path" ] || continue
    if ! in_manifest "$path" && [ -e "$root$path" ]; then
      rm -f "$root$path"
      report removed "$path (no longer shipped)"
      removed=$((removed + 1))
    fi
  done <<<"$old_manifest"
fi
manifest_file=$(mktemp)
trap 'rm -f "$manifest_file"' EXIT
printf '%s\n' "${manifest[@]}" >"$manifest_file"
if [ "$(cat "$manifest_file")" != "$old_manifest" ]; then
  mkdir -p "$(dirname "$root$manifest_path")"
  cp "$manifest_file" "$root$manifest_path"
  chmod 644 "$root$manifest_path"
fi

# The configuration must be valid, or the service will not start (ExecStartPre checks it too).
if ! check=$("$root/usr/local/bin/contacts-fcgi" config check "$root/etc/contacts/contacts.json" 2>&1); then
  log "install.sh: /etc/contacts/contacts.json is not valid:"
  log "$check"
  exit 1
fi

if [ $units_changed = 1 ]; then
  if [ $staging = 1 ]; then
    :
  elif systemd_running; then
    systemctl daemon-reload
    report reloaded "systemd (daemon-reload)"
  else
    report skipped "systemctl daemon-reload (systemd is not running as PID 1)"
  fi
fi

changes=$((installed + updated + removed + created))
[ $staging = 1 ] && echo "staged under $root (no user created, systemctl not run)"
if [ $changes = 0 ]; then
  echo "nothing changed: everything was already installed ($unchanged files unchanged)"
  exit 0
fi
echo "done: $installed installed, $updated updated, $removed removed, $created created, $unchanged unchanged"
if [ $staging = 0 ]; then
  echo "next:"
  if ! systemctl is-enabled --quiet contacts.service 2>/dev/null && ! systemctl is-enabled --quiet contacts.socket 2>/dev/null; then
    echo "  systemctl enable --now contacts            # start the pool (or contacts.socket, see the README)"
  elif [ $units_changed = 1 ]; then
    echo "  systemctl restart contacts                 # the unit changed"
  elif [ $binary_changed = 1 ]; then
    echo "  systemctl reload contacts                  # new binary: workers replaced one by one"
  fi
  [ $snippets_changed = 1 ] && echo "  nginx -t && systemctl reload nginx         # the snippets changed"
fi
exit 0
