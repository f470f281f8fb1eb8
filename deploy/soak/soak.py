#!/usr/bin/env python3
"""The soak test; run it through deploy/soak.sh (which installs, builds and, for --store postgres,
starts a private PostgreSQL cluster).

It starts a stack of its own on free 127.0.0.1 ports in a temp folder (`contacts-fcgi serve` and
nginx rendered by deploy/render-nginx.sh, as deploy/bench/bench.py does), then for the run's length:

  - CLIENTS threads create, read, update, list and delete custom contacts through nginx at full
    speed, each on contacts of its own (at most LIVE_PER_CLIENT alive, so the data stays bounded);
  - every KILL_EVERY seconds a random worker gets SIGKILL;
  - every 30 s the pool gets SIGHUP (workers replaced) and nginx a reload (SIGHUP);
  - with --store postgres, every 30 s (offset by 15 s) the database restarts (SOAK_DB_RESTART).

At the end it prints the requests by status and fails (exit 1) unless:
  - every answer is 2xx or 4xx, except 502s (and answers cut short: a worker killed while nginx
    passed its answer on) within LOST_WITHIN seconds after a SIGKILL, and 503s only while the
    database restarts (and a few seconds after). A killed worker loses every request it has
    accepted and not answered: the one it computes and the answers it holds until a flush covers
    them (at most 16, docs/decisions.md), so one SIGKILL may cost up to one request per client
    (CLIENTS, each with one request outstanding), and no more;
  - every acknowledged write reads back: a contact whose last write was acknowledged holds it; one
    whose last write's answer was lost (502) holds that write or the one before;
  - workers' RSS (median across workers) and open descriptors (the most of any worker), and the
    supervisor's, grow by at most 10% over the second half (a leak grows steadily); the pool runs
    with a small change history (200) and listing cache (1 MiB) and compacts every 64 KiB of
    journal, so that what is bounded is full within seconds (the default 10,000 changes take
    the first minute to fill at this rate, and looked like a leak) and compaction runs often;
  - `contacts-fcgi check` passes.
Python standard library only. Everything it starts is stopped in a `finally`.
"""

import argparse
import base64
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
from proc_tools import children_of, command_line, free_port, http_request, open_descriptors, rss_kib  # noqa: E402
ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode(), "Content-Type": "application/json"}
AGENT = {"Authorization": "Basic " + base64.b64encode(b"agent:agent").decode()}
CLIENTS = 6
LIVE_PER_CLIENT = 40
KILL_EVERY = 4.0
LOST_WITHIN = 0.5  # a 502 or a cut answer counts as the kill's when it comes this soon after it
RELOAD_EVERY = 30.0


