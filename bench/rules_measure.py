#!/usr/bin/env python3
"""Measures a running closeloop/Prometheus pair (or two): rule-group
evaluation time and resident memory, for bench/rules_vs_prometheus.sh.

Every few seconds it reads:
- Prometheus' /metrics: prometheus_rule_group_last_duration_seconds and
  prometheus_rule_group_last_evaluation_timestamp_seconds per group (each
  evaluation counted once), prometheus_tsdb_head_series;
- closeloop's /metrics: closeloop_rule_group_evaluation_duration_seconds
  sum and count per group (differences over the round give the mean),
  closeloop_evaluator_window_series;
- VmRSS and RssAnon of every process from /proc/PID/status.

A round is ROUND seconds; per group it prints the mean evaluation time of
each side over that round and the ratio closeloop/Prometheus. At the end it
prints the memory slope between the small and the large pair (bytes per
series) and writes everything as JSON.

    rules_measure.py --out result.json --rounds 3 --round-seconds 120 \\
        --pair big,PROM_URL,PROM_PID,CL_URL,CL_PID [--pair small,...]
"""

import argparse
import json
import os
import re
import statistics
import sys
import time
import urllib.request

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url):
    out = []
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            m = LINE.match(line)
            if m:
                labels = dict(LABEL.findall(m.group(2) or ""))
                out.append((m.group(1), labels, float(m.group(3))))
    return out


