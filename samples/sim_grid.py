#!/usr/bin/python3
"""Run `meshcast sim` over a grid of network conditions; write a table and a heatmap.

For every cell of the grid (the cartesian product of its axes) and every seed, runs
  meshcast sim --peers N --duration D --bitrate B --segment-ms S --rtt-ms R --loss L \\
      --churn-lifetime C [--upload-dist U] --seed SEED [EXTRA_ARGS] --json OUT/runs/CELL.json
one run at a time (--jobs N: N at once), and writes
  OUT/grid.md    Markdown table, one row per cell, pass/fail against the targets
  OUT/grid.json  all numbers: every run, and per cell the worst over its seeds
  OUT/grid.png   heatmaps of lag p95 and continuity; rows rtt x loss, columns churn x upload
  OUT/runs/      per run CELL.json (the sim's metrics), CELL.log (its stdout and stderr)
A run writes CELL.json.part, renamed to CELL.json when it succeeds. A run whose CELL.json
exists and parses, from the same sim arguments (kept in CELL.args), is not run again, so an
interrupted grid resumes where it stopped; --force runs everything again.

Grid file, JSON (keys starting with "_" are comments; samples/sim_grid.json is the default):
  peers, duration, bitrate, segment_ms   the sim's options of the same names (omitted: the
                                         sim's default)
  seed | seeds          one seed, or a list of them: each cell runs once per seed (default 1)
  axes                  object, required; each axis non-empty; omitted: the sim's default
    rtt                 list of "A..B" (ms, per-pair RTT range) or a number (fixed RTT)
    loss                list of per-packet loss rates in [0, 0.5]
    churn_lifetime      list of mean viewer lifetimes in s (0 = no churn)
    upload              object: name -> --upload-dist spec "fraction:multiple,..."
    In a list, or as an upload spec, null means the sim's default (option not passed).
  targets               optional object: lag_p95_ms (at most), continuity (at least),
                        startup_p95_ms (at most); the worst seed of a cell counts
  extra_args            optional list of strings added to every run, e.g.
                        ["--node", "window=40", "--partitions", "4"]

Exit: 0 every run finished (whether or not the targets are met), 1 some run failed (listed
with its log), 2 bad command line or grid file, 130 interrupted (rerun to resume).

Needs Python 3 and matplotlib (Debian: python3-matplotlib) for the PNG.
"""
import argparse
import concurrent.futures
import datetime
import difflib
import hashlib
import itertools
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MESHCAST = os.path.join(ROOT, "build", "release", "apps", "meshcast")
DEFAULT_GRID = os.path.join(ROOT, "samples", "sim_grid.json")

# Grid key -> (sim option, type, min, max), ranges as `meshcast sim` checks them.
SCALARS = {
    "peers": ("--peers", int, 1, 2_000_000),
    "duration": ("--duration", float, 1, 36000),
    "bitrate": ("--bitrate", int, 8, 100_000),
    "segment_ms": ("--segment-ms", int, 20, 2000),
}
AXES = {"rtt": "--rtt-ms", "loss": "--loss", "churn_lifetime": "--churn-lifetime",
        "upload": "--upload-dist"}
TARGETS = {"lag_p95_ms": "lag p95", "continuity": "continuity",
           "startup_p95_ms": "start-up p95"}
TOP_KEYS = set(SCALARS) | {"seed", "seeds", "axes", "targets", "extra_args"}
# Options the grid sets itself; in extra_args they would clash with it.
RESERVED = {f for f, *_ in SCALARS.values()} | set(AXES.values()) | {
    "--seed", "--json", "--help", "--bench-crypto"}