def note(text):
    print(f"[soak {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Stack:
    def __init__(self, base, binary, workers, database_url):
        self.base = base
        self.binary = binary
        self.workers = workers
        self.database_url = database_url
        self.data = base / "data"
        self.socket = base / "contacts.sock"
        self.runtime = base / "nginx"
        self.log_path = base / "responder.log"
        self.http_port = free_port()
        self.https_port = free_port()
        self.serve = None
        self.nginx = None
        self.log = None

    def store_args(self):
        return ["--database-url", self.database_url] if self.database_url else ["--data-dir", str(self.data)]

    def start(self):
        for kind in ("users", "queues"):
            subprocess.run([str(self.binary), "import", kind, str(ROOT / f"deploy/demo/{kind}.json"), "--by", "soak",
                            "--only-if-empty", *self.store_args()], check=True, stdout=subprocess.DEVNULL)
        self.log = open(self.log_path, "ab")
        # The bounded memory (the change log, the listing cache) is set small, and compactions
        # frequent, so that both are at their steady state within the first seconds: what still
        # grows over the second half is not a bound being reached, and compaction runs often.
        command = [str(self.binary), "serve", "--socket", str(self.socket), "--workers", str(self.workers),
                   "--request-timeout", "20", "--change-history", "200", "--listing-cache-bytes", str(1 << 20),
                   "--journal-compaction-bytes", str(64 << 10), *self.store_args()]
        if os.geteuid() == 0:
            command += ["--socket-group", "www-data"]
        self.serve = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log,
                                      start_new_session=True)
        for _ in range(200):
            if self.socket.is_socket():
                break
            if self.serve.poll() is not None:
                raise RuntimeError(f"serve exited ({self.serve.returncode}): see {self.log_path}")
            time.sleep(0.05)
        rendered = subprocess.run(
            [str(ROOT / "deploy/render-nginx.sh"), str(self.runtime), str(self.socket), str(self.http_port),
             str(self.https_port)], capture_output=True, text=True, env={**os.environ, "CONTACTS_EVENTS": "off"})
        if rendered.returncode != 0:
            raise RuntimeError(f"render-nginx.sh failed: {rendered.stderr}")
        conf = rendered.stdout.strip().splitlines()[-1]
        self.nginx = subprocess.Popen(["nginx", "-p", str(self.runtime), "-c", conf, "-e",
                                       str(self.runtime / "error.log")], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if request(self.http_port, "GET", "/contacts?limit=1", AGENT)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the stack does not answer")

    def worker_pids(self):
        return [pid for pid in children_of(self.serve.pid) if command_line(pid)[1:2] == [b"worker"]]

    def stop(self):
        for process, first in ((self.nginx, signal.SIGQUIT), (self.serve, signal.SIGTERM)):
            if process is None or process.poll() is not None:
                continue
            try:
                process.send_signal(first)
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        if self.log:
            self.log.close()


def request(port, method, path, headers, body=None):
    status, _, data = http_request(port, method, path, headers, body, timeout=30)
    return status, data


class Client(threading.Thread):
    """Writes and reads its own contacts; remembers what each must hold at the end."""

    def __init__(self, number, port, stop, record):
        super().__init__(daemon=True)
        self.number = number
        self.port = port
        self.stop = stop
        self.record = record
        # id → the names it may hold at the end (None: deleted); the last acknowledged write's
        # only, or also a write whose answer was lost.
        self.expected = {}
        self.live = []
        self.writes = 0
        self.random = random.Random(number)

    def call(self, method, path, headers, body=None):
        try:
            status, data = request(self.port, method, path, headers, body)
        except (OSError, http.client.HTTPException) as error:
            self.record(None, method, path, repr(error))
            return None, b""
        self.record(status, method, path, data[:200])
        return status, data

    def run(self):
        sequence = 0
        while not self.stop.is_set():
            sequence += 1
            roll = self.random.random()
            if not self.live or (roll < 0.35 and len(self.live) < LIVE_PER_CLIENT):
                name = f"soak {self.number}-{sequence}"
                status, data = self.call("POST", "/contacts", ADMIN,
                                         json.dumps({"name": name, "phoneNumber": f"555 {sequence}"}))
                if status == 201:
                    contact_id = json.loads(data)["id"]
                    self.expected[contact_id] = {name}
                    self.live.append(contact_id)
                    self.writes += 1
                # A create whose answer was lost may have happened: an id nobody knows, not checked.
            elif roll < 0.55:
                contact_id = self.random.choice(self.live)
                name = f"soak {self.number}-{sequence} updated"
                status, _ = self.call("PUT", f"/contacts/{contact_id}", ADMIN,
                                      json.dumps({"name": name, "phoneNumber": f"555 {sequence}"}))
                if status == 200:
                    self.expected[contact_id] = {name}
                    self.writes += 1
                elif status is None or status >= 500:
                    self.expected[contact_id] = self.expected[contact_id] | {name}
            elif roll < 0.65 or len(self.live) >= LIVE_PER_CLIENT:
                contact_id = self.live.pop(self.random.randrange(len(self.live)))
                status, _ = self.call("DELETE", f"/contacts/{contact_id}", ADMIN)
                if status in (204, 404):
                    self.expected[contact_id] = {None}
                    self.writes += 1
                elif status is None or status >= 500:
                    self.expected[contact_id] = self.expected[contact_id] | {None}
            elif roll < 0.85:
                contact_id = self.random.choice(self.live)
                self.call("GET", f"/contacts/{contact_id}", AGENT)
            else:
                self.call("GET", self.random.choice(["/contacts?type=Custom", "/contacts?limit=20", "/contacts"]),
                          AGENT)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--database-url")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    db_restart = os.environ.get("SOAK_DB_RESTART")
    base = Path(tempfile.mkdtemp(prefix="contacts-soak-"))
    os.chmod(base, 0o711)
    stack = Stack(base, Path(options.binary), options.workers, options.database_url)
    statuses = Counter()
    failures = []
    lock = threading.Lock()
    db_windows = []  # (start, end) of database restarts, monotonic
    events = Counter()
    kills = []  # monotonic times, each taken just before a SIGKILL
    lost = []  # monotonic times of 502s and answers cut short
    samples = []  # (t, worker median RSS, worker max fds, supervisor RSS, supervisor fds)

    def in_db_window(at):
        return any(start <= at <= end + 5.0 for start, end in db_windows) or (
            db_windows and db_windows[-1][1] == float("inf"))

    def record(status, method, path, detail):
        at = time.monotonic()
        with lock:
            cut = status is None and any(
                word in str(detail) for word in ("IncompleteRead", "RemoteDisconnected", "ConnectionReset"))
            statuses["cut" if cut else status if status is not None else "error"] += 1
            if cut or status == 502:
                lost.append(at)
            if cut:
                # A worker killed while nginx was already passing its answer on: the client sees
                # the answer cut short (headers sent, body not). In flight in a killed worker,
                # like a 502, and counted with them below.
                pass
            elif status is None:
                failures.append((at, method, path, f"no answer: {detail}"))
            elif status == 503 and in_db_window(at):
                pass
            elif status >= 500 and status != 502 or status < 200 or 300 <= status < 400:
                failures.append((at, method, path, f"{status}: {detail!r}"))

    stop = threading.Event()
    clients = []
    exit_code = 1
    try:
        stack.start()
        note(f"stack on http://127.0.0.1:{stack.http_port}, {options.workers} workers, "
             f"{'PostgreSQL' if options.database_url else stack.data}; soaking {options.seconds} s")
        clients = [Client(number, stack.http_port, stop, record) for number in range(CLIENTS)]
        for client in clients:
            client.start()
        started = time.monotonic()
        next_kill = started + KILL_EVERY
        next_reload = started + RELOAD_EVERY
        next_db = started + RELOAD_EVERY / 2
        next_sample = started + 2
        while time.monotonic() - started < options.seconds:
            now = time.monotonic()
            if now >= next_kill:
                pids = stack.worker_pids()
                if pids:
                    with lock:
                        kills.append(time.monotonic())
                    os.kill(random.choice(pids), signal.SIGKILL)
                    events["worker SIGKILL"] += 1
                next_kill = now + KILL_EVERY
            if now >= next_reload:
                stack.serve.send_signal(signal.SIGHUP)
                stack.nginx.send_signal(signal.SIGHUP)
                events["SIGHUP reload + nginx reload"] += 1
                next_reload = now + RELOAD_EVERY
            if db_restart and now >= next_db:
                with lock:
                    db_windows.append((now, float("inf")))
                subprocess.run(["bash", "-c", db_restart], check=True, stdout=subprocess.DEVNULL)
                with lock:
                    db_windows[-1] = (now, time.monotonic())
                events["database restart"] += 1
                next_db = time.monotonic() + RELOAD_EVERY
            if now >= next_sample:
                workers = [pid for pid in stack.worker_pids()]
                rss = [value for value in map(rss_kib, workers) if value]
                fds = [value for value in map(open_descriptors, workers) if value]
                if rss and fds:
                    samples.append((now - started, statistics.median(rss), max(fds), rss_kib(stack.serve.pid),
                                    open_descriptors(stack.serve.pid)))
                next_sample = now + 2
            if stack.serve.poll() is not None or stack.nginx.poll() is not None:
                failures.append((now, "-", "-", "the pool or nginx exited"))
                break
            time.sleep(0.05)
        stop.set()
        for client in clients:
            client.join(timeout=60)
        elapsed = time.monotonic() - started

        # Every acknowledged write reads back (through nginx, once the pool is whole again).
        time.sleep(1)
        unread = []
        for client in clients:
            for contact_id, names in client.expected.items():
                for _ in range(20):
                    try:
                        status, data = request(stack.http_port, "GET", f"/contacts/{contact_id}", AGENT)
                    except OSError:
                        status, data = None, b""
                    if status in (200, 404):
                        break
                    time.sleep(0.25)
                found = json.loads(data)["name"] if status == 200 else None if status == 404 else "?"
                if found not in names:
                    unread.append(f"{contact_id}: holds {found!r}, expected one of {sorted(map(str, names))}")
        writes = sum(client.writes for client in clients)

        check = subprocess.run([options.binary, "check", *stack.store_args()], capture_output=True, text=True)

        # Leaks: the second half's last quarter against its first quarter.
        growth = {}
        half = [sample for sample in samples if sample[0] >= elapsed / 2]
        if len(half) >= 4:
            quarter = max(1, len(half) // 4)
            for index, label, slack in ((1, "worker RSS (median, KiB)", 2048), (2, "worker descriptors (max)", 2),
                                        (3, "supervisor RSS (KiB)", 512), (4, "supervisor descriptors", 1)):
                first = statistics.mean(sample[index] for sample in half[:quarter])
                last = statistics.mean(sample[index] for sample in half[-quarter:])
                growth[label] = (first, last, last <= first * 1.10 + slack)

        # The report.
        total = sum(statuses.values())
        print(f"soak: {elapsed:.0f} s, {total} requests ({total / elapsed:.0f}/s), {writes} acknowledged writes")
        print("  events: " + ", ".join(f"{count} {name}" for name, count in sorted(events.items())))
        print("  requests by status: " + ", ".join(f"{status}: {count}" for status, count in
                                                    sorted(statuses.items(), key=lambda item: str(item[0]))))
        for label, (first, last, ok) in growth.items():
            print(f"  {label}: {first:.0f} → {last:.0f} over the second half {'ok' if ok else 'GROWS'}")
        print(f"  check: {check.stdout.strip().splitlines()[-1] if check.stdout.strip() else check.stderr.strip()}")
        problems = []
        # Each 502 or cut answer belongs to the last SIGKILL before it, if that was just before.
        by_kill = Counter()
        latest = 0.0
        for at in lost:
            before = [kill for kill in kills if kill <= at]
            if not before or at - before[-1] > LOST_WITHIN:
                problems.append(f"a 502 or cut answer {at - started:.2f} s into the run, "
                                f"not within {LOST_WITHIN} s after one")
            else:
                by_kill[before[-1]] += 1
                latest = max(latest, at - before[-1])
        if by_kill and max(by_kill.values()) > CLIENTS:
            problems.append(f"one SIGKILL cost {max(by_kill.values())} answers, more than the {CLIENTS} clients")
        print(f"  502s and cut answers: {len(lost)} after {len(kills)} SIGKILLs "
              f"(most after one: {max(by_kill.values()) if by_kill else 0}; the latest {latest * 1000:.0f} ms after its kill)")
        problems += [f"{method} {path} → {detail}" for _, method, path, detail in failures[:20]]
        if len(failures) > 20:
            problems.append(f"… and {len(failures) - 20} more failed requests")
        problems += [f"acknowledged write lost: {line}" for line in unread[:20]]
        if len(unread) > 20:
            problems.append(f"… and {len(unread) - 20} more")
        if writes == 0:
            problems.append("no write was acknowledged")
        if len(growth) < 4:
            problems.append("too few resource samples (run longer)")
        problems += [f"{label} grows: {first:.0f} → {last:.0f}" for label, (first, last, ok) in growth.items()
                     if not ok]
        if check.returncode != 0:
            problems.append(f"check fails: {check.stdout}{check.stderr}")
        for problem in problems:
            print(f"  FAIL: {problem}")
        print("soak: " + ("FAILED" if problems else "passed"))
        exit_code = 1 if problems else 0
    finally:
        stop.set()
        stack.stop()
        if options.keep or exit_code != 0:
            with open(base / "samples.tsv", "w") as out:
                out.write("seconds\tworker_rss_median_kib\tworker_fds_max\tsupervisor_rss_kib\tsupervisor_fds\n")
                for sample in samples:
                    out.write("\t".join(f"{value:.1f}" if isinstance(value, float) else str(value)
                                         for value in sample) + "\n")
            note(f"kept {base} (responder.log, nginx/error.log, samples.tsv)")
        else:
            subprocess.run(["rm", "-rf", str(base)])
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
