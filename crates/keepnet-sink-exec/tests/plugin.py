"""A keepnet-export exec plugin for the tests: `python3 plugin.py MODE OUT`.

Writes its pid to OUT.pid, reads protocol v1 from stdin, then writes OUT (JSON):
- after the trailer: {"header", "rows", "trailer", "after", "env"}; exit 0 (MODE "ok") or 3
  (MODE "exit3");
- on EOF without the trailer: {"aborted": true, "rows": N}; exit 1.
MODE "die-after-header" exits 1 right after reading the header.
"""
import json
import os
import sys

mode, out = sys.argv[1], sys.argv[2]


def record(value):
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False)
    os.replace(out + ".tmp", out)


# Atomically: a reader polling for OUT.pid must never see it empty.
with open(out + ".pid.tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(out + ".pid.tmp", out + ".pid")

stdin = sys.stdin.buffer
header = json.loads(stdin.readline())
if header.get("protocol") != "keepnet-export/rows" or header.get("version") != 1:
    sys.exit("plugin.py: unexpected header %r" % header)
if mode == "die-after-header":
    sys.exit(1)

rows, trailer = [], None
for line in stdin:
    value = json.loads(line)
    # Row values are never numbers (and bool is an int in Python): this is the trailer.
    if type(value.get("rows")) is int and value.get("end") is True:
        trailer = value
        break
    rows.append(value)

if trailer is None:
    record({"aborted": True, "rows": len(rows)})
    sys.exit(1)

record(
    {
        "header": header,
        "rows": rows,
        "trailer": trailer,
        "after": stdin.read().decode("utf-8"),
        "env": {k: v for k, v in os.environ.items() if k.startswith("KEEPNET_")},
    }
)
sys.exit(3 if mode == "exit3" else 0)