def status(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                vals[k] = int(v.split()[0]) * 1024
    return vals


def cpu_seconds(pid):
    """User plus system CPU time of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def group_name(label):
    # Prometheus keys groups as "file;name".
    return label.split(";")[-1]


class Pair:
    def __init__(self, spec):
        self.name, self.prom, prom_pid, self.cl, cl_pid = spec.split(",")
        self.prom_pid, self.cl_pid = int(prom_pid), int(cl_pid)
        self.seen = {}  # group -> last evaluation timestamp seen
        self.prom_evals = {}  # group -> [durations] this round
        self.cl_start = {}
        self.mem = []  # samples of (prom status, cl status, head series, window series)

    def poll(self):
        p = scrape(self.prom)
        c = scrape(self.cl)
        last_ts = {group_name(l["rule_group"]): v for n, l, v in p if n == "prometheus_rule_group_last_evaluation_timestamp_seconds"}
        for n, l, v in p:
            if n == "prometheus_rule_group_last_duration_seconds":
                g = group_name(l["rule_group"])
                ts = last_ts.get(g)
                if ts and self.seen.get(g) != ts:
                    self.seen[g] = ts
                    self.prom_evals.setdefault(g, []).append(v)
        head = next((v for n, l, v in p if n == "prometheus_tsdb_head_series"), 0)
        window = next((v for n, l, v in c if n == "closeloop_evaluator_window_series"), 0)
        cl = {}
        for n, l, v in c:
            if n.startswith("closeloop_rule_group_evaluation_duration_seconds_") and "rule_group" in l:
                kind = n.rsplit("_", 1)[1]
                if kind in ("sum", "count"):
                    cl.setdefault(l["rule_group"], {})[kind] = v
        self.mem.append((status(self.prom_pid), status(self.cl_pid), head, window))
        return cl

    def start_round(self):
        self.prom_evals = {}
        self.cl_start = self.poll()
        self.cpu_start = (cpu_seconds(self.prom_pid), cpu_seconds(self.cl_pid), time.time())

    def end_round(self):
        cl_end = self.poll()
        p0, c0, t0 = self.cpu_start
        secs = time.time() - t0
        # Whole-process CPU (scrape/ingest, storage, rules), per 15 s.
        self.cpu = {"prometheus_cpu_per_15s": (cpu_seconds(self.prom_pid) - p0) / secs * 15,
                    "closeloop_cpu_per_15s": (cpu_seconds(self.cl_pid) - c0) / secs * 15}
        groups = {}
        for g, end in cl_end.items():
            start = self.cl_start.get(g, {"sum": 0, "count": 0})
            n = end["count"] - start["count"]
            prom = self.prom_evals.get(g, [])
            groups[g] = {
                "closeloop_mean_s": (end["sum"] - start["sum"]) / n if n else None,
                "closeloop_evals": n,
                "prometheus_mean_s": statistics.mean(prom) if prom else None,
                "prometheus_evals": len(prom),
            }
        return groups


def fmt_ms(v):
    return "-" if v is None else f"{v * 1000:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pair", action="append", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--round-seconds", type=float, default=120)
    ap.add_argument("--poll-seconds", type=float, default=5)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    pairs = [Pair(s) for s in args.pair]
    big = pairs[0]
    result = {"rounds": [], "memory": {}}
    for r in range(1, args.rounds + 1):
        for p in pairs:
            p.mem = []
            p.start_round()
        end = time.time() + args.round_seconds
        while time.time() < end:
            time.sleep(args.poll_seconds)
            for p in pairs:
                p.poll()
        groups = big.end_round()
        for p in pairs[1:]:
            p.end_round()
        tot_cl = sum(g["closeloop_mean_s"] or 0 for g in groups.values())
        tot_pr = sum(g["prometheus_mean_s"] or 0 for g in groups.values())
        print(f"round {r} ({big.name}: {big.mem[-1][3]:.0f} series in closeloop's window, {big.mem[-1][2]:.0f} in Prometheus' head)")
        print(f"  {'group':<14} {'closeloop ms':>13} {'prometheus ms':>14} {'ratio':>7}  evals cl/prom")
        for g in sorted(groups):
            v = groups[g]
            ratio = v["closeloop_mean_s"] / v["prometheus_mean_s"] if v["closeloop_mean_s"] and v["prometheus_mean_s"] else None
            v["ratio"] = ratio
            print(f"  {g:<14} {fmt_ms(v['closeloop_mean_s']):>13} {fmt_ms(v['prometheus_mean_s']):>14} {ratio or 0:>7.2f}  {v['closeloop_evals']:.0f}/{v['prometheus_evals']}")
        total_ratio = tot_cl / tot_pr if tot_pr else None
        print(f"  {'total':<14} {fmt_ms(tot_cl):>13} {fmt_ms(tot_pr):>14} {total_ratio or 0:>7.2f}")
        print(f"  whole-process CPU seconds per 15 s: closeloop {big.cpu['closeloop_cpu_per_15s']:.2f}, Prometheus {big.cpu['prometheus_cpu_per_15s']:.2f}")
        result["rounds"].append({"groups": groups, "total_closeloop_s": tot_cl, "total_prometheus_s": tot_pr, "ratio": total_ratio, "cpu": big.cpu})
        sys.stdout.flush()
    # Memory: mean over the last round of each pair.
    for p in pairs:
        m = p.mem
        result["memory"][p.name] = {
            "prometheus_rss": statistics.mean(x[0]["VmRSS"] for x in m),
            "prometheus_rss_anon": statistics.mean(x[0]["RssAnon"] for x in m),
            "closeloop_rss": statistics.mean(x[1]["VmRSS"] for x in m),
            "closeloop_rss_anon": statistics.mean(x[1]["RssAnon"] for x in m),
            "closeloop_rss_file": statistics.mean(x[1]["RssFile"] for x in m),
            "prometheus_head_series": statistics.mean(x[2] for x in m),
            "closeloop_window_series": statistics.mean(x[3] for x in m),
        }
    print("memory (mean over the last round):")
    for name, v in result["memory"].items():
        print(f"  {name}: closeloop {v['closeloop_window_series']:.0f} series, RSS {v['closeloop_rss'] / 2**20:.1f} MiB (anon {v['closeloop_rss_anon'] / 2**20:.1f}, file {v['closeloop_rss_file'] / 2**20:.1f});"
              f" Prometheus {v['prometheus_head_series']:.0f} head series, RSS {v['prometheus_rss'] / 2**20:.1f} MiB")
    if len(pairs) > 1:
        a, b = result["memory"][pairs[1].name], result["memory"][big.name]
        dn_cl = b["closeloop_window_series"] - a["closeloop_window_series"]
        dn_pr = b["prometheus_head_series"] - a["prometheus_head_series"]
        slope = {
            "closeloop_bytes_per_series": (b["closeloop_rss"] - a["closeloop_rss"]) / dn_cl,
            "closeloop_anon_bytes_per_series": (b["closeloop_rss_anon"] - a["closeloop_rss_anon"]) / dn_cl,
            "prometheus_bytes_per_series": (b["prometheus_rss"] - a["prometheus_rss"]) / dn_pr,
        }
        result["slope"] = slope
        print(f"  slope closeloop: {slope['closeloop_bytes_per_series']:.0f} B/series RSS ({slope['closeloop_anon_bytes_per_series']:.0f} B anon)"
              f" over {dn_cl:.0f} series; Prometheus: {slope['prometheus_bytes_per_series']:.0f} B/series over {dn_pr:.0f} series")
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
