#!/usr/bin/python3
"""Feeds samples/plot_stats.py small generated stats files (with a malformed line, a gap
and a missing field) and checks it writes a PNG, counts the bad line, and refuses bad input."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

tool = sys.argv[1]
d = tempfile.mkdtemp(prefix="meshcast_plot_")
a, b, out = os.path.join(d, "a.jsonl"), os.path.join(d, "b.jsonl"), os.path.join(d, "w.png")
with open(a, "w") as f:
    for i in range(20):
        if i == 5:
            f.write('{"t": 1000.0, "lag_ms": \n')  # truncated line
        t = 1000.0 + i + (10 if i > 12 else 0)  # a 10 s gap (restart)
        f.write(json.dumps({"t": t, "lag_ms": 900 + 10 * i, "continuity": 0.99}) + "\n")
with open(b, "w") as f:
    for i in range(15):
        f.write(json.dumps({"t": 1003.0 + i, "lag_ms": 1200, "partners": 3}) + "\n")


def run(*args):
    return subprocess.run([sys.executable, tool, *args], capture_output=True, text=True)


r = run(a, b, "--out", out, "--title", "test")
assert r.returncode == 0, r.stderr
assert "skipped 1 malformed" in r.stderr, r.stderr
with open(out, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n", "not a PNG"
assert os.path.getsize(out) > 5000

r = run(os.path.join(d, "missing.jsonl"), "--out", out)
assert r.returncode == 2 and "no such file" in r.stderr, r.stderr
r = run(a, "--fields", "nope", "--out", out)
assert r.returncode == 2 and "no file has a numeric field 'nope'" in r.stderr, r.stderr
shutil.rmtree(d)
print("plot_stats_test: ok")
