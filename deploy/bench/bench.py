#!/usr/bin/env python3
"""The end-to-end benchmark of issue 6; run it through deploy/bench.sh (which installs and builds).

For each data size N it starts a stack of its own, on free loopback ports in a fresh temp folder:
a copy of the release binary running `contacts-fcgi serve` (the workers, as deploy/run.sh starts
them), deploy/bench/fixed-responder.c compiled and running on a second socket, and nginx rendered
from nginx/local/nginx.conf.template by deploy/render-nginx.sh with extra server-level locations:

    /bench/listing.json   the listing's exact bytes, as a static file (same server, same auth)
    /bench/listing-gzip.json   the responder's gzip bytes of the listing, as listing-gzip.json.gz
                          served by nginx's gzip_static (same server, same auth)
    /bench/fixed          fastcgi_pass to the fixed 88-byte responder (same server, same auth)
    /bench/nothing        204 from nginx, which the seeding script uses as a no-op

It seeds N custom contacts over HTTP as admin (wrk with a Lua script), then measures with wrk
(-t1 -c16 --latency, agent's basic auth): the static file and GET /contacts side by side, the
same with Accept-Encoding: gzip (gzip_static of the responder's gzip bytes, and GET /contacts
answered from the responder's cached gzip bytes), a one-match filter, GET /contacts/{id}, a 304 with If-None-Match, the fixed responder, a sorted
listing's 304 (sortBy=lastName,firstName&order=desc&limit=100), the change feed (a 304 for the
current cursor; the 10 changes since the cursor taken before the last 10 contacts were written one
by one) and the replay of a POST /contacts made once with an Idempotency-Key (admin); then each
worker's RSS, a worker's start-up (STARTUP_RELOADS SIGHUPs, from the responder's log; the slowest
new worker of each, and their median), the disk's append+fdatasync
rate, POST /contacts with 16 connections, and a few POST /contacts/_bulk of 1,000 creates
(contacts committed per second). Everything it starts is stopped in a `finally`.

With --store postgres (or both) the same is done against the PostgreSQL store: deploy/bench.sh
starts a private cluster (start_private_postgres) and passes its URL; each size gets a database
of its own in it (created, migrated with `contacts-fcgi migrate`, dropped at the end), and the
workers serve it with --database-url. Instead of the disk's fdatasync rate, the POST reference is
PostgreSQL's own single-row INSERT + COMMIT rate, measured with pgbench on the same cluster (a
table of its own, synchronous_commit on, as many clients as the POST scenario has connections).
With both stores, each size runs the data directory's stack then PostgreSQL's, and a table puts
them side by side.

It prints a table per N and a summary of every target with PASS/MISS, and writes
test-output/bench/bench-<date>.txt and test-output/bench/summary-<date>.json. It exits 0 unless
something broke: a MISS is a figure, not a failure. Python standard library only.
"""

import argparse
import base64
import datetime
import gzip
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
from proc_tools import children_of, free_port, http_request, rss_kib  # noqa: E402
ADMIN = "Basic " + base64.b64encode(b"admin:admin").decode()
AGENT = "Basic " + base64.b64encode(b"agent:agent").decode()
FIXED_BODY_BYTES = 88
POST_CONNECTIONS = 16
# The change feed: the last CHANGES_WRITES contacts of the N are written one by one after taking
# the cursor, so `_changes?since=<that cursor>` answers that many changes (the last write carries
# an Idempotency-Key: its replay is the replay scenario).
CHANGES_WRITES = 10
BULK_OPERATIONS = 1000  # creates per POST /contacts/_bulk (the API's maximum)
# SIGHUP reloads per size: the start-up figure is the median of each reload's slowest new worker
# (one reload on this VM is one sample of its stalls: a median of 3 says what a reload usually
# costs, and every reload's figures are printed beside it).
STARTUP_RELOADS = 3
BULK_TARGET = 20000  # contacts committed per second through _bulk, data directory
SORTED_QUERY = "sortBy=lastName,firstName&order=desc&limit=100"
STORES = {"data": "data directory", "postgres": "PostgreSQL"}

# Scenario keys, in the order they run and are printed, with their labels.
GET_SCENARIOS = ["static", "listing", "static_gzip", "listing_gzip", "filter", "fixed", "by_id", "not_modified", "sorted_not_modified",
                 "changes_not_modified", "changes", "replay"]
LABELS = {
    "static": "static file, same bytes (nginx)",
    "listing": "GET /contacts",
    "static_gzip": "gzip_static, same gzip bytes (nginx)",
    "listing_gzip": "GET /contacts, Accept-Encoding: gzip",
    "filter": "GET /contacts?type=Custom&name=… (1)",
    "fixed": "fixed 88-byte responder (floor)",
    "by_id": "GET /contacts/{id}",
    "not_modified": "GET /contacts If-None-Match (304)",
    "sorted_not_modified": "GET /contacts?sortBy=…&limit=100 304",
    "changes_not_modified": "GET _changes?since=<now> (304)",
    "changes": f"GET _changes ({CHANGES_WRITES} changes)",
    "replay": "POST Idempotency-Key replay (admin)",
    "post": "POST /contacts (16 connections)",
}


class BenchError(Exception):
    """Something broke: the benchmark cannot go on (exit 1)."""


# ---------------------------------------------------------------------------------------------
# Output: everything printed also goes to the text file.

class Report:
    def __init__(self):
        self.lines = []

    def __call__(self, text=""):
        print(text, flush=True)
        self.lines.append(text)

    def text(self):
        return "\n".join(self.lines) + "\n"


say = Report()


def note(text):
    """Progress on stderr (not in the report)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Small helpers (and deploy/proc_tools.py)

def parent_pid(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("PPid:"):
                return int(line.split()[1])
    raise BenchError(f"no parent for {pid}")


def rfc3339(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def fmt_us(microseconds):
    if microseconds is None:
        return "-"
    if microseconds >= 1000:
        return f"{microseconds / 1000:.2f} ms"
    return f"{microseconds:.0f} µs"


def fmt_int(value):
    return "-" if value is None else f"{value:,.0f}"


def stop_process(process, first_signal, name, grace=10.0):
    """Signal one process we started; after the grace period, kill its process group (started
    with start_new_session, so the group holds only what it started)."""
    if process is None or process.poll() is not None:
        return
    try:
        os.kill(process.pid, first_signal)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        note(f"{name} ({process.pid}) did not stop in {grace:.0f} s; killing its process group")
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------------------------------------
# wrk and its Lua scripts

LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"mean_us":%.1f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
  local created, failed = 0, 0
  for _, t in ipairs(threads) do
    created = created + (t:get("created") or 0)
    failed = failed + (t:get("failed") or 0)
  end
  io.write(string.format(',"created":%.0f,"failed":%.0f}\n', created, failed))
  io.flush()
end
"""

LUA_THREADS = r"""
threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("slot", #threads)
end
"""


def lua_string(value):
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII text


def get_script():
    return LUA_THREADS + LUA_DONE


def post_script(prefix):
    """POST /contacts with a unique body per request (for the POST scenario)."""
    return LUA_THREADS + f"""
local auth = {lua_string(ADMIN)}
local prefix = {lua_string(prefix)}
counter = 0
created = 0
failed = 0
function request()
  counter = counter + 1
  local body = string.format('{{"name":"%s %d %d","phoneNumber":"+1 555 %07d"}}', prefix, slot, counter, counter % 10000000)
  return wrk.format("POST", "/contacts", {{["Host"] = wrk.headers["Host"], ["Authorization"] = auth,
    ["Content-Type"] = "application/json"}}, body)
end
function response(status, headers, body)
  if status == 201 then created = created + 1 else failed = failed + 1 end
end
""" + LUA_DONE


def replay_script(body, key):
    """The same POST /contacts with the same Idempotency-Key every time: after the first, each is a
    replay of the kept answer (201, Idempotent-Replayed: true). Authorization comes with -H."""
    return LUA_THREADS + f"""
wrk.method = "POST"
wrk.body = {lua_string(body)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Idempotency-Key"] = {lua_string(key)}
""" + LUA_DONE


