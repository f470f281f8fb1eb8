#!/usr/bin/env bash
# The soak test: the pool under load through nginx while workers are killed, the pool and nginx
# reloaded (and, with --store postgres, the database restarted), checked for failed requests,
# lost writes, leaks and damage. A test: exit 1 on any of them.
#
#   deploy/soak.sh [--minutes N | --seconds N] [--store postgres] [--workers N] [--keep]
#
# Default 10 minutes on a data directory. Installs what is missing (as root), builds the release
# binary (or uses CONTACTS_FCGI_BINARY, as deploy/test.sh does with the debug build), then runs
# deploy/soak/soak.py, which starts its own stack on free 127.0.0.1 ports in a temp folder and
# stops it at the end; with --store postgres a private PostgreSQL cluster (deploy/lib.sh) in a
# temp folder too, stopped at the end. What it checks: see deploy/soak/soak.py.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

seconds=600 store=files args=()
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) seconds=$(( $2 * 60 )); shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --store) store=$2; shift 2 ;;
    --workers) args+=(--workers "$2"); shift 2 ;;
    --keep) args+=(--keep); shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown option: $1 (see --help)"; exit 2 ;;
  esac
done
case $store in
  files | postgres) ;;
  *) log "--store is files or postgres"; exit 2 ;;
esac

packages=("${STACK_PACKAGES[@]}")
[ "$store" = postgres ] && packages+=(postgresql)
ensure_packages "${packages[@]}"
binary=${CONTACTS_FCGI_BINARY:-$(build_service release)}

if [ "$store" = postgres ]; then
  postgres_dir=$(mktemp -d /tmp/contacts-soak-pg.XXXXXX)
  chmod 0755 "$postgres_dir"
  trap 'stop_private_postgres "$postgres_dir/cluster"; rm -rf "$postgres_dir"' EXIT
  url=$(start_private_postgres "$postgres_dir/cluster")
  "$binary" migrate --database-url "$url" >&2
  args+=(--database-url "$url")
  export SOAK_DB_RESTART="source '$CONTACTS_ROOT/deploy/lib.sh'; restart_private_postgres '$postgres_dir/cluster'"
fi

python3 "$CONTACTS_ROOT/deploy/soak/soak.py" --binary "$binary" --seconds "$seconds" "${args[@]}"