def fail(msg):
    print(f"sim_grid: {msg}", file=sys.stderr)
    sys.exit(2)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt_num(v):
    """Shortest text for a number: 90, 0.005 (a whole float loses its .0)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def suggest(key, known):
    close = [k for k in sorted(known) if k.startswith(key) or key.startswith(k)] \
        or difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_upload_spec(spec):
    """[(fraction, multiple)] normalised as the sim does, or None if malformed."""
    out = []
    for item in spec.split(","):
        f, sep, m = item.strip().partition(":")
        try:
            f, m = float(f), float(m)
        except ValueError:
            return None
        if not sep or not (f > 0 and m >= 0) or not (math.isfinite(f) and math.isfinite(m)):
            return None
        out.append((f, m))
    total = sum(f for f, _ in out)
    return [(f / total, m) for f, m in out] if out else None


def describe_upload(spec):
    if spec is None:
        return "the simulator's default"
    dist = parse_upload_spec(spec)
    mean = sum(f * m for f, m in dist)
    below = sum(f for f, m in dist if m < 1)
    return f"`{spec}` (mean {mean:.2f}x the stream rate, {below * 100:.0f} % of peers below 1x)"


# ---------------------------------------------------------------------------------------
# Grid file


def load_grid(path):
    """Reads and checks the grid file; exits 2 listing every problem found."""
    try:
        with open(path, encoding="utf-8") as f:
            g = json.load(f)
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except (OSError, UnicodeDecodeError) as e:
        fail(f"{path}: cannot read ({e})")
    except ValueError as e:
        fail(f"{path}: not valid JSON ({e})")
    if not isinstance(g, dict):
        fail(f"{path}: must be a JSON object, got {type(g).__name__}")

    errors = []
    err = errors.append
    for k in g:
        if k not in TOP_KEYS and not k.startswith("_"):
            err(f"unknown key '{k}'{suggest(k, TOP_KEYS)}")

    scalars = {}
    for k, (_, typ, lo, hi) in SCALARS.items():
        v = g.get(k)
        if v is None:
            scalars[k] = None
        elif not is_number(v) or (typ is int and not isinstance(v, int)):
            err(f"{k}: must be a {'whole ' if typ is int else ''}number, got {json.dumps(v)}")
        elif not lo <= v <= hi:
            err(f"{k}: must be in [{lo}, {hi}], got {fmt_num(v)}")
        else:
            scalars[k] = v

    seeds = [1]
    if "seed" in g and "seeds" in g:
        err("give 'seed' or 'seeds', not both")
    elif "seeds" in g:
        seeds = g["seeds"]
        if not isinstance(seeds, list) or not seeds:
            err(f"seeds: must be a non-empty list of whole numbers, got {json.dumps(seeds)}")
            seeds = [1]
    elif "seed" in g:
        seeds = [g["seed"]]
    bad = [s for s in seeds if not isinstance(s, int) or isinstance(s, bool) or s < 0]
    if bad:
        err(f"seed(s): must be whole numbers >= 0, got {json.dumps(bad[0])}")
    elif len(set(seeds)) != len(seeds):
        err("seeds: a seed is listed twice")

    axes = {k: [("default", None)] for k in AXES}  # (label, value); None: option not passed
    ga = g.get("axes")
    if not isinstance(ga, dict):
        err(f"axes: must be an object with some of {', '.join(AXES)}, "
            + (f"got {json.dumps(ga)}" if "axes" in g else "missing"))
        ga = {}
    for k in ga:
        if k not in AXES:
            err(f"axes: unknown axis '{k}'{suggest(k, AXES)}")
    for k in ("rtt", "loss", "churn_lifetime"):
        if k not in ga:
            continue
        vals = ga[k]
        if not isinstance(vals, list) or not vals:
            err(f"axes.{k}: must be a non-empty list, got {json.dumps(vals)}")
            continue
        out = []
        for i, v in enumerate(vals):
            where = f"axes.{k}[{i}]"
            if v is None:
                out.append(("default", None))
            elif k == "rtt":
                m = re.fullmatch(r"\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?", v) if isinstance(v, str) \
                    else None
                if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10000:
                    out.append((str(v), str(v)))
                elif m and int(m[1]) <= int(m[2] or m[1]) <= 10000:
                    r = f"{int(m[1])}..{int(m[2])}" if m[2] else str(int(m[1]))
                    out.append((r, r))
                else:
                    err(f"{where}: must be \"A..B\" (ms, A <= B <= 10000) or a whole "
                        f"number, got {json.dumps(v)}")
            elif not is_number(v):
                err(f"{where}: must be a number, got {json.dumps(v)}")
            elif k == "loss" and not 0 <= v <= 0.5:
                err(f"{where}: loss must be in [0, 0.5], got {fmt_num(v)}")
            elif k == "churn_lifetime" and not 0 <= v <= 1e9:
                err(f"{where}: must be >= 0 s (0 = no churn), got {fmt_num(v)}")
            else:
                out.append((fmt_num(v), v))
        labels = [lab for lab, _ in out]
        dups = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dups:
            err(f"axes.{k}: {dups[0]} is listed twice")
        if out:
            axes[k] = out
    if "upload" in ga:
        up = ga["upload"]
        if not isinstance(up, dict) or not up:
            err(f"axes.upload: must be a non-empty object name -> spec or null, e.g. "
                f"{{\"today\": null, \"scarce\": \"0.3:0.6,0.5:1.3,0.2:1.9\"}}; "
                f"got {json.dumps(up)}")
        else:
            out = []
            for name, spec in up.items():
                # The name goes into file names.
                if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", name):
                    err(f"axes.upload: name '{name}' must be 1-32 letters, digits, '.', '_' "
                        "or '-'")
                elif spec is not None and (not isinstance(spec, str)
                                           or parse_upload_spec(spec) is None):
                    err(f"axes.upload.{name}: must be null or a spec like "
                        f"\"0.2:0.5,0.5:2,0.3:4\" (fraction:multiple of the stream rate), "
                        f"got {json.dumps(spec)}")
                else:
                    out.append((name, spec))
            if out:
                axes["upload"] = out

    targets = g.get("targets", {})
    if not isinstance(targets, dict):
        err(f"targets: must be an object, got {json.dumps(targets)}")
        targets = {}
    for k, v in list(targets.items()):
        if k not in TARGETS:
            err(f"targets: unknown target '{k}'{suggest(k, TARGETS)}; known: "
                f"{', '.join(TARGETS)}")
        elif not is_number(v) or v <= 0 or (k == "continuity" and v > 1):
            err(f"targets.{k}: must be a number > 0{' and <= 1' if k == 'continuity' else ''}"
                f", got {json.dumps(v)}")
    targets = {k: v for k, v in targets.items() if k in TARGETS and is_number(v)}

    extra = g.get("extra_args", [])
    if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
        err(f"extra_args: must be a list of strings, got {json.dumps(extra)}")
        extra = []
    for a in extra:
        if a.split("=", 1)[0] in RESERVED:
            err(f"extra_args: {a.split('=', 1)[0]} is set by the grid itself; use the grid's "
                "keys (or --peers / --duration here)")

    if errors:
        fail(f"{path}: bad grid file:\n  " + "\n  ".join(errors)
             + "\n(format: sim_grid.py --help)")
    return {"scalars": scalars, "seeds": seeds, "axes": axes, "targets": targets,
            "extra_args": extra}


# ---------------------------------------------------------------------------------------
# Runs


def make_cells(grid):
    ax = grid["axes"]
    return [dict(zip(AXES, combo)) for combo in
            itertools.product(ax["rtt"], ax["loss"], ax["churn_lifetime"], ax["upload"])]


def run_name(cell, seed):
    rtt, loss, churn, up = (cell[k][0] for k in AXES)
    return f"rtt{rtt.replace('..', '-')}_loss{loss}_churn{churn}_up-{up}_seed{seed}"


def sim_args(grid, cell, seed):
    """The sim's arguments after `meshcast`, without --json."""
    args = ["sim"]
    for k, (flag, *_) in SCALARS.items():
        if grid["scalars"][k] is not None:
            args += [flag, fmt_num(grid["scalars"][k])]
    for k, flag in AXES.items():
        if cell[k][1] is not None:
            args += [flag, fmt_num(cell[k][1])]
    return args + ["--seed", str(seed)] + grid["extra_args"]