def seed_script(ranges):
    """POSTs contacts "Contact <i % 9973> <i>" for i in each thread's range, then stops the thread
    and says so on stdout (wrk's main thread only notices at the end of -d, so bench.py sends it
    SIGINT once every thread has said so). Once a thread has sent its share it keeps its
    connections busy with /bench/nothing (204 from nginx) until the last answer arrives."""
    starts = ", ".join(str(start) for start, _ in ranges)
    counts = ", ".join(str(count) for _, count in ranges)
    return LUA_THREADS + f"""
local auth = {lua_string(ADMIN)}
local starts = {{{starts}}}
local counts = {{{counts}}}
created = 0
failed = 0
function init(args)
  first = starts[slot]
  share = counts[slot]
  sent = 0
  answered = 0
  finished = false
  verifying = slot == 1
  if share == 0 then finished = true; io.write("BENCH_THREAD_DONE\\n"); io.flush(); wrk.thread:stop() end
end
function request()
  if verifying then
    -- wrk 4 calls request() once in the first thread before sending anything, to check it.
    verifying = false
    return wrk.format("GET", "/bench/nothing", {{["Host"] = wrk.headers["Host"], ["Authorization"] = auth}})
  end
  if sent < share then
    local index = first + sent
    sent = sent + 1
    local body = string.format('{{"name":"Contact %d %d","phoneNumber":"+1 555 %07d"}}', index % 9973, index, index)
    return wrk.format("POST", "/contacts", {{["Host"] = wrk.headers["Host"], ["Authorization"] = auth,
      ["Content-Type"] = "application/json"}}, body)
  end
  return wrk.format("GET", "/bench/nothing", {{["Host"] = wrk.headers["Host"], ["Authorization"] = auth}})
end
function response(status, headers, body)
  if status == 204 then return end
  answered = answered + 1
  if status == 201 then created = created + 1 else failed = failed + 1 end
  if answered >= share and not finished then
    finished = true
    io.write("BENCH_THREAD_DONE\\n")
    io.flush()
    wrk.thread:stop()
  end
end
""" + LUA_DONE


def parse_wrk(output, what):
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line[len("BENCH_JSON "):])
            seconds = result["duration_us"] / 1e6
            result["rps"] = result["requests"] / seconds if seconds > 0 else 0.0
            result["errors_total"] = sum(result["errors"].values())
            return result
    raise BenchError(f"wrk printed no result for {what}:\n{output[-2000:]}")


def run_wrk(url, script, duration, connections, headers=(), threads=1, timeout=None):
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
               "--timeout", "10s", "-s", str(script)]
    for header in headers:
        command += ["-H", header]
    command.append(url)
    finished = subprocess.run(command, capture_output=True, text=True,
                              timeout=timeout or duration + 60)
    if finished.returncode != 0:
        raise BenchError(f"wrk failed ({finished.returncode}): {finished.stderr.strip()}")
    return parse_wrk(finished.stdout, url), finished.stdout


# ---------------------------------------------------------------------------------------------
# The stack for one size

