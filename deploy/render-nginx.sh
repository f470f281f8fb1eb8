#!/usr/bin/env bash
# Renders nginx/local/nginx.conf.template into RUNTIME/nginx.conf, with RUNTIME's temp folders
# and a self-signed certificate made on first use.
#
#   deploy/render-nginx.sh RUNTIME SOCKET HTTP_PORT HTTPS_PORT [EXTRA_FILE [EXTRA_HTTP_FILE]]
#
# EXTRA_FILE holds lines for the server block, EXTRA_HTTP_FILE lines for the http block
# (tests add locations and servers with them).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

runtime=$1 socket=$2 http_port=$3 https_port=$4 extra_file=${5:-} extra_http_file=${6:-}
mkdir -p "$runtime/tmp" "$runtime/tls" "$runtime/snippets"
# Every nginx/contacts-*.conf, as install.sh installs them under /etc/nginx/snippets/.
for snippet in "$CONTACTS_ROOT"/nginx/contacts-*.conf; do
  ln -sf "$snippet" "$runtime/snippets/${snippet##*/}"
done

if [ ! -s "$runtime/tls/cert.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$runtime/tls/key.pem" -out "$runtime/tls/cert.pem" 2>/dev/null
  chmod 600 "$runtime/tls/key.pem"
fi

extra="" extra_http=""
[ -n "$extra_file" ] && extra=$(cat "$extra_file")
[ -n "$extra_http_file" ] && extra_http=$(cat "$extra_http_file")
user=$(nginx_user)

# Pushed events when nginx has the nchan module: the module, the subscriber locations, and the
# publisher's server on a unix socket in RUNTIME (the service is started with --events-socket).
load_modules="" events="" events_http=""
if events_enabled; then
  load_modules="load_module $NCHAN_MODULE;"
  events="include snippets/contacts-events.conf;"
  events_http="upstream contacts_events {
        server unix:$runtime/events.sock;
    }
    server {
        listen unix:$runtime/events.sock;
        access_log off;
        include snippets/contacts-events-server.conf;
    }"
fi

CONTACTS_EXTRA="$extra" CONTACTS_EXTRA_HTTP="$extra_http" CONTACTS_LOAD_MODULES="$load_modules" \
  CONTACTS_EVENTS_SERVER="$events" CONTACTS_EVENTS_HTTP="$events_http" python3 - "$CONTACTS_ROOT/nginx/local/nginx.conf.template" "$runtime/nginx.conf" \
  "$runtime" "$CONTACTS_ROOT/nginx" "$socket" "$http_port" "$https_port" "$user" <<'PY'
import os, sys
template, out, runtime, nginx_dir, socket, http_port, https_port, user = sys.argv[1:]
lines = open(template).read().split("\n")
values = {"@RUNTIME@": runtime, "@NGINX_DIR@": nginx_dir, "@SOCKET@": socket,
                   "@HTTP_PORT@": http_port, "@HTTPS_PORT@": https_port,
                   "@EXTRA_HTTP@": os.environ.get("CONTACTS_EXTRA_HTTP", ""),
                   "@EXTRA@": os.environ.get("CONTACTS_EXTRA", ""),
                   "@LOAD_MODULES@": os.environ.get("CONTACTS_LOAD_MODULES", ""),
                   "@EVENTS_HTTP@": os.environ.get("CONTACTS_EVENTS_HTTP", ""),
                   "@EVENTS@": os.environ.get("CONTACTS_EVENTS_SERVER", "")}
def render(line):
    if line.lstrip().startswith("#"):
        return line  # the template's comments name the placeholders
    for key, value in values.items():
        line = line.replace(key, value)
    return line
text = "\n".join(render(line) for line in lines)
if user:
    text = "user %s;\n" % user + text
open(out, "w").write(text)
PY
echo "$runtime/nginx.conf"