def command_pattern(grid):
    """One line standing for every run's command, axes as placeholders."""
    parts = ["meshcast", "sim"]
    for k, (flag, *_) in SCALARS.items():
        if grid["scalars"][k] is not None:
            parts += [flag, fmt_num(grid["scalars"][k])]
    for k, flag in AXES.items():
        vals = [v for _, v in grid["axes"][k]]
        ph = {"rtt": "RTT", "loss": "LOSS", "churn_lifetime": "CHURN", "upload": "UPLOAD"}[k]
        if all(v is None for v in vals):
            continue
        parts.append(f"[{flag} {ph}]" if None in vals else f"{flag} {ph}")
    parts += ["--seed", "SEED"] + [shlex.quote(a) for a in grid["extra_args"]]
    return " ".join(parts + ["--json", "runs/CELL.json"])


def dig(j, path):
    for p in path.split("."):
        if not isinstance(j, dict) or p not in j:
            return None
        j = j[p]
    return j if is_number(j) else None


REQUIRED = {"lag_p50_ms": "lag_ms.p50", "lag_p95_ms": "lag_ms.p95", "lag_count": "lag_ms.count",
            "continuity": "continuity", "startup_p95_ms": "startup_ms.p95",
            "startup_count": "startup_ms.count", "hops_p50": "hops.p50", "hops_p95": "hops.p95",
            "source_upload_copies": "source_upload_copies",
            "control_overhead": "control_overhead"}
OPTIONAL = {"cpu_time_s": "cpu_time_s", "wall_time_s": "wall_time_s",
            "peak_rss_mb": "peak_rss_mb", "duplicate_ratio": "duplicate_ratio",
            "min_viewer_continuity": "context.min_viewer_continuity",
            "viewers_never_started": "context.viewers_never_started",
            "stalls": "context.stalls"}


