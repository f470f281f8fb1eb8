"""Helpers the Python scripts under deploy/ share (bench/bench.py, bench/startup.py,
soak/soak.py): free loopback ports, one HTTP request, and what /proc says of a process.
Python standard library only; Linux only (/proc)."""

import http.client
import os
import socket


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_request(port, method, path, headers=None, body=None, timeout=120):
    """One request to 127.0.0.1:port on a fresh connection: (status, {lower-case header: value},
    body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        connection.close()


def children_of(pid):
    """The ids of `pid`'s child processes (none if it is gone)."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found += [int(value) for value in children.read().split()]
    except OSError:
        pass
    return found


def command_line(pid):
    """`pid`'s arguments as bytes ([] if it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().split(b"\0")
    except OSError:
        return []


def rss_kib(pid):
    """`pid`'s resident memory in KiB (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def open_descriptors(pid):
    """How many descriptors `pid` has open (None if it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
