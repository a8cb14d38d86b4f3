#!/usr/bin/env python3
"""An exec plugin for the end-to-end tests (protocol: docs/exec-protocol.md).

Usage: rows_plugin.py OUT [--fail]
Writes {"header": ..., "rows": [...]} to OUT when the input ends with the trailer; with --fail,
prints a message on stderr and exits 3 instead; on EOF without the trailer writes nothing.
"""
import json
import sys

out = sys.argv[1]
fail = "--fail" in sys.argv[2:]
lines = iter(sys.stdin)
header = json.loads(next(lines))
assert header["protocol"] == "keepnet-export/rows" and header["version"] == 1
rows = []
for line in lines:
    record = json.loads(line)
    if record.get("end") is True and type(record.get("rows")) is int:
        if fail:
            print("rows_plugin: refusing on purpose", file=sys.stderr)
            sys.exit(3)
        assert record["rows"] == len(rows)
        with open(out, "w", encoding="utf-8") as f:
            json.dump({"header": header, "rows": rows}, f, ensure_ascii=False)
        sys.exit(0)
    rows.append(record)
# EOF without the trailer: the run was aborted; publish nothing.
sys.exit(0)