def read_metrics(path):
    """(metrics, None) from a sim JSON, or (None, why not)."""
    try:
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
    except FileNotFoundError:
        return None, "no JSON written"
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return None, f"bad JSON: {e}"
    m = {}
    for k, p in REQUIRED.items():
        m[k] = dig(j, p)
        if m[k] is None:
            return None, f"the JSON has no number at {p}"
    for k, p in OPTIONAL.items():
        if dig(j, p) is not None:
            m[k] = dig(j, p)
    # Only the longer runs have viewers past the warm-up.
    for k, p in (("lag_p95_after_warmup_ms", "context.lag_ms_after_warmup"),
                 ("startup_p95_after_warmup_ms", "context.startup_ms_joined_after_warmup")):
        if dig(j, p + ".count"):
            m[k] = dig(j, p + ".p95")
    return m, None


def binary_id(path):
    """First 12 hex digits of the binary's SHA-256: tells which build made a run."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:12]
    except OSError:
        return "unknown"


def reusable(r):
    """True if the run's JSON is there, parses, and came from the same sim arguments."""
    if not os.path.exists(r["json"]):
        return False
    try:
        with open(r["args_file"], encoding="utf-8") as f:
            done = json.load(f)
    except (OSError, ValueError):
        return False
    if not isinstance(done, dict) or done.get("args") != r["args"]:
        return False
    r["binary"] = done.get("binary", "unknown")
    return read_metrics(r["json"])[0] is not None


class Runner:
    """Runs the sims, at most `jobs` at once; stops them all on interrupt."""

    def __init__(self, meshcast, binary, jobs, total):
        self.meshcast, self.binary, self.jobs, self.total = meshcast, binary, jobs, total
        self.lock = threading.Lock()
        self.procs = set()
        self.done = 0
        self.walls = []
        self.stopping = False

    def run(self, r):
        for p in (r["json"], r["args_file"], r["part"]):
            if os.path.exists(p):
                os.remove(p)
        cmd = [self.meshcast] + r["args"] + ["--json", r["part"]]
        t0 = time.monotonic()
        try:
            with open(r["log"], "w", encoding="utf-8") as log:
                log.write("$ " + shlex.join(cmd) + "\n")
                log.flush()
                with self.lock:
                    if self.stopping:
                        return
                    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
                    self.procs.add(proc)
                rc = proc.wait()
                with self.lock:
                    self.procs.discard(proc)
        except OSError as e:
            r["error"] = f"cannot run: {e}"
            rc = None
        wall = time.monotonic() - t0
        if rc is not None:
            if rc != 0:
                r["error"] = (f"killed by signal {-rc}" if rc < 0 else f"exit {rc}")
            else:
                r["metrics"], r["error"] = read_metrics(r["part"])
        if r.get("metrics"):
            os.replace(r["part"], r["json"])
            r["binary"] = self.binary
            with open(r["args_file"], "w", encoding="utf-8") as f:
                json.dump({"args": r["args"], "binary": self.binary}, f)
                f.write("\n")
        elif os.path.exists(r["part"]):
            os.remove(r["part"])
        with self.lock:
            if self.stopping:
                return
            self.done += 1
            self.walls.append(wall)
            left = (self.total - self.done) * sum(self.walls) / len(self.walls) / self.jobs
            if r.get("metrics"):
                m = r["metrics"]
                what = (f"lag p95 {m['lag_p95_ms']:.0f} ms, continuity "
                        f"{trunc4(m['continuity'])}")
            else:
                what = f"FAILED ({r['error']}), log: {r['log']}"
            eta = f", ~{fmt_dur(left)} left" if self.done < self.total else ""
            print(f"[{self.done}/{self.total}] {r['name']}: {what} ({wall:.1f} s{eta})",
                  flush=True)

    def stop(self):
        with self.lock:
            self.stopping = True
            for p in self.procs:
                p.terminate()


def fmt_dur(s):
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


def churn_label(lv):
    label, v = lv
    return "none" if v == 0 else label if v is None else label + " s"


def trunc4(c):
    # Truncated, not rounded: 0.98996 must not print as the 0.99 it misses.
    return f"{math.floor(c * 10000) / 10000:.4f}"


# ---------------------------------------------------------------------------------------
# Results


def summarise(runs, targets):
    ok = [r for r in runs if r.get("metrics")]
    s = {"failed": [r for r in runs if not r.get("metrics")], "seeds": len(runs)}
    if ok:
        ms = [r["metrics"] for r in ok]
        worst = {"lag_p50_ms": max, "lag_p95_ms": max, "continuity": min,
                 "startup_p95_ms": max, "hops_p50": max, "hops_p95": max,
                 "source_upload_copies": max, "control_overhead": max}
        s["worst"] = {k: f(m[k] for m in ms) for k, f in worst.items()}
        s["spread"] = {k: [min(m[k] for m in ms), max(m[k] for m in ms)]
                       for k in ("lag_p50_ms", "lag_p95_ms", "continuity")}
        s["no_playback"] = any(m["lag_count"] == 0 for m in ms)
        s["no_startup"] = all(m["startup_count"] == 0 for m in ms)
    misses = []
    if "worst" in s:
        w = s["worst"]
        if s["no_playback"]:
            misses.append("no playback")
        for k, v in targets.items():
            if (w[k] < v) if k == "continuity" else (w[k] > v):
                misses.append(TARGETS[k])
    s["misses"] = misses
    s["meets"] = bool(ok) and not s["failed"] and not misses
    return s


