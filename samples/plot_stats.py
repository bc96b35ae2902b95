#!/usr/bin/python3
"""Plot meshcast --stats FILE.jsonl files (one JSON object per line) over time.

One panel per field, stacked, sharing the time axis; one line per input file. Time is the
`t` field (unix seconds) relative to the earliest sample of all files, so files recorded
side by side line up (a viewer restarted later starts later). Where a file has a gap in
time (e.g. a killed process), the line is broken instead of drawn across the gap.

Needs Python 3 and matplotlib (Debian: python3-matplotlib).

Examples:
  python3 samples/plot_stats.py v1.jsonl v2.jsonl v3.jsonl --out watch.png
  python3 samples/plot_stats.py call.jsonl --fields rtt_ms,loss,jitter_ms --out call.png
"""
import argparse
import json
import math
import os
import sys

DEFAULT_FIELDS = ["lag_ms", "continuity"]
STYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "^", "d", "v", "x"]


def fail(msg):
    print(f"plot_stats: {msg}", file=sys.stderr)
    sys.exit(2)


def is_number(v):
    # bool is an int in Python; a true/false field is not a curve.
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_jsonl(path):
    """Returns (samples, malformed): samples are dicts; malformed counts skipped lines."""
    samples, malformed = [], 0
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    malformed += 1
                    continue
                if not isinstance(obj, dict):
                    malformed += 1
                    continue
                samples.append(obj)
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except (IsADirectoryError, PermissionError) as e:
        fail(f"{path}: cannot read ({e.strerror})")
    return samples, malformed


def times(samples):
    """Unix time per sample from `t`, or the line index (1 s apart) if `t` is missing."""
    if samples and all(is_number(s.get("t")) for s in samples):
        return [float(s["t"]) for s in samples], True
    return [float(i) for i in range(len(samples))], False


def split_at_gaps(xs, ys):
    """Inserts NaN where the time step is > 3x the median step, so gaps show as gaps."""
    if len(xs) < 3:
        return xs, ys
    steps = sorted(b - a for a, b in zip(xs, xs[1:]))
    limit = 3 * max(steps[len(steps) // 2], 1e-9)
    ox, oy = [xs[0]], [ys[0]]
    for i in range(1, len(xs)):
        if xs[i] - xs[i - 1] > limit:
            ox.append(float("nan"))
            oy.append(float("nan"))
        ox.append(xs[i])
        oy.append(ys[i])
    return ox, oy


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Plot fields of meshcast --stats JSONL files over time (PNG).",
        epilog="example: plot_stats.py a.jsonl b.jsonl --fields lag_ms,continuity --out a.png",
    )
    p.add_argument("files", nargs="+", help="stats files (JSON lines), one curve per file")
    p.add_argument("--fields", default=",".join(DEFAULT_FIELDS),
                   help="comma-separated numeric fields, one panel each (default: %(default)s)")
    p.add_argument("--out", default="stats.png", help="output PNG (default: %(default)s)")
    p.add_argument("--title", default="", help="chart title")
    p.add_argument("--labels", default="",
                   help="comma-separated legend labels, one per file (default: file names)")
    a = p.parse_args(argv)

    fields = [f.strip() for f in a.fields.split(",") if f.strip()]
    if not fields:
        fail("--fields is empty")
    labels = [s.strip() for s in a.labels.split(",")] if a.labels else []
    if labels and len(labels) != len(a.files):
        fail(f"--labels has {len(labels)} names for {len(a.files)} files")
    if not a.out.lower().endswith(".png"):
        fail("--out must end in .png")

    series = []  # (label, xs, {field: ys})
    t0 = None
    for i, path in enumerate(a.files):
        samples, malformed = read_jsonl(path)
        if malformed:
            print(f"plot_stats: {path}: skipped {malformed} malformed line(s)", file=sys.stderr)
        if not samples:
            fail(f"{path}: no JSON objects")
        xs, real_time = times(samples)
        if not real_time:
            print(f"plot_stats: {path}: no numeric 't' on every line; using line number as "
                  "seconds", file=sys.stderr)
        per_field = {}
        for f in fields:
            pts = [(x, float(s[f])) for x, s in zip(xs, samples) if is_number(s.get(f))]
            if pts:
                per_field[f] = pts
        if real_time:
            t0 = xs[0] if t0 is None else min(t0, xs[0])
        label = labels[i] if labels else os.path.splitext(os.path.basename(path))[0]
        series.append((label, real_time, per_field))

    for f in fields:
        if not any(f in pf for _, _, pf in series):
            fail(f"no file has a numeric field '{f}'")

    try:
        import matplotlib
    except ImportError:
        fail(f"matplotlib is missing for {sys.executable} (Debian: apt-get install "
             "python3-matplotlib, then run with /usr/bin/python3)")
    matplotlib.use("Agg")  # headless: no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(fields), 1, sharex=True, squeeze=False,
                             figsize=(10, 2.6 * len(fields) + 0.8))
    for row, f in enumerate(fields):
        ax = axes[row][0]
        for i, (label, real_time, pf) in enumerate(series):
            if f not in pf:
                continue
            xs = [x - t0 if real_time and t0 is not None else x for x, _ in pf[f]]
            ys = [y for _, y in pf[f]]
            xs, ys = split_at_gaps(xs, ys)
            # Viewers often overlap exactly: vary the dash and marker so each stays visible.
            ax.plot(xs, ys, label=label, linewidth=1.4, linestyle=STYLES[i % len(STYLES)],
                    marker=MARKERS[i % len(MARKERS)], markersize=3, alpha=0.85)
        ax.set_ylabel(f)
        ax.grid(True, alpha=0.3)
        if row == 0:
            ax.legend(loc="best", fontsize="small")
    axes[-1][0].set_xlabel("time (s)")
    if a.title:
        fig.suptitle(a.title)
    fig.tight_layout()
    try:
        fig.savefig(a.out, dpi=100)
    except OSError as e:
        fail(f"cannot write {a.out}: {e.strerror}")
    print(f"plot_stats: wrote {a.out} ({len(series)} file(s), fields {', '.join(fields)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
