#!/usr/bin/python3
"""Plot the JSON of `meshcast swarm --sample-rss S --json FILE` (a soak run).

Three panels sharing the time axis: resident memory per process (tracker, broadcaster, and
the viewers' median and maximum), CPU per process (ms of CPU per second, from consecutive
samples), and the viewers' continuity and lag p95 per time bucket.

Needs Python 3 and matplotlib (Debian: python3-matplotlib).

Example:
  meshcast swarm --viewers 50 --duration 1800 --bitrate 1500 --churn 5 --sample-rss 10 \\
      --json soak.json
  python3 samples/plot_soak.py soak.json --out soak.png
"""
import argparse
import json
import statistics
import sys


def fail(msg):
    print(f"plot_soak: {msg}", file=sys.stderr)
    sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description="Plot a meshcast soak run.")
    ap.add_argument("json", help="the --json file of meshcast swarm --sample-rss")
    ap.add_argument("--out", required=True, help="PNG to write")
    a = ap.parse_args()
    try:
        with open(a.json) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {a.json}: {e}")
    if "processes" not in j or "timeline" not in j:
        fail(f"{a.json} is not the JSON of a soak run (no processes / timeline)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_mem, ax_cpu, ax_play) = plt.subplots(3, 1, figsize=(10, 10), sharex=True)

    def series(p):
        s = p.get("samples_t_rsskb_cpums", [])
        t = [x[0] for x in s]
        rss = [x[1] / 1024 for x in s]
        cpu = [(s[i][2] - s[i - 1][2]) / (s[i][0] - s[i - 1][0]) if s[i][0] > s[i - 1][0] else 0
               for i in range(1, len(s))]
        return t, rss, t[1:], cpu

    # Viewers: median and max across the processes alive in each sampling round.
    rounds = {}
    for p in j["processes"]:
        t, rss, tc, cpu = series(p)
        if p["role"] in ("tracker", "broadcaster"):
            ax_mem.plot(t, rss, label=p["role"])
            ax_cpu.plot(tc, cpu, label=p["role"])
            continue
        for ti, r in zip(t, rss):
            rounds.setdefault(round(ti / j["sample_s"]), ([], []))[0].append((ti, r))
        for ti, c in zip(tc, cpu):
            rounds.setdefault(round(ti / j["sample_s"]), ([], []))[1].append((ti, c))
    keys = sorted(k for k in rounds if rounds[k][0])
    tv = [statistics.mean(x[0] for x in rounds[k][0]) for k in keys]
    ax_mem.plot(tv, [statistics.median(x[1] for x in rounds[k][0]) for k in keys],
                label="viewers (median)")
    ax_mem.plot(tv, [max(x[1] for x in rounds[k][0]) for k in keys], label="viewers (max)")
    keys_c = sorted(k for k in rounds if rounds[k][1])
    ax_cpu.plot([statistics.mean(x[0] for x in rounds[k][1]) for k in keys_c],
                [statistics.median(x[1] for x in rounds[k][1]) for k in keys_c],
                label="viewers (median)")
    ax_mem.set_ylabel("RSS (MB)")
    ax_cpu.set_ylabel("CPU (ms per s)")
    ax_mem.legend(loc="upper left", fontsize=8)
    ax_cpu.legend(loc="upper left", fontsize=8)

    rows = j["timeline"]["rows"]
    t = [r["t_s"] for r in rows]
    ax_play.plot(t, [100 * r["continuity"] for r in rows], "o-", label="continuity (%)")
    ax_play.set_ylabel("continuity (%)")
    ax_lag = ax_play.twinx()
    ax_lag.plot(t, [r["lag_ms_p95"] for r in rows], "s--", color="tab:red", label="lag p95 (ms)")
    ax_lag.set_ylabel("lag p95 (ms)")
    ax_play.set_xlabel("time since start (s)")
    ax_play.legend(loc="lower left", fontsize=8)
    ax_lag.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{j['viewers']} viewers, {j['bitrate_kbps']} kbit/s, churn "
                 f"{j['churn_per_min']}/min, {j['duration_s']:.0f} s")
    fig.tight_layout()
    fig.savefig(a.out, dpi=80)


if __name__ == "__main__":
    main()
