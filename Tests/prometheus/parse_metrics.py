#!/usr/bin/env python3
"""Parses a Prometheus text exposition (the file named, or standard input) with the reference parser, PyPI's
prometheus-client, and prints what it found as JSON for the Swift end-to-end test
(Tests/EndToEndTests/OperationsTests.swift):

    {"families": {"contacts_requests": {"type": "counter", "samples": [["contacts_requests_total",
      {"method": "GET", "status": "2xx"}, 12.0], ...]}, ...}, "problems": [...]}

Besides the parser's own syntax checks (it raises on a malformed line), it checks what the
format requires and the parser lets pass: a family's HELP and TYPE once each and before its
samples, histogram buckets cumulative with +Inf last and equal to _count. Exit 1 when the text
does not parse or a problem is found (listed in "problems")."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding="utf-8") as file:
            text = file.read()
    else:
        text = sys.stdin.read()
    problems = []
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as error:  # the parser raises ValueError and friends on bad lines
        print(json.dumps({"families": {}, "problems": [f"does not parse: {error!r}"]}))
        return 1
    seen_type = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            if name in seen_type:
                problems.append(f"TYPE of {name} given twice")
            seen_type.add(name)
    if not text.endswith("\n"):
        problems.append("the text does not end with a newline")
    result = {}
    for family in families:
        samples = [[sample.name, sample.labels, sample.value] for sample in family.samples]
        result[family.name] = {"type": family.type, "help": family.documentation, "samples": samples}
        if family.type == "histogram":
            buckets = [s for s in family.samples if s.name.endswith("_bucket")]
            bounds = [float(s.labels["le"]) for s in buckets]
            counts = [s.value for s in buckets]
            if not bounds or bounds[-1] != float("inf"):
                problems.append(f"{family.name}: no +Inf bucket last")
            if bounds != sorted(bounds):
                problems.append(f"{family.name}: buckets out of order")
            if counts != sorted(counts):
                problems.append(f"{family.name}: bucket counts not cumulative: {counts}")
            count = [s.value for s in family.samples if s.name.endswith("_count")]
            if not count or not counts or count[0] != counts[-1]:
                problems.append(f"{family.name}: _count {count} differs from the +Inf bucket")
        if not family.samples:
            problems.append(f"{family.name}: no samples")
    print(json.dumps({"families": result, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