class Stack:
    def __init__(self, base, binary, fixed_binary, workers, database_url=None):
        self.base = base
        self.database_url = database_url
        self.binary = binary
        self.fixed_binary = fixed_binary
        self.workers = workers
        self.data = base / "data"
        self.socket = base / "contacts.sock"
        self.fixed_socket = base / "fixed.sock"
        self.runtime = base / "nginx"
        self.listing_file = base / "listing.json"
        # gzip_static serves listing-gzip.json.gz for /bench/listing-gzip.json (the .gz beside it).
        self.gzip_listing_file = base / "listing-gzip.json"
        self.responder_log = base / "responder.log"
        self.http_port = free_port()
        self.https_port = free_port()
        self.serve = None
        self.fixed = None
        self.nginx = None
        self._log_handles = []

    def _nginx_user(self):
        if os.geteuid() != 0:
            return None
        try:
            import pwd
            pwd.getpwnam("www-data")
            return "www-data"
        except KeyError:
            return None

    def start(self):
        user = self._nginx_user()
        log = open(self.responder_log, "ab")
        self._log_handles.append(log)
        command = [str(self.binary), "serve", "--socket", str(self.socket), "--workers", str(self.workers)]
        command += ["--database-url", self.database_url] if self.database_url else ["--data-dir", str(self.data)]
        if user:
            command += ["--socket-group", user]
        self.serve = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=log, start_new_session=True)
        for _ in range(200):
            if self.socket.is_socket():
                break
            if self.serve.poll() is not None:
                raise BenchError(f"contacts-fcgi serve exited ({self.serve.returncode}): see {self.responder_log}")
            time.sleep(0.05)
        else:
            raise BenchError("contacts-fcgi serve did not create its socket")

        fixed_log = open(self.base / "fixed-responder.log", "ab")
        self._log_handles.append(fixed_log)
        self.fixed = subprocess.Popen([str(self.fixed_binary), str(self.fixed_socket), str(self.workers)],
                                      stdin=subprocess.DEVNULL, stdout=fixed_log, stderr=fixed_log,
                                      start_new_session=True)
        for _ in range(100):
            if self.fixed_socket.is_socket():
                break
            if self.fixed.poll() is not None:
                raise BenchError("the fixed responder exited at start")
            time.sleep(0.05)
        else:
            raise BenchError("the fixed responder did not create its socket")

        extra = self.base / "extra-locations.conf"
        extra.write_text(
            "# deploy/bench: the comparisons, behind the same server and the same basic auth\n"
            "        location = /bench/listing.json {\n"
            "            default_type \"application/json; charset=utf-8\";\n"
            f"            alias {self.listing_file};\n"
            "        }\n"
            "        location = /bench/listing-gzip.json {\n"
            "            default_type \"application/json; charset=utf-8\";\n"
            "            gzip_static on;\n"
            f"            alias {self.gzip_listing_file};\n"
            "        }\n"
            "        location = /bench/fixed {\n"
            "            include snippets/contacts-params.conf;\n"
            f"            fastcgi_pass unix:{self.fixed_socket};\n"
            "        }\n"
            "        location = /bench/nothing {\n"
            "            return 204;\n"
            "        }\n")
        rendered = subprocess.run(
            [str(ROOT / "deploy/render-nginx.sh"), str(self.runtime), str(self.socket), str(self.http_port),
             str(self.https_port), str(extra)], capture_output=True, text=True)
        if rendered.returncode != 0:
            raise BenchError(f"render-nginx.sh failed: {rendered.stderr.strip()}")
        self.conf = rendered.stdout.strip().splitlines()[-1]
        self.nginx = subprocess.Popen(
            ["nginx", "-p", str(self.runtime), "-c", self.conf, "-e", str(self.runtime / "error.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        status = None
        for _ in range(200):
            if self.nginx.poll() is not None:
                raise BenchError(f"nginx exited: see {self.runtime / 'error.log'}")
            try:
                status, _, _ = http_request(self.http_port, "GET", "/contacts?limit=1",
                                            {"Authorization": AGENT}, timeout=5)
            except OSError:
                status = None
            if status == 200:
                break
            time.sleep(0.05)
        else:
            raise BenchError(f"the stack answers {status} instead of 200: see {self.runtime / 'error.log'}")

    def stop(self):
        stop_process(self.nginx, signal.SIGQUIT, "nginx")
        stop_process(self.fixed, signal.SIGTERM, "fixed responder")
        stop_process(self.serve, signal.SIGTERM, "contacts-fcgi serve", grace=20.0)
        for handle in self._log_handles:
            handle.close()

    def url(self, path):
        return f"http://127.0.0.1:{self.http_port}{path}"

    def worker_pids(self):
        status, _, body = http_request(self.http_port, "GET", "/_contacts/status")
        if status != 200:
            raise BenchError(f"/_contacts/status answered {status}")
        return [worker["pid"] for worker in json.loads(body)["perWorker"]]

    def nginx_worker_pids(self):
        return children_of(self.nginx.pid)

    def fixed_pids(self):
        return children_of(self.fixed.pid)


# ---------------------------------------------------------------------------------------------
# The private PostgreSQL cluster (started and stopped by deploy/bench.sh)

class PostgresCluster:
    """The cluster at `url` (postgresql:///contacts?host=DIR&user=contacts, as
    start_private_postgres prints it): a database per size, psql for small statements, pgbench
    for the INSERT + COMMIT reference."""

    def __init__(self, url):
        self.url = url
        for tool in ("psql", "pgbench"):
            if not shutil.which(tool):
                raise BenchError(f"{tool} is not installed (deploy/bench.sh installs postgresql-contrib)")

    def url_for(self, database):
        parts = urllib.parse.urlsplit(self.url)
        # (urlunsplit would drop the "//" of an empty host: postgresql:///db?host=/socket/dir)
        return f"{parts.scheme}://{parts.netloc}/{database}" + (f"?{parts.query}" if parts.query else "")

    def psql(self, database, sql):
        """Runs `sql`; returns its unaligned, tuples-only output."""
        done = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url_for(database),
                               "-c", sql], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"psql ({sql[:60]}…) failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name):
        self.psql("contacts", f"DROP DATABASE IF EXISTS {name}")
        self.psql("contacts", f"CREATE DATABASE {name}")

    def drop_database(self, name):
        try:
            self.psql("contacts", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except (BenchError, subprocess.TimeoutExpired) as error:
            note(f"could not drop database {name}: {error}")

    def settings(self, database):
        names = ["server_version", "synchronous_commit", "fsync", "wal_sync_method", "shared_buffers",
                 "max_connections"]
        values = self.psql(database, "SELECT name, setting FROM pg_settings WHERE name IN ("
                           + ", ".join(f"'{name}'" for name in names) + ") ORDER BY name")
        return dict(line.split("|", 1) for line in values.splitlines() if "|" in line)

    def insert_commit_rate(self, database, clients, duration, scripts):
        """PostgreSQL's own single-row INSERT + COMMIT rate (pgbench, autocommit, synchronous
        commit on) with `clients` connections, on a table of its own that is dropped afterwards:
        the ceiling for a write path that commits one row per request."""
        self.psql(database, "DROP TABLE IF EXISTS bench_rows; CREATE TABLE bench_rows ("
                  "id bigserial PRIMARY KEY, name text NOT NULL, phone_number text NOT NULL, "
                  "at timestamptz NOT NULL DEFAULT clock_timestamp())")
        script = scripts / "insert-commit.sql"
        script.write_text("INSERT INTO bench_rows (name, phone_number) "
                          "VALUES ('Bench ' || :client_id, '+1 555 0000000');\n")
        environment = dict(os.environ, PGOPTIONS="-c synchronous_commit=on")
        try:
            done = subprocess.run(["pgbench", "-n", "-c", str(clients), "-j", "1", "-T", str(duration),
                                   "-f", str(script), self.url_for(database)],
                                  capture_output=True, text=True, timeout=duration + 60, env=environment)
        finally:
            self.psql(database, "DROP TABLE IF EXISTS bench_rows")
        found = re.search(r"^tps = ([0-9.]+)", done.stdout, re.MULTILINE)
        if done.returncode != 0 or not found:
            raise BenchError(f"pgbench failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-1000:]}")
        return float(found.group(1))


# ---------------------------------------------------------------------------------------------
# Measurements

def seed(stack, count, scripts):
    """Creates `count` custom contacts through the API as admin; returns seconds taken."""
    started = time.monotonic()
    threads = 2 if count >= 2 else 1
    base, extra = divmod(count, threads)
    ranges, start = [], 0
    for index in range(threads):
        share = base + (1 if index < extra else 0)
        ranges.append((start, share))
        start += share
    script = scripts / f"seed-{count}.lua"
    script.write_text(seed_script(ranges))
    deadline = 60 + count / 300  # generous; the SIGINT below normally ends it much sooner
    process = subprocess.Popen(
        ["wrk", f"-t{threads}", "-c16", f"-d{int(deadline)}s", "--timeout", "10s", "-s", str(script),
         stack.url("/contacts")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(deadline + 5, lambda: process.poll() is None and process.send_signal(signal.SIGINT))
    timer.start()
    output = []
    done = 0
    try:
        for line in process.stdout:
            output.append(line)
            if line.startswith("BENCH_THREAD_DONE"):
                done += 1
                if done == threads:
                    process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    result = parse_wrk("".join(output), "seeding")
    total = listing_total(stack)
    if total < count:  # lost answers (a read error, a timeout): top up, one by one
        note(f"seeding: {total} of {count} after wrk ({result['failed']} failed); topping up")
        index = count
        while total < count:
            body = json.dumps({"name": f"Contact {index % 9973} {index}", "phoneNumber": f"+1 555 {index:07d}"})
            status, _, _ = http_request(stack.http_port, "POST", "/contacts",
                                        {"Authorization": ADMIN, "Content-Type": "application/json"}, body)
            if status != 201:
                raise BenchError(f"seeding: POST answered {status}")
            total += 1
            index += 1
    if total != count:
        raise BenchError(f"seeding: the listing holds {total} contacts, expected {count}")
    return time.monotonic() - started, result


def listing_total(stack):
    status, headers, body = http_request(stack.http_port, "GET", "/contacts?limit=1", {"Authorization": AGENT})
    if status != 200:
        raise BenchError(f"GET /contacts?limit=1 answered {status}")
    if "x-total-count" in headers:
        return int(headers["x-total-count"])
    status, _, body = http_request(stack.http_port, "GET", "/contacts", {"Authorization": AGENT})
    return len(json.loads(body)["contacts"])


def cpu_busy(seconds=1.0):
    """The share of the machine's CPU time that was busy over `seconds` (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as stat:
            values = [int(value) for value in stat.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    total_before, idle_before = sample()
    time.sleep(seconds)
    total_after, idle_after = sample()
    total = total_after - total_before
    return 1 - (idle_after - idle_before) / total if total else 0.0


def wait_for_quiet(what, limit=0.25, patience=90.0):
    """Other work on the machine skews every figure: wait (up to `patience` seconds) until the
    CPU is mostly idle before a measurement. Returns the busy share last seen."""
    deadline = time.monotonic() + patience
    busy = cpu_busy()
    while busy > limit and time.monotonic() < deadline:
        note(f"{what}: the machine is {busy:.0%} busy with other work; waiting")
        busy = cpu_busy(2.0)
    if busy > limit:
        note(f"{what}: still {busy:.0%} busy after {patience:.0f} s; measuring anyway")
    return busy


def disk_rate(directory, seconds=2.0):
    """write(200 bytes) + fdatasync in a loop on a file in `directory`: operations per second."""
    path = Path(directory) / "bench-fdatasync.tmp"
    record = (b'{"bench":"append+fdatasync","padding":"' + b"x" * 160 + b'"}\n')[:199] + b"\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
    try:
        operations = 0
        started = time.monotonic()
        while True:
            os.write(descriptor, record)
            os.fdatasync(descriptor)
            operations += 1
            elapsed = time.monotonic() - started
            if elapsed >= seconds:
                return operations / elapsed
    finally:
        os.close(descriptor)
        path.unlink()


def startup(stack, workers, timeout=60.0):
    """SIGHUP to the supervisor: it replaces each worker, starting the new one before retiring
    the old. Each new worker's start-up is its "worker_ready" time minus the supervisor's
    "worker_started" time for its pid (both RFC 3339 with milliseconds, in the responder's log)."""
    supervisor = parent_pid(stack.worker_pids()[0])
    offset = stack.responder_log.stat().st_size
    os.kill(supervisor, signal.SIGHUP)
    started, ready = {}, {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(stack.responder_log, "rb") as log:
            log.seek(offset)
            lines = log.read().decode(errors="replace").splitlines()
        started.clear()
        ready.clear()
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "worker_started" and event.get("pid") == supervisor:
                started[int(event["worker"])] = rfc3339(event["time"])
            elif event.get("event") == "worker_ready":
                ready[int(event["pid"])] = rfc3339(event["time"])
        measured = [pid for pid in started if pid in ready]
        if len(measured) >= workers:
            break
        time.sleep(0.05)
    else:
        raise BenchError(f"SIGHUP: {len(ready)} of {workers} new workers ready after {timeout:.0f} s")
    # The last old worker retires after its replacement is ready; let the pool settle.
    for _ in range(100):
        pids = stack.worker_pids()
        if len(pids) == workers and all(pid in started for pid in pids):
            break
        time.sleep(0.05)
    return {str(pid): (ready[pid] - started[pid]).total_seconds() * 1000 for pid in measured}


def contact_body(index):
    """The body of seeded contact `index` (as seed_script makes it)."""
    return json.dumps({"name": f"Contact {index % 9973} {index}", "phoneNumber": f"+1 555 {index:07d}"},
                      separators=(",", ":"))


def last_writes(stack, count, stamp):
    """Takes the cursor, then writes the last CHANGES_WRITES of the `count` contacts one by one (the
    last with an Idempotency-Key). Returns (cursor before them, the last body, its key)."""
    status, headers, _ = http_request(stack.http_port, "GET", "/contacts?limit=1", {"Authorization": AGENT})
    cursor = headers.get("x-contacts-cursor")
    if status != 200 or not cursor:
        raise BenchError(f"GET /contacts?limit=1 answered {status} without X-Contacts-Cursor")
    key = f"bench-{stamp}-{count}"
    writes = min(CHANGES_WRITES, count)
    body = None
    for index in range(count - writes, count):
        body = contact_body(index)
        request_headers = {"Authorization": ADMIN, "Content-Type": "application/json"}
        if index == count - 1:
            request_headers["Idempotency-Key"] = key
        status, _, _ = http_request(stack.http_port, "POST", "/contacts", request_headers, body)
        if status != 201:
            raise BenchError(f"POST /contacts (write {index} for the change feed) answered {status}")
    return cursor, body, key


def bulk(stack, count, stamp, requests):
    """`requests` POST /contacts/_bulk of BULK_OPERATIONS creates each, one after the other on one
    connection (bodies made beforehand): contacts committed (201 results) per second of the
    requests' wall time."""
    bodies = []
    for request in range(requests):
        operations = [{"op": "create", "contact": {"name": f"Bulk {count} {stamp} {request} {index}",
                                                    "phoneNumber": f"+1 556 {request * BULK_OPERATIONS + index:07d}"}}
                      for index in range(BULK_OPERATIONS)]
        bodies.append(json.dumps({"operations": operations}, separators=(",", ":")).encode())
    connection = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=120)
    created, failed, times = 0, 0, []
    try:
        for body in bodies:
            started = time.monotonic()
            connection.request("POST", "/contacts/_bulk", body=body,
                               headers={"Authorization": ADMIN, "Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
            times.append(time.monotonic() - started)
            if response.status != 200:
                raise BenchError(f"POST /contacts/_bulk answered {response.status}: {data[:300]!r}")
            statuses = [entry.get("status") for entry in json.loads(data)["results"]]
            created += sum(1 for status in statuses if status == 201)
            failed += sum(1 for status in statuses if status != 201)
    finally:
        connection.close()
    seconds = sum(times)
    return {"requests": requests, "operations": BULK_OPERATIONS, "created": created, "failed": failed,
            "body_bytes": len(bodies[0]), "seconds": seconds, "rate": created / seconds if seconds > 0 else None,
            # The fastest request's rate, for reading a noisy run (the target uses "rate").
            "best_rate": BULK_OPERATIONS / min(times) if times and min(times) > 0 else None,
            "request_ms": [t * 1000 for t in times]}


def perf_profile(pids, seconds, output):
    """perf record -g on these pids for `seconds` in the background; returns a finisher that
    writes `perf report --no-children` to `output` and returns its path."""
    if not shutil.which("perf") or not pids:
        return None
    data = output.with_suffix(".data")
    process = subprocess.Popen(
        ["perf", "record", "-g", "-o", str(data), "-p", ",".join(str(pid) for pid in pids), "--",
         "sleep", str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish():
        try:
            process.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
        by_process = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio",
                                     "--sort", "comm,dso"], capture_output=True, text=True)
        report = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio",
                                 "--percent-limit", "0.5"], capture_output=True, text=True)
        output.write_text(by_process.stdout[:100_000] + "\n" + report.stdout[:400_000])
        data.unlink(missing_ok=True)
        return output
    return finish


def measure_size(count, store, options, binary, fixed_binary, out_dir, stamp, cluster=None):
    """One stack for `count` contacts on `store` ("data" or "postgres", in a database of its own
    in `cluster`): seed, measure, stop. Returns the figures."""
    base = Path(tempfile.mkdtemp(prefix=f"contacts-bench-{store}-{count}-", dir="/tmp"))
    os.chmod(base, 0o755)  # nginx's workers (www-data) must reach the sockets and the listing
    scripts = base / "scripts"
    scripts.mkdir()
    os.chmod(scripts, 0o755)
    copy = base / "contacts-fcgi"
    shutil.copy2(binary, copy)  # others may rebuild .build/ meanwhile; SIGHUP re-executes this copy
    database = f"contacts_bench_{count}" if store == "postgres" else None
    database_url = cluster.url_for(database) if database else None
    stack = Stack(base, copy, fixed_binary, options.workers, database_url)
    result = {"n": count, "store": store, "scenarios": {}, "rounds": []}
    perf_wanted = set(filter(None, (os.environ.get("BENCH_PERF") or "").split(",")))
    what = f"{store} N = {count:,}"
    try:
        wait_for_quiet(f"{what} start")
        if database:
            cluster.create_database(database)
            migrated = subprocess.run([str(copy), "migrate", "--database-url", database_url],
                                      capture_output=True, text=True, timeout=120)
            if migrated.returncode != 0:
                raise BenchError(f"contacts-fcgi migrate failed: {(migrated.stderr or migrated.stdout).strip()}")
            result["postgres_settings"] = cluster.settings(database)
        note(f"{what}: starting the stack in {base}")
        stack.start()
        # All but the last few with wrk; those one by one after taking the cursor (the feed's 10).
        seeded_count = count - min(CHANGES_WRITES, count)
        seconds, seeded = seed(stack, seeded_count, scripts)
        result["seed_seconds"] = seconds
        result["seed_rate"] = seeded_count / seconds if seconds > 0 else None
        note(f"{what}: seeded in {seconds:.1f} s ({seeded_count / seconds:,.0f}/s)")
        since, replay_body, replay_key = last_writes(stack, count, stamp)

        # The feed: the changes since that cursor, and the current cursor (nothing since: 304).
        status, _, feed = http_request(stack.http_port, "GET", "/contacts/_changes?since=" + urllib.parse.quote(since),
                                       {"Authorization": AGENT})
        if status != 200:
            raise BenchError(f"GET /contacts/_changes?since=… answered {status}")
        now_cursor = json.loads(feed)["cursor"]
        status, headers, _ = http_request(stack.http_port, "GET",
                                          "/contacts/_changes?since=" + urllib.parse.quote(now_cursor),
                                          {"Authorization": AGENT})
        changes_etag = headers.get("etag")
        if status != 200 or not changes_etag:
            raise BenchError(f"GET /contacts/_changes?since=<now> answered {status} (ETag {changes_etag})")
        status, headers, _ = http_request(stack.http_port, "GET", "/contacts?" + SORTED_QUERY, {"Authorization": AGENT})
        sorted_etag = headers.get("etag")
        if status != 200 or not sorted_etag:
            raise BenchError(f"GET /contacts?{SORTED_QUERY} answered {status} (ETag {sorted_etag})")

        # The listing's bytes, its ETag, one contact and its name.
        status, headers, listing = http_request(stack.http_port, "GET", "/contacts", {"Authorization": AGENT})
        if status != 200:
            raise BenchError(f"GET /contacts answered {status}")
        contacts = json.loads(listing)["contacts"]
        if len(contacts) != count:
            raise BenchError(f"the listing holds {len(contacts)} contacts, expected {count}")
        etag = headers.get("etag")
        if not etag:
            raise BenchError("the listing has no ETag")
        stack.listing_file.write_bytes(listing)
        os.chmod(stack.listing_file, 0o644)
        result["listing_bytes"] = len(listing)
        # The same listing as the responder compresses it, beside it for gzip_static.
        status, headers, gzipped = http_request(stack.http_port, "GET", "/contacts",
                                                {"Authorization": AGENT, "Accept-Encoding": "gzip"})
        if status != 200 or headers.get("content-encoding") != "gzip":
            raise BenchError(f"GET /contacts with Accept-Encoding: gzip answered {status}, "
                             f"Content-Encoding {headers.get('content-encoding')}")
        if gzip.decompress(gzipped) != listing:
            raise BenchError("the gzip listing does not decode to the listing's bytes")
        stack.gzip_listing_file.write_bytes(listing)
        gz_file = Path(str(stack.gzip_listing_file) + ".gz")
        gz_file.write_bytes(gzipped)
        for path in (stack.gzip_listing_file, gz_file):
            os.chmod(path, 0o644)
        result["listing_gzip_bytes"] = len(gzipped)
        middle = contacts[len(contacts) // 2]
        name_query = urllib.parse.urlencode({"type": "Custom", "name": middle["name"]}, quote_via=urllib.parse.quote)
        paths = {
            "static": "/bench/listing.json",
            "listing": "/contacts",
            "static_gzip": "/bench/listing-gzip.json",
            "listing_gzip": "/contacts",
            "filter": "/contacts?" + name_query,
            "fixed": "/bench/fixed",
            "by_id": "/contacts/" + middle["id"],
            "not_modified": "/contacts",
            "sorted_not_modified": "/contacts?" + SORTED_QUERY,
            "changes_not_modified": "/contacts/_changes?since=" + urllib.parse.quote(now_cursor),
            "changes": "/contacts/_changes?since=" + urllib.parse.quote(since),
            "replay": "/contacts",
        }
        extra_headers = {"static_gzip": ["Accept-Encoding: gzip"],
                         "listing_gzip": ["Accept-Encoding: gzip"],
                         "not_modified": [f"If-None-Match: {etag}"],
                         "sorted_not_modified": [f"If-None-Match: {sorted_etag}"],
                         "changes_not_modified": [f"If-None-Match: {changes_etag}"]}
        authorization = {"replay": ADMIN}
        replay_lua = scripts / "replay.lua"
        replay_lua.write_text(replay_script(replay_body, replay_key))

        # Check every scenario answers what it should before measuring it.
        checks = {}
        for key in GET_SCENARIOS:
            headers_list = {"Authorization": authorization.get(key, AGENT)}
            for header in extra_headers.get(key, []):
                name, value = header.split(": ", 1)
                headers_list[name] = value
            if key == "replay":
                headers_list.update({"Content-Type": "application/json", "Idempotency-Key": replay_key})
                status, answer_headers, body = http_request(stack.http_port, "POST", paths[key], headers_list,
                                                            replay_body)
            else:
                status, answer_headers, body = http_request(stack.http_port, "GET", paths[key], headers_list)
            expected = 304 if key.endswith("not_modified") else 201 if key == "replay" else 200
            problem = None
            if status != expected:
                problem = f"answered {status}, expected {expected}"
            elif key == "replay" and answer_headers.get("idempotent-replayed") != "true":
                problem = "is not a replay (no Idempotent-Replayed: true)"
            elif key == "changes" and len(json.loads(body)["changes"]) != min(CHANGES_WRITES, count):
                problem = f"holds {len(json.loads(body)['changes'])} changes, expected {min(CHANGES_WRITES, count)}"
            elif key == "static" and body != listing:
                problem = "the static file's bytes differ from the listing's"
            elif key.endswith("_gzip") and answer_headers.get("content-encoding") != "gzip":
                problem = f"is not gzip-coded (Content-Encoding {answer_headers.get('content-encoding')})"
            elif key.endswith("_gzip") and body != gzipped:
                problem = "the gzip bytes differ from the responder's first gzip answer"
            elif key == "filter" and len(json.loads(body)["contacts"]) != 1:
                problem = f"matched {len(json.loads(body)['contacts'])} contacts, expected 1"
            elif key == "fixed" and len(body) != FIXED_BODY_BYTES:
                problem = f"answered {len(body)} bytes, expected {FIXED_BODY_BYTES}"
            if problem:
                raise BenchError(f"{what}: {LABELS[key]} {problem}")
            checks[key] = {"status": status, "bytes": len(body)}
        result["checks"] = checks

        get_lua = scripts / "get.lua"
        get_lua.write_text(get_script())
        result["busy_before_round"] = []
        for round_index in range(options.rounds):
            round_results = {}
            result["busy_before_round"].append(wait_for_quiet(f"{what} round {round_index + 1}"))
            for key in GET_SCENARIOS:
                finisher = None
                if key in perf_wanted and round_index == 0:
                    pids = stack.worker_pids() + stack.nginx_worker_pids()
                    if key == "fixed":
                        pids = stack.fixed_pids() + stack.nginx_worker_pids()
                    if key in ("static", "static_gzip"):
                        pids = stack.nginx_worker_pids()
                    finisher = perf_profile(pids, max(1, options.duration - 1),
                                            out_dir / f"perf-{stamp}-{store}-{count}-{key}.txt")
                note(f"{what} round {round_index + 1}: {LABELS[key]}")
                figures, _ = run_wrk(stack.url(paths[key]), replay_lua if key == "replay" else get_lua,
                                     options.duration, options.connections,
                                     [f"Authorization: {authorization.get(key, AGENT)}"] + extra_headers.get(key, []))
                if finisher:
                    figures["perf_report"] = str(finisher())
                round_results[key] = figures
            result["rounds"].append(round_results)
        for key in GET_SCENARIOS:
            result["scenarios"][key] = max((r[key] for r in result["rounds"]), key=lambda f: f["rps"])

        # Memory after the GET scenarios (each worker has built and served the listing).
        workers = stack.worker_pids()
        result["rss_kib"] = {str(pid): rss_kib(pid) for pid in workers}

        # Start-up: a SIGHUP replaces each worker; a new one reads the whole data directory.
        note(f"{what}: start-up (SIGHUP)")
        # What a new worker reads: the snapshot and the journal as the service left them, or the
        # database.
        if database:
            result["data_files"] = {"database": int(cluster.psql(database, "SELECT pg_database_size(current_database())"))}
        else:
            result["data_files"] = {entry.name: entry.stat().st_size for entry in sorted(stack.data.iterdir())
                                    if entry.is_file()}
        result["startup_reloads"] = []
        for _ in range(STARTUP_RELOADS):
            result["startup_reloads"].append(startup(stack, options.workers))
            time.sleep(0.5)
        # The reload whose slowest new worker is the median of the reloads' slowest.
        by_slowest = sorted(result["startup_reloads"], key=lambda reload: max(reload.values()))
        result["startup_ms"] = by_slowest[len(by_slowest) // 2]
        result["rss_kib_fresh"] = {str(pid): rss_kib(pid) for pid in stack.worker_pids()}

        # Writes last, as they add contacts. The disk's rate is taken just before, in the same
        # conditions as far as possible.
        result["busy_before_post"] = wait_for_quiet(f"{what} POST")
        result["disk_rate"] = disk_rate(base)
        if database:
            # PostgreSQL's own INSERT + COMMIT rate on the same cluster: with as many clients as
            # the POST scenario has connections (the reference), and with one per worker (what
            # the pool can use: one connection each; for information).
            note(f"{what}: pgbench INSERT + COMMIT ({POST_CONNECTIONS} and {options.workers} clients)")
            result["pg_insert_rate"] = cluster.insert_commit_rate(database, POST_CONNECTIONS, options.duration, scripts)
            result["pg_insert_rate_workers"] = cluster.insert_commit_rate(database, options.workers,
                                                                          options.duration, scripts)
        post_lua = scripts / "post.lua"
        post_lua.write_text(post_script(f"Bench post {count} {stamp}"))
        finisher = None
        if "post" in perf_wanted:
            finisher = perf_profile(stack.worker_pids() + stack.nginx_worker_pids(), max(1, options.duration - 1),
                                    out_dir / f"perf-{stamp}-{store}-{count}-post.txt")
        note(f"{what}: {LABELS['post']}")
        figures, _ = run_wrk(stack.url("/contacts"), post_lua, options.duration, POST_CONNECTIONS)
        if finisher:
            figures["perf_report"] = str(finisher())
        result["scenarios"]["post"] = figures
        total = listing_total(stack)
        result["after_post_total"] = total
        # Every POST that wrk saw answered 201 must be there (a few more may have been sent and
        # not answered when wrk stopped).
        if total < count + figures["created"]:
            raise BenchError(f"after POST: {total} contacts, expected at least {count + figures['created']}")

        # Bulk creates, after the POST scenario (they add contacts too).
        note(f"{what}: {options.bulk_requests} × POST /contacts/_bulk of {BULK_OPERATIONS:,} creates")
        result["bulk"] = bulk(stack, count, stamp, options.bulk_requests)
        after_bulk = listing_total(stack)
        if after_bulk < total + result["bulk"]["created"]:
            raise BenchError(f"after _bulk: {after_bulk} contacts, expected at least {total + result['bulk']['created']}")
        return result
    finally:
        stack.stop()
        if database:
            cluster.drop_database(database)
        if os.environ.get("BENCH_KEEP") == "1":
            note(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Tables and targets

def print_size(result, options):
    count = result["n"]
    scenarios = result["scenarios"]
    store = result.get("store", "data")
    say()
    say(f"N = {count:,}, {STORES[store]}   listing {result['listing_bytes']:,} bytes "
        f"({result['listing_gzip_bytes']:,} gzipped)   seeded in "
        f"{result['seed_seconds']:.1f} s ({result['seed_rate']:,.0f}/s)   disk append+fdatasync {result['disk_rate']:,.0f}/s")
    if store == "postgres":
        settings = result.get("postgres_settings", {})
        say(f"  PostgreSQL {settings.get('server_version', '?')} (synchronous_commit {settings.get('synchronous_commit', '?')}, "
            f"fsync {settings.get('fsync', '?')}, wal_sync_method {settings.get('wal_sync_method', '?')}): "
            f"pgbench INSERT + COMMIT {result['pg_insert_rate']:,.0f}/s with {POST_CONNECTIONS} clients, "
            f"{result['pg_insert_rate_workers']:,.0f}/s with {options.workers} (one per worker)")
    busy = ", ".join(f"{value:.0%}" for value in result.get("busy_before_round", []))
    say(f"  CPU busy with other work before each round: {busy}; before POST: {result['busy_before_post']:.0%}")
    say(f"  {'scenario':<38} {'req/s':>9} {'p50':>10} {'p99':>10} {'errors':>8}   {'rounds (req/s)'}")
    for key in GET_SCENARIOS + ["post"]:
        figures = scenarios[key]
        rounds = ", ".join(f"{r[key]['rps']:,.0f}" for r in result["rounds"]) if key != "post" else ""
        errors = figures["errors_total"]
        detail = ",".join(f"{k} {v}" for k, v in figures["errors"].items() if v)
        say(f"  {LABELS[key]:<38} {figures['rps']:>9,.0f} {fmt_us(figures['p50_us']):>10} "
            f"{fmt_us(figures['p99_us']):>10} {errors:>8,}   {rounds}{'  (' + detail + ')' if detail else ''}")
        if figures.get("perf_report"):
            say(f"    perf report: {figures['perf_report']}")
    rss = ", ".join(f"{pid}: {kib / 1024:.1f} MB" for pid, kib in result["rss_kib"].items() if kib)
    fresh = ", ".join(f"{pid}: {kib / 1024:.1f} MB" for pid, kib in result["rss_kib_fresh"].items() if kib)
    say(f"  worker RSS after the GET scenarios: {rss}")
    say(f"  worker RSS just after a restart (SIGHUP, idle): {fresh}")
    startups = "; ".join(", ".join(f"{pid}: {ms:.0f} ms" for pid, ms in reload.items())
                         for reload in result["startup_reloads"])
    say(f"  worker start-up ({len(result['startup_reloads'])} SIGHUPs, worker_started → worker_ready): {startups}; "
        f"median of the slowest {max(result['startup_ms'].values()):.0f} ms")
    files = ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in result["data_files"].items() if size)
    say(f"    {'database' if store == 'postgres' else 'data directory'} at the time: {files}")
    say(f"  after POST: {result['after_post_total']:,} contacts ({result['scenarios']['post']['created']:,} created, "
        f"{result['scenarios']['post']['failed']:,} failed)")
    figures = result["bulk"]
    per_request = ", ".join(f"{ms:.0f}" for ms in figures["request_ms"])
    say(f"  POST /contacts/_bulk, {figures['requests']} × {figures['operations']:,} creates "
        f"({figures['body_bytes'] / 1024:.0f} KiB each): {figures['rate']:,.0f} contacts/s committed "
        f"({figures['created']:,} created, {figures['failed']:,} failed; ms per request: {per_request}; "
        f"fastest request {figures['best_rate']:,.0f}/s)")


def evaluate_feed(store, results):
    """The change feed, bulk, idempotent replay and sorted listing targets; each relative to a
    figure of the same store (so the same for both stores), but bulk's absolute rate, which is
    PostgreSQL's for information."""
    by_n = {r["n"]: r for r in results}
    rows = []

    def rps(n, key):
        return by_n[n]["scenarios"][key]["rps"] if n in by_n else None

    def ratio(a, b):
        return a / b if a is not None and b else None

    def add(name, n, value, threshold, unit="×", info=False, why_missing=None):
        verdict = "n/a" if value is None else "info" if info else ("PASS" if value >= threshold else "MISS")
        rows.append({"store": store, "target": name, "n": n, "value": value, "op": ">=", "threshold": threshold,
                     "unit": unit, "verdict": verdict, "note": why_missing if value is None else None})

    sizes = sorted(by_n)
    for n in sizes:
        add("GET _changes?since=<now> 304 ÷ fixed-body responder", n,
            ratio(rps(n, "changes_not_modified"), rps(n, "fixed")), 0.8)
    if sizes:
        smallest, largest = sizes[0], sizes[-1]
        add(f"GET _changes ({CHANGES_WRITES} changes) ÷ the same at N = {smallest:,}", largest,
            ratio(rps(largest, "changes"), rps(smallest, "changes")) if largest != smallest else None, 0.8,
            why_missing="needs two sizes")
    for n in sizes:
        add("POST Idempotency-Key replay ÷ GET /contacts/{id}", n, ratio(rps(n, "replay"), rps(n, "by_id")), 1.0)
    for n in sizes:
        add("GET /contacts?sortBy=…&limit=100 304 ÷ plain listing's 304", n,
            ratio(rps(n, "sorted_not_modified"), rps(n, "not_modified")), 0.9)
    for n in sizes:
        add(f"POST /contacts/_bulk ({BULK_OPERATIONS:,} creates), contacts/s", n, by_n[n]["bulk"]["rate"],
            BULK_TARGET, unit="/s", info=store != "data")
    return rows


def evaluate_data(results):
    """Every target of the data directory's issue, for the sizes measured; plus informational rows
    (no verdict)."""
    by_n = {r["n"]: r for r in results}
    rows = []

    def rps(n, key):
        return by_n[n]["scenarios"][key]["rps"] if n in by_n else None

    def add(name, n, value, op, threshold, unit="×", info=False):
        if value is None:
            verdict = "n/a"
        elif info:
            verdict = "info"
        else:
            verdict = "PASS" if (value >= threshold if op == ">=" else value <= threshold) else "MISS"
        rows.append({"store": "data", "target": name, "n": n, "value": value, "op": op, "threshold": threshold, "unit": unit,
                     "verdict": verdict})

    def ratio(a, b):
        return a / b if a is not None and b else None

    for n, threshold, info in [(1000, 0.6, False), (10000, 0.5, False), (100000, 0.5, True)]:
        if n in by_n or not info:
            add("GET /contacts ÷ static file of the same bytes", n, ratio(rps(n, "listing"), rps(n, "static")),
                ">=", threshold, info=info)
    for n in sorted(by_n):
        add("GET /contacts gzip ÷ GET /contacts uncompressed", n, ratio(rps(n, "listing_gzip"), rps(n, "listing")),
            ">=", 1.0)
    for n in sorted(by_n):
        add("GET /contacts gzip ÷ gzip_static of the same bytes", n,
            ratio(rps(n, "listing_gzip"), rps(n, "static_gzip")), ">=", 0.6)
    # Issue 15: a one-match filter costs the same whatever N is. Each size runs on a stack of its
    # own minutes apart, so each rate is first divided by its own stack's fixed responder.
    for n in (10000, 100000):
        if n in by_n:
            add("GET /contacts?type=Custom&name=… (1 match) ÷ the same at N = 1,000, each ÷ own floor", n,
                ratio(ratio(rps(n, "filter"), rps(n, "fixed")), ratio(rps(1000, "filter"), rps(1000, "fixed"))),
                ">=", 0.9)
    for n in sorted(by_n):
        add("GET /contacts/{id} ÷ fixed-body responder", n, ratio(rps(n, "by_id"), rps(n, "fixed")), ">=", 0.8)
    for n in sorted(by_n):
        add("GET /contacts 304 (If-None-Match) ÷ fixed-body responder", n,
            ratio(rps(n, "not_modified"), rps(n, "fixed")), ">=", 0.8)
    for n in sorted(by_n):
        add("POST /contacts (16 conns) ÷ disk append+fdatasync", n,
            ratio(rps(n, "post"), by_n[n]["disk_rate"]), ">=", 0.6)
    add("POST /contacts at N = 100,000 ÷ at N = 1,000", 100000, ratio(rps(100000, "post"), rps(1000, "post")),
        ">=", 0.9)
    for n, threshold, info in [(1000, 30, True), (10000, 30, False), (100000, 150, False)]:
        if n in by_n or not info:
            value = None
            if n in by_n:
                value = max(kib for kib in by_n[n]["rss_kib"].values() if kib) / 1024
            add("one worker's RSS (largest), MB", n, value, "<=", threshold, unit="MB", info=info)
    for n, info in [(1000, True), (10000, True), (100000, False)]:
        if n in by_n or not info:
            value = max(by_n[n]["startup_ms"].values()) if n in by_n else None
            add(f"a worker ready to serve (slowest new worker, median of {STARTUP_RELOADS} reloads), ms", n, value,
                "<=", 200, unit="ms", info=info)
    return rows


def evaluate_postgres(results, data_results):
    """The PostgreSQL store's targets: reads against the data directory's at the same N (when
    both ran), POST against PostgreSQL's own INSERT + COMMIT rate, POST flat in N."""
    by_n = {r["n"]: r for r in results}
    data_by_n = {r["n"]: r for r in data_results}
    rows = []

    def rps(table, n, key):
        return table[n]["scenarios"][key]["rps"] if n in table else None

    def ratio(a, b):
        return a / b if a is not None and b else None

    def add(name, n, value, threshold, why_missing=None):
        verdict = "n/a" if value is None else ("PASS" if value >= threshold else "MISS")
        rows.append({"store": "postgres", "target": name, "n": n, "value": value, "op": ">=",
                     "threshold": threshold, "unit": "×", "verdict": verdict,
                     "note": why_missing if value is None else None})

    no_data = "run with --store both"
    for key, label, threshold in [("by_id", "GET /contacts/{id}", 0.7),
                                  ("not_modified", "GET /contacts 304 (If-None-Match)", 0.7),
                                  ("listing", "GET /contacts (whole listing, cached bytes)", 0.9)]:
        for n in sorted(by_n):
            add(f"{label} ÷ the data directory's", n, ratio(rps(by_n, n, key), rps(data_by_n, n, key)), threshold,
                no_data)
    for n in sorted(by_n):
        add(f"POST /contacts ({POST_CONNECTIONS} conns) ÷ pgbench INSERT+COMMIT", n,
            ratio(rps(by_n, n, "post"), by_n[n].get("pg_insert_rate")), 0.5)
    add("POST /contacts at N = 100,000 ÷ at N = 1,000", 100000,
        ratio(rps(by_n, 100000, "post"), rps(by_n, 1000, "post")), 0.9, "needs N = 1,000 and 100,000")
    if 10000 in by_n and 1000 in by_n:
        # What --quick can say about flatness (no verdict: the target is at 100,000).
        rows.append({"store": "postgres", "target": "POST /contacts at N = 10,000 ÷ at N = 1,000", "n": 10000,
                     "value": ratio(rps(by_n, 10000, "post"), rps(by_n, 1000, "post")), "op": ">=",
                     "threshold": 0.9, "unit": "×", "verdict": "info", "note": None})
    return rows


def print_summary(rows, stamp):
    say()
    say(f"Summary ({stamp})")
    say(f"  {'store':<9} {'target':<64} {'N':>8} {'measured':>10} {'target':>10}  verdict")
    for row in rows:
        value = row["value"]
        if value is None:
            shown = "-"
        elif row["unit"] == "×":
            shown = f"{value:.2f}×"
        elif row["unit"] == "/s":
            shown = f"{value:,.0f}/s"
        else:
            shown = f"{value:.1f} {row['unit']}"
        op = "≥" if row["op"] == ">=" else "≤"
        target = f"{op} {row['threshold']}{'×' if row['unit'] == '×' else ' ' + row['unit']}"
        if row["unit"] == "/s":
            target = f"{op} {row['threshold']:,}/s"
        remark = f" ({row['note']})" if row.get("note") else ""
        say(f"  {row['store']:<9} {row['target']:<64} {row['n']:>8,} {shown:>10} {target:>10}  {row['verdict']}{remark}")


def print_side_by_side(data, postgres, options):
    """Both stores at one N: each scenario's req/s and p99, and PostgreSQL's share of the data
    directory's; also that share with each store's figure first divided by its own stack's
    fixed responder, which takes out much of what other work on the machine did to one stack
    and not the other (for reading the figures; the targets use the plain share)."""
    say()
    say(f"N = {data['n']:,}, the two stores side by side (req/s; p99)")
    say(f"  {'scenario':<38} {'data dir':>9} {'p99':>10} {'PostgreSQL':>11} {'p99':>10} {'PG ÷ data':>10} "
        f"{'÷ own floor':>12}")
    floor_a, floor_b = data["scenarios"]["fixed"]["rps"], postgres["scenarios"]["fixed"]["rps"]
    for key in GET_SCENARIOS + ["post"]:
        a, b = data["scenarios"][key], postgres["scenarios"][key]
        share = f"{b['rps'] / a['rps']:.2f}×" if a["rps"] else "-"
        normalized = "-"
        if key not in ("fixed", "post") and a["rps"] and floor_a and floor_b:
            normalized = f"{(b['rps'] / floor_b) / (a['rps'] / floor_a):.2f}×"
        say(f"  {LABELS[key]:<38} {a['rps']:>9,.0f} {fmt_us(a['p99_us']):>10} {b['rps']:>11,.0f} "
            f"{fmt_us(b['p99_us']):>10} {share:>10} {normalized:>12}")
    say(f"  {'POST reference':<38} {data['disk_rate']:>9,.0f} {'fdatasync':>10} {postgres['pg_insert_rate']:>11,.0f} "
        f"{'pgbench':>10}")
    startup_a, startup_b = max(data["startup_ms"].values()), max(postgres["startup_ms"].values())
    rss_a = max(kib for kib in data["rss_kib"].values() if kib) / 1024
    rss_b = max(kib for kib in postgres["rss_kib"].values() if kib) / 1024
    say(f"  {'worker start-up (slowest, median), ms':<38} {startup_a:>9,.0f} {'':>10} {startup_b:>11,.0f}")
    say(f"  {'worker RSS (largest), MB':<38} {rss_a:>9,.1f} {'':>10} {rss_b:>11,.1f}")
    say(f"  {'_bulk contacts committed/s':<38} {data['bulk']['rate']:>9,.0f} {'':>10} {postgres['bulk']['rate']:>11,.0f}")


# ---------------------------------------------------------------------------------------------

SEARCH_USERS = 200000  # the `q` search scenario's directory: users imported with `contacts-fcgi import`
SEARCH_GIVEN = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara", "Liam"]
SEARCH_FAMILY = ["Novak", "Smith", "Garcia", "Kowalski", "Muller", "Rossi", "Tanaka", "Okafor", "Dubois", "Silva"]


def search_script(write_every):
    """GET /contacts?q=<family name> <number>: a different q each request, so the listing cache
    misses; with write_every > 0, every write_every-th request is a POST /contacts as admin (each
    write also empties every worker's cache)."""
    return LUA_THREADS + f"""
local admin = {lua_string(ADMIN)}
local family = {{{", ".join(lua_string(name.lower()) for name in SEARCH_FAMILY)}}}
counter = 0
function request()
  counter = counter + 1
  if {write_every} > 0 and counter % {write_every} == 0 then
    local body = string.format('{{"name":"Search %d %d","phoneNumber":"+1 555 %07d"}}', slot, counter, counter % 10000000)
    return wrk.format("POST", "/contacts", {{["Host"] = wrk.headers["Host"], ["Authorization"] = admin,
      ["Content-Type"] = "application/json"}}, body)
  end
  local n = (counter * 7919 + slot * 104729) % {SEARCH_USERS}
  return wrk.format("GET", string.format("/contacts?q=%s%%20%d", family[n % #family + 1], n))
end
""" + LUA_DONE


def search_scenario(options, binary, fixed_binary):
    """`q` search at 200,000 users: uncached searches read-only and with 10% writes, and one
    connection's latency. Rows for the summary (the targets of issue 15, item 2)."""
    base = Path(tempfile.mkdtemp(prefix="contacts-bench-search-", dir="/tmp"))
    os.chmod(base, 0o755)
    copy = base / "contacts-fcgi"
    shutil.copy2(binary, copy)
    stack = Stack(base, copy, fixed_binary, options.workers)
    try:
        stack.start()
        users = base / "users.csv"
        with open(users, "w") as out:
            out.write("id,name,userName,firstName,lastName,employeeId,phoneNumber\n")
            for n in range(SEARCH_USERS):
                given, family = SEARCH_GIVEN[n % 12], SEARCH_FAMILY[n % 10]
                out.write(f"user-{n},{given} {family} {n},{given.lower()}{n},{given},{family},E{n:06d},+1 555 {n:07d}\n")
        started = time.monotonic()
        imported = subprocess.run([str(copy), "import", "users", str(users), "--data-dir", str(stack.data)],
                                  capture_output=True, text=True, timeout=600)
        if imported.returncode != 0:
            raise BenchError(f"import of {SEARCH_USERS:,} users failed: {imported.stderr.strip()}")
        imported_seconds = time.monotonic() - started
        # Each worker loads the import on its next request and builds the index on its first
        # search (about a second at this size): wait until searches are fast on every worker, so
        # that neither is measured (nor a warm-up's abandoned requests still running).
        fast, deadline = 0, time.monotonic() + 120
        while fast < 4 * options.workers and time.monotonic() < deadline:
            began = time.monotonic()
            status, _, _ = http_request(stack.http_port, "GET", f"/contacts?q=novak%20{fast}",
                                        {"Authorization": AGENT})
            if status != 200:
                raise BenchError(f"q search answered {status}")
            fast = fast + 1 if time.monotonic() - began < 0.05 else 0
        say(f"\nq search at {SEARCH_USERS:,} users (imported in {imported_seconds:.1f} s), "
            "a different q per request (the listing cache misses)")
        figures = {}
        for key, write_every, connections in [("read", 0, options.connections), ("mixed", 10, options.connections),
                                              ("one", 0, 1)]:
            script = base / f"search-{key}.lua"
            script.write_text(search_script(write_every))
            run_wrk(stack.url("/contacts"), script, 3, connections, [f"Authorization: {AGENT}"])  # warm-up
            figures[key], _ = run_wrk(stack.url("/contacts"), script, options.duration, connections,
                                      [f"Authorization: {AGENT}"])
            say(f"  {key:<6} {connections:>2} connections {figures[key]['rps']:>9,.0f} req/s  p50 "
                f"{fmt_us(figures[key]['p50_us'])}  p99 {fmt_us(figures[key]['p99_us'])}  errors {figures[key]['errors_total']}")
    finally:
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)

    def row(target, value, op, threshold, unit):
        passed = value >= threshold if op == ">=" else value <= threshold
        return {"store": "data", "target": target, "n": SEARCH_USERS, "value": value, "op": op,
                "threshold": threshold, "unit": unit, "verdict": "PASS" if passed else "MISS"}
    if not figures["read"]["rps"]:
        raise BenchError("q search: no search answered in the read-only run")
    return [row("q search, 10% writes mixed ÷ read-only", figures["mixed"]["rps"] / figures["read"]["rps"], ">=", 0.5, "×"),
            row("q search, one connection: p50 (ms)", figures["one"]["p50_us"] / 1000, "<=", 1, "ms")]


def main():
    parser = argparse.ArgumentParser(description="End-to-end benchmark (run through deploy/bench.sh).")
    parser.add_argument("--binary", default=str(ROOT / ".build/release/contacts-fcgi"))
    parser.add_argument("--quick", action="store_true", help="sizes 1000 10000, 3 s per run, one round")
    parser.add_argument("--store", choices=["data", "postgres", "both"], default="data",
                        help="which store to measure; both: side by side, each size on each")
    parser.add_argument("--database-url", help="the private cluster (deploy/bench.sh starts it) for --store "
                        "postgres or both: a database per size is made in it")
    arguments = parser.parse_args()
    stores = ["data", "postgres"] if arguments.store == "both" else [arguments.store]
    cluster = None
    if "postgres" in stores:
        if not arguments.database_url:
            raise BenchError("--store postgres needs --database-url (deploy/bench.sh starts a private cluster)")
        cluster = PostgresCluster(arguments.database_url)

    class Options:
        pass
    options = Options()
    options.sizes = [int(size) for size in
                     (os.environ.get("BENCH_SIZES") or ("1000 10000" if arguments.quick else "1000 10000 100000")).split()]
    options.duration = int(os.environ.get("BENCH_DURATION") or (3 if arguments.quick else 5))
    options.rounds = int(os.environ.get("BENCH_ROUNDS") or (1 if arguments.quick else 3))
    options.connections = int(os.environ.get("BENCH_CONNECTIONS") or 16)
    options.workers = int(os.environ.get("CONTACTS_WORKERS") or os.cpu_count() or 2)
    options.bulk_requests = int(os.environ.get("BENCH_BULK_REQUESTS") or 5)

    binary = Path(arguments.binary)
    if not binary.is_file():
        raise BenchError(f"no binary at {binary}: build it (swift build -c release) or run deploy/bench.sh")
    for tool in ("wrk", "nginx", "gcc"):
        if not shutil.which(tool):
            raise BenchError(f"{tool} is not installed (deploy/bench.sh installs what is missing)")

    now = datetime.datetime.now()
    stamp = now.strftime("%Y-%m-%d-%H%M%S")
    out_dir = ROOT / "test-output/bench"
    out_dir.mkdir(parents=True, exist_ok=True)

    build = Path(tempfile.mkdtemp(prefix="contacts-bench-fixed-", dir="/tmp"))
    results = {store: [] for store in stores}
    try:
        fixed_binary = build / "fixed-responder"
        compiled = subprocess.run(["gcc", "-O2", "-Wall", "-o", str(fixed_binary),
                                   str(ROOT / "deploy/bench/fixed-responder.c"), "-lfcgi"],
                                  capture_output=True, text=True)
        if compiled.returncode != 0:
            raise BenchError(f"cannot compile fixed-responder.c:\n{compiled.stderr}")

        def version(command):
            try:
                done = subprocess.run(command, capture_output=True, text=True)
                return (done.stdout + done.stderr).strip().splitlines()[0]
            except (OSError, IndexError):
                return "?"
        git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip() or "?"
        environment = {
            "date": now.isoformat(timespec="seconds"), "host": platform.node(), "cpus": os.cpu_count(),
            "kernel": platform.release(), "load_before": os.getloadavg(), "nginx": version(["nginx", "-v"]),
            "wrk": version(["wrk", "-v"]), "git": git, "sizes": options.sizes, "duration": options.duration,
            "rounds": options.rounds, "connections": options.connections, "workers": options.workers,
            "stores": stores,
        }
        say(f"Contacts API benchmark, {environment['date']} on {environment['host']} "
            f"({environment['cpus']} CPUs, load average {environment['load_before'][0]:.2f}), git {git}")
        say(f"  wrk -t1 -c{options.connections} -d{options.duration}s through nginx with basic auth (agent); "
            f"{options.workers} responder workers; best of {options.rounds} round(s) for the GET scenarios; "
            f"POST: wrk -t1 -c{POST_CONNECTIONS} as admin; store(s): {', '.join(STORES[s] for s in stores)}")
        busy = cpu_busy(2.0)
        environment["busy_at_start"] = busy
        if busy > 0.25:
            say(f"  warning: the machine is {busy:.0%} busy with other work; figures will be noisy")

        for count in options.sizes:
            for store in stores:
                result = measure_size(count, store, options, binary, fixed_binary, out_dir, stamp, cluster)
                results[store].append(result)
                print_size(result, options)
            if len(stores) == 2:
                print_side_by_side(results["data"][-1], results["postgres"][-1], options)

        rows = []
        if "data" in results:
            rows += evaluate_data(results["data"])
            rows += evaluate_feed("data", results["data"])
            if os.environ.get("BENCH_SEARCH", "0" if arguments.quick else "1") == "1":
                rows += search_scenario(options, binary, fixed_binary)
        if "postgres" in results:
            rows += evaluate_postgres(results["postgres"], results.get("data", []))
            rows += evaluate_feed("postgres", results["postgres"])
        print_summary(rows, stamp)
        environment["load_after"] = os.getloadavg()
        misses = [row for row in rows if row["verdict"] == "MISS"]
        say(f"\n{len(misses)} target(s) missed" if misses else "\nevery target measured passes")
        # "sizes" and "rounds" are the data directory's, as before; "stores" has every store's.
        by_store = {store: {"sizes": {str(r["n"]): {key: value for key, value in r.items() if key != "rounds"}
                                      for r in store_results},
                            "rounds": {str(r["n"]): r["rounds"] for r in store_results}}
                    for store, store_results in results.items()}
        summary = {"environment": environment, "targets": rows, "stores": by_store,
                   **by_store.get("data", {})}
        (out_dir / f"summary-{stamp}.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        say(f"written: {out_dir / f'summary-{stamp}.json'} and {out_dir / f'bench-{stamp}.txt'}")
    finally:
        (out_dir / f"bench-{stamp}.txt").write_text(say.text())
        shutil.rmtree(build, ignore_errors=True)


def on_signal(number, _frame):
    raise KeyboardInterrupt(f"signal {number}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        main()
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