def git_info():
    def git(*a):
        try:
            p = subprocess.run(["git", "-C", ROOT, *a], capture_output=True, text=True,
                               timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout.strip() if p.returncode == 0 else None
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return commit, dirty


def fmt_spread(worst, lo, hi, nseeds):
    w = f"{math.ceil(worst)}"
    return w if nseeds == 1 else f"{w} ({math.ceil(lo)}-{math.ceil(hi)})"


def write_md(path, ctx, cells):
    g, targets = ctx["grid"], ctx["grid"]["targets"]
    L = ["# meshcast sim grid", ""]
    dirty = " (with uncommitted changes in the tree)" if ctx["dirty"] else ""
    L.append(f"- {ctx['date']}, commit {ctx['commit']}{dirty}, binary `{ctx['meshcast']}`"
             f" (built {ctx['built']}, sha256 {ctx['binary']})")
    if ctx["binaries"] != [ctx["binary"]]:
        L.append(f"- **warning**: the runs come from {len(ctx['binaries'])} different "
                 f"binaries (sha256 {', '.join(ctx['binaries'])}; per run in `grid.json`); "
                 "`--force` reruns them all with this one")
    over = f" ({', '.join(ctx['overrides'])} from the command line)" if ctx["overrides"] else ""
    L.append(f"- grid `{ctx['grid_file']}`{over}; each run:")
    L.append(f"  `{command_pattern(g)}`")
    L.append("- seeds: " + ", ".join(map(str, g["seeds"]))
             + ("; values are the worst seed, (min-max) over the seeds"
                if len(g["seeds"]) > 1 else ""))
    for name, spec in g["axes"]["upload"]:
        L.append(f"- upload `{name}`: {describe_upload(spec)}")
    if targets:
        t = [f"{TARGETS[k]} {'>=' if k == 'continuity' else '<='} {fmt_num(v)}"
             + ("" if k == "continuity" else " ms") for k, v in targets.items()]
        L.append(f"- targets: {', '.join(t)} (the worst seed counts)")
    L.append("")
    n_ok = sum(1 for c in cells if c["summary"]["meets"])
    n_failed = sum(1 for c in cells if c["summary"]["failed"])
    failed = f" ({n_failed} cell{'s' if n_failed != 1 else ''} with a failed run)" \
        if n_failed else ""
    if targets:
        L.append(f"**{n_ok} of {len(cells)} cells meet the targets**{failed}")
    else:
        L.append(f"**{len(cells) - n_failed} of {len(cells)} cells ran; no targets in the "
                 f"grid**{failed}")
    L += ["", "| rtt (ms) | loss | churn lifetime | upload | seeds | lag p50 (ms) | lag p95 (ms) "
          "| continuity | start-up p95 (ms) | hops p50/p95 | result |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        s = c["summary"]
        row = [c["cell"]["rtt"][0], c["cell"]["loss"][0],
               churn_label(c["cell"]["churn_lifetime"]),
               c["cell"]["upload"][0], str(s["seeds"])]
        if "worst" in s:
            w, sp, n = s["worst"], s["spread"], s["seeds"] - len(s["failed"])
            row += [fmt_spread(w["lag_p50_ms"], *sp["lag_p50_ms"], n),
                    fmt_spread(w["lag_p95_ms"], *sp["lag_p95_ms"], n),
                    trunc4(w["continuity"]),
                    "-" if s["no_startup"] else f"{math.ceil(w['startup_p95_ms'])}",
                    f"{w['hops_p50']:.0f}/{w['hops_p95']:.0f}"]
        else:
            row += ["-"] * 5
        res = []
        if s["failed"]:
            res.append("**run failed**: " + "; ".join(
                f"seed {r['seed']} ({r['error']}, `{os.path.relpath(r['log'], ctx['out'])}`)"
                for r in s["failed"]))
        if s["misses"]:
            res.append("**miss**: " + ", ".join(s["misses"]))
        row.append("; ".join(res) or ("pass" if targets else "ran"))
        L.append("| " + " | ".join(row) + " |")
    L += ["", "Lag, continuity, start-up and hops over the whole run, as `meshcast sim` "
          "reports them (`lag_ms`, `continuity`, `startup_ms`, `hops`); continuity truncated "
          "to 4 decimals. Every run's figures: `grid.json`, `runs/`.", ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(L))


def write_json(path, ctx, cells):
    def run_out(r):
        o = {"seed": r["seed"], "ok": bool(r.get("metrics")),
             "json": os.path.relpath(r["json"], ctx["out"]),
             "log": os.path.relpath(r["log"], ctx["out"]), "binary": r.get("binary")}
        if r.get("metrics"):
            o["metrics"] = r["metrics"]
        else:
            o["error"] = r["error"]
        return o
    g = ctx["grid"]
    out = {
        "generated_utc": ctx["date"], "commit": ctx["commit"], "tree_dirty": ctx["dirty"],
        "meshcast": ctx["meshcast"], "meshcast_sha256": ctx["binary"],
        "grid_file": ctx["grid_file"],
        "command_pattern": command_pattern(g),
        "settings": {**g["scalars"], "seeds": g["seeds"], "extra_args": g["extra_args"]},
        "axes": {k: ({n: s for n, s in g["axes"][k]} if k == "upload"
                     else [v for _, v in g["axes"][k]]) for k in AXES},
        "targets": g["targets"],
        "summary": {"cells": len(cells),
                    "meet_targets": sum(1 for c in cells if c["summary"]["meets"]),
                    "with_failed_runs": sum(1 for c in cells if c["summary"]["failed"])},
        "cells": [],
    }
    for c in cells:
        s = c["summary"]
        out["cells"].append({
            **{k: c["cell"][k][1] for k in ("rtt", "loss", "churn_lifetime")},
            "upload": c["cell"]["upload"][0], "upload_dist": c["cell"]["upload"][1],
            "meets_targets": s["meets"], "misses": s["misses"],
            "worst": s.get("worst"), "spread": s.get("spread"),
            "runs": [run_out(r) for r in c["runs"]],
        })
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


def write_png(path, ctx, cells):
    import matplotlib
    matplotlib.use("Agg")  # headless: no display needed
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize, TwoSlopeNorm
    from matplotlib.patches import Rectangle

    g, targets = ctx["grid"], ctx["grid"]["targets"]
    ax_ = g["axes"]
    rows = list(itertools.product(ax_["rtt"], ax_["loss"]))
    cols = list(itertools.product(ax_["churn_lifetime"], ax_["upload"]))
    at = {(c["cell"]["rtt"][0], c["cell"]["loss"][0], c["cell"]["churn_lifetime"][0],
           c["cell"]["upload"][0]): c["summary"] for c in cells}

    # Red-green only around a target; without one, a neutral scale (darker = worse).
    panels = [("lag_p95_ms", "lag p95 (ms)", "RdYlGn_r", "YlOrBr", lambda v: f"{math.ceil(v)}"),
              ("continuity", "continuity", "RdYlGn", "YlOrBr_r", trunc4)]
    side = len(cols) <= 4
    cw, rh = 1.35, 0.62
    pw, ph = 2.6 + cw * len(cols), 1.6 + rh * len(rows)
    fig, axs = plt.subplots(1 if side else 2, 2 if side else 1,
                            figsize=(2 * pw if side else pw, ph + 0.9 if side else 2 * ph + 0.9))
    cells_grid = [[at[(r[0][0], r[1][0], c[0][0], c[1][0])] for c in cols] for r in rows]
    for ax, (key, title, cmap, plain_cmap, fmt) in zip(axs, panels):
        vals = [[s["worst"][key] if "worst" in s and not s["failed"] else math.nan
                 for s in row] for row in cells_grid]
        flat = [v for row in vals for v in row if not math.isnan(v)]
        lo, hi = (min(flat), max(flat)) if flat else (0, 1)
        t = targets.get(key)
        # Centre the colours on the target: green meets it, red misses it.
        if t is not None and key == "continuity" and t < 1:
            norm = TwoSlopeNorm(vcenter=t, vmin=min(lo, t - 4 * (1 - t)), vmax=1.0)
        elif t is not None and key != "continuity":
            norm = TwoSlopeNorm(vcenter=t, vmin=min(lo, t / 2), vmax=max(hi, t * 1.5))
        else:
            pad = 0 if hi > lo else max(abs(lo) * 0.01, 1e-3)
            top = min(hi + pad, 1.0) if key == "continuity" else hi + pad
            norm = Normalize(vmin=min(lo - pad, top - 2 * pad), vmax=top)
            cmap = plain_cmap
        cm = plt.get_cmap(cmap).copy()
        cm.set_bad("lightgrey")
        im = ax.imshow(vals, cmap=cm, norm=norm, aspect="auto")
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        if isinstance(norm, TwoSlopeNorm):
            # The default ticks crowd the longer half of a two-slope scale.
            cb.set_ticks([norm.vmin, (norm.vmin + norm.vcenter) / 2, norm.vcenter,
                          (norm.vcenter + norm.vmax) / 2, norm.vmax])
        for i, row in enumerate(cells_grid):
            for j, s in enumerate(row):
                if s["failed"] or "worst" not in s:
                    ax.text(j, i, "run\nfailed", ha="center", va="center", fontsize=8,
                            color="black")
                    continue
                v = s["worst"][key]
                miss = (t is not None and ((v < t) if key == "continuity" else (v > t))) \
                    or s["no_playback"]
                if miss:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///",
                                           edgecolor="black", linewidth=0, alpha=0.45))
                    ax.text(j, i, fmt(v) + ("\nno playback" if s["no_playback"] else ""),
                            ha="center", va="center", fontsize=9, fontweight="bold",
                            color="darkred",
                            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "darkred",
                                  "lw": 0.8})
                else:
                    r_, g_, b_, _ = cm(norm(v))
                    dark = 0.299 * r_ + 0.587 * g_ + 0.114 * b_ < 0.5
                    ax.text(j, i, fmt(v), ha="center", va="center", fontsize=9,
                            color="white" if dark else "black")
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels([f"churn {churn_label(c[0])}\n"
                            f"upload {c[1][0]}" for c in cols], fontsize=8)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"rtt {r[0][0]}\nloss {r[1][0]}" for r in rows], fontsize=8)
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        tt = ""
        if t is not None:
            tt = f" (target {'>=' if key == 'continuity' else '<='} {fmt_num(t)})"
        ax.set_title(f"{title}{tt}", fontsize=10, pad=30)
    sc = g["scalars"]
    bits = []
    for k, unit in (("peers", " peers"), ("duration", " s"), ("bitrate", " kbit/s"),
                    ("segment_ms", " ms segments")):
        if sc[k] is not None:
            bits.append(fmt_num(sc[k]) + unit)
    seeds = g["seeds"]
    bits.append(f"seed {seeds[0]}" if len(seeds) == 1
                else "worst of seeds " + ", ".join(map(str, seeds)))
    fig.suptitle(f"meshcast sim grid: {', '.join(bits)}; commit {ctx['commit']}"
                 + (" (dirty)" if ctx["dirty"] else ""), fontsize=11)
    notes = ["hatched, dark red in a box: misses its target"] if targets else []
    if any(s["failed"] for s in at.values()):
        notes.append("grey: a run failed")
    fig.text(0.5, 0.01, "; ".join(notes), ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__,
        epilog="examples:\n"
               "  samples/sim_grid.py samples/sim_grid.json             # all: tens of minutes\n"
               "  samples/sim_grid.py samples/sim_grid.json --peers 200 --duration 10 \\\n"
               "      --out /tmp/grid                                    # a quick try, ~15 s\n"
               "  samples/sim_grid.py my_grid.json --jobs 2 --dry-run   # print the commands",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grid", nargs="?", default=DEFAULT_GRID,
                   help="grid file (default: samples/sim_grid.json)")
    p.add_argument("--out", default="sim-grid-out",
                   help="output folder, created if missing (default: %(default)s)")
    p.add_argument("--meshcast", default=DEFAULT_MESHCAST,
                   help="meshcast binary (default: build/release/apps/meshcast of this repo)")
    p.add_argument("--peers", type=int, help="override the grid's peers (for quick runs)")
    p.add_argument("--duration", type=float, help="override the grid's duration, s")
    p.add_argument("--jobs", type=int, default=1,
                   help="runs at once (default 1; each sim already uses every core unless "
                        "extra_args sets --threads)")
    p.add_argument("--force", action="store_true", help="rerun runs whose JSON is there")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--no-png", action="store_true", help="skip grid.png (no matplotlib needed)")
    a = p.parse_args(argv)

    if a.jobs < 1:
        fail("--jobs must be >= 1")
    grid = load_grid(a.grid)
    overrides = []
    for k, v in (("peers", a.peers), ("duration", a.duration)):
        if v is None:
            continue
        _, _, lo, hi = SCALARS[k]
        if not lo <= v <= hi:
            fail(f"--{k} must be in [{lo}, {hi}], got {fmt_num(v)}")
        grid["scalars"][k] = int(v) if float(v).is_integer() else v
        overrides.append(f"{k} {fmt_num(v)}")

    meshcast = os.path.abspath(a.meshcast)
    if not (os.path.isfile(meshcast) and os.access(meshcast, os.X_OK)):
        msg = f"{a.meshcast}: no such executable"
        if a.meshcast == DEFAULT_MESHCAST:
            msg += " (build it: bash scripts/build.sh release)"
        if not a.dry_run:
            fail(msg)
        print(f"sim_grid: warning: {msg}", file=sys.stderr)
    if not a.no_png and not a.dry_run:
        try:
            # Checked now rather than after hours of runs.
            import matplotlib  # noqa: F401
        except ImportError:
            fail(f"matplotlib is missing for {sys.executable} (Debian: apt-get install "
                 "python3-matplotlib, then run with /usr/bin/python3), or pass --no-png")

    out = os.path.abspath(a.out)
    runs_dir = os.path.join(out, "runs")
    cells = []
    for cell in make_cells(grid):
        runs = []
        for seed in grid["seeds"]:
            name = run_name(cell, seed)
            base = os.path.join(runs_dir, name)
            runs.append({"name": name, "seed": seed, "args": sim_args(grid, cell, seed),
                         "json": base + ".json", "part": base + ".json.part",
                         "log": base + ".log", "args_file": base + ".args"})
        cells.append({"cell": cell, "runs": runs})
    all_runs = [r for c in cells for r in c["runs"]]
    for r in all_runs:
        r["todo"] = a.force or not reusable(r)
    todo = [r for r in all_runs if r["todo"]]

    if a.dry_run:
        for r in all_runs:
            cmd = shlex.join([meshcast] + r["args"] + ["--json", r["json"]])
            print(cmd if r["todo"] else f"# done, kept (--force reruns it): {cmd}")
        print(f"# {len(todo)} of {len(all_runs)} runs to do ({len(cells)} cells x "
              f"{len(grid['seeds'])} seed(s)), {a.jobs} at a time; output in {out}",
              file=sys.stderr)
        return 0

    try:
        os.makedirs(runs_dir, exist_ok=True)
    except OSError as e:
        fail(f"cannot create {runs_dir}: {e.strerror}")
    kept = len(all_runs) - len(todo)
    print(f"sim_grid: {len(cells)} cells x {len(grid['seeds'])} seed(s) = {len(all_runs)} runs"
          + (f", {kept} already done in {runs_dir} (--force reruns them)" if kept else "")
          + f"; {len(todo)} to run, {a.jobs} at a time", flush=True)
    print(f"sim_grid: each run: {command_pattern(grid)}", flush=True)

    binary = binary_id(meshcast)
    # The build may change under a long grid (others rebuild): say so rather than mix silently.
    older = [r for r in all_runs if not r["todo"] and r.get("binary") != binary]
    if older:
        print(f"sim_grid: warning: {len(older)} kept run(s) were made by another meshcast "
              f"binary than {meshcast} (sha256 {binary}); --force reruns them", flush=True)
    runner = Runner(meshcast, binary, a.jobs, len(todo))

    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs)
    try:
        for f in concurrent.futures.as_completed([pool.submit(runner.run, r) for r in todo]):
            f.result()
    except KeyboardInterrupt:
        runner.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        print(f"\nsim_grid: interrupted after {runner.done} of {len(todo)} runs; the same "
              "command resumes", file=sys.stderr)
        return 130
    except BaseException:
        # E.g. stdout closed (`| head`): stop the sims rather than leave them running unseen.
        runner.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    for r in all_runs:
        if not r["todo"]:
            r["metrics"], r["error"] = read_metrics(r["json"])

    for c in cells:
        c["summary"] = summarise(c["runs"], grid["targets"])
    utc = datetime.timezone.utc
    built = "unknown"
    try:
        built = datetime.datetime.fromtimestamp(os.path.getmtime(meshcast), utc) \
            .strftime("%Y-%m-%d %H:%M UTC")
    except OSError:
        pass
    commit, dirty = git_info()
    binaries = sorted({r.get("binary", "unknown") for r in all_runs if r.get("metrics")})
    ctx = {"grid": grid, "out": out, "meshcast": meshcast, "built": built, "commit": commit,
           "binary": binary, "binaries": binaries,
           "dirty": dirty, "grid_file": a.grid, "overrides": overrides,
           "date": datetime.datetime.now(utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        write_md(os.path.join(out, "grid.md"), ctx, cells)
        write_json(os.path.join(out, "grid.json"), ctx, cells)
    except OSError as e:
        fail(f"cannot write into {out}: {e}")
    written = ["grid.md", "grid.json"]
    if not a.no_png:
        try:
            write_png(os.path.join(out, "grid.png"), ctx, cells)
            written.append("grid.png")
        except OSError as e:
            fail(f"cannot write {os.path.join(out, 'grid.png')}: {e}")

    failed = [r for r in all_runs if not r.get("metrics")]
    meet = sum(1 for c in cells if c["summary"]["meets"])
    if grid["targets"]:
        print(f"sim_grid: {meet} of {len(cells)} cells meet the targets")
    print(f"sim_grid: wrote {', '.join(os.path.join(out, w) for w in written)}")
    if failed:
        print(f"sim_grid: {len(failed)} run(s) failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r['name']}: {r['error']}; log: {r['log']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
