#!/usr/bin/env python3
"""A worker's start-up, measured the way a SIGHUP reload sees it, without nginx.

    deploy/bench/startup.py BINARY DATA_DIR [ROUNDS]

Copies DATA_DIR (it is never changed) and BINARY (others may rebuild .build/ meanwhile: SIGHUP
re-executes the binary), runs `BINARY serve --workers 2` on a private socket, and sends SIGHUP
ROUNDS times (5 by default). The supervisor replaces its workers one at a time; each new
worker's start-up is its "worker_ready" time minus the supervisor's "worker_started" time for
its pid (the JSON log lines on stderr, with milliseconds). Prints every start-up and the median.
Seed a data directory with `contacts-bench seed DIR COUNT [JOURNAL]` (JOURNAL creates left in the
journal, as the benchmark leaves some 15,000 at 100,000).
"""

import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

WORKERS = 2


def timestamp(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def events(log_path):
    with open(log_path, "rb") as log:
        for line in log.read().decode(errors="replace").splitlines():
            try:
                yield json.loads(line)
            except ValueError:
                continue


def startups(log_path, supervisor):
    """Start-up in milliseconds of every worker that the supervisor started and that got ready."""
    started, ready = {}, {}
    for event in events(log_path):
        if event.get("event") == "worker_started" and event.get("pid") == supervisor:
            started[int(event["worker"])] = timestamp(event["time"])
        elif event.get("event") == "worker_ready":
            ready[int(event["pid"])] = timestamp(event["time"])
    return {pid: (ready[pid] - started[pid]).total_seconds() * 1000 for pid in started if pid in ready}


def wait_for(log_path, supervisor, count, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        measured = startups(log_path, supervisor)
        if len(measured) >= count:
            return measured
        time.sleep(0.05)
    sys.exit(f"startup.py: only {len(startups(log_path, supervisor))} of {count} workers ready; see {log_path}")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, data, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5
    work = tempfile.mkdtemp(prefix="contacts-startup-")
    try:
        shutil.copytree(data, os.path.join(work, "data"))
        shutil.copy2(binary, os.path.join(work, "contacts-fcgi"))
        log_path = os.path.join(work, "log")
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                [os.path.join(work, "contacts-fcgi"), "serve", "--data-dir", os.path.join(work, "data"),
                 "--socket", os.path.join(work, "socket"), "--workers", str(WORKERS)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            first = wait_for(log_path, server.pid, WORKERS)
            print("first start:", ", ".join(f"{ms:.0f} ms" for ms in first.values()))
            measured = []
            for _ in range(rounds):
                before = startups(log_path, server.pid)
                server.send_signal(signal.SIGHUP)
                now = wait_for(log_path, server.pid, len(before) + WORKERS)
                new = [ms for pid, ms in now.items() if pid not in before]
                measured += new
                time.sleep(0.5)  # the last old worker retires after its replacement is ready
            print("SIGHUP:", ", ".join(f"{ms:.0f}" for ms in measured), "ms")
            print(f"median {statistics.median(measured):.0f} ms over {len(measured)} workers")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
