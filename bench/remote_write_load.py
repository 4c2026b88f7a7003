#!/usr/bin/python3
"""Fixed-duration remote-write load against one closeloop, measured from the
client side, plus the evaluator's lag under that load.

Used by bench/kafka_vs_embedded.sh (see there for the whole method). Needs
Debian's /usr/bin/python3 with `python3-snappy` (the script installs it).

Load: the series of the 275 requests captured from Prometheus 2.42
(tests/testdata/prometheus-2.42/stream, ~1,100 series) are copied
--replicas times with an extra label `bench_replica`, sharded by series hash
over --senders shards the way Prometheus' queue manager shards them, and each
shard's sender keeps one request in flight (at most 500 samples, one sample
per series, cycling through the shard's series and through each series'
captured values). Every sample is stamped with the wall clock at send time,
so event time follows real time and the evaluator's lag means something.
Requests started in the first --warmup seconds are not counted.

Lag, during the measured window:
- watermark: every 250 ms, `now - closeloop_evaluator_watermark_timestamp_seconds
  - lateness` from /metrics (the gauge has 1 s resolution, floored, so each
  reading overstates the lag by 0-1 s);
- decision delay: a probe sender pushes `closeloop_bench_probe{probe="k"}`
  (--probes series) every 100 ms; each switches between 0 and 1 every
  --probe-period/2 seconds, phases staggered; the rule
  `closeloop_bench_probe == 1` (no `for`) fires on every rising edge. The
  alerts API is polled every 100 ms; for each new (fingerprint, fired_at)
  the delay is wall time seen minus the event time of the first sample with
  value 1 (sample -> decision visible in the API, through evaluator and
  projector), and wall time seen minus fired_at (the tick's event time).

Prints one JSON object.
"""

import argparse
import http.client
import json
import math
import os
import struct
import sys
import threading
import time
import urllib.request
import zlib
from pathlib import Path

import snappy

MAX_SAMPLES = 500
pack_double = struct.Struct("<d").pack


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf):
    """Yields (field number, wire type, value) of a protobuf message."""
    i, n = 0, len(buf)
    while i < n:
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 2:
            ln, i = read_varint(buf, i)
            v = buf[i:i + ln]
            i += ln
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def load_series(stream_dir):
    """{labels tuple: [values in capture order]} from the captured stream."""
    series = {}
    for f in sorted(Path(stream_dir).glob("rw-*.bin")):
        raw = snappy.uncompress(f.read_bytes())
        for num, _, ts in fields(raw):
            if num != 1:
                continue
            labels, values = [], []
            for n2, _, v in fields(ts):
                if n2 == 1:
                    name = value = b""
                    for n3, _, lv in fields(v):
                        if n3 == 1:
                            name = bytes(lv)
                        elif n3 == 2:
                            value = bytes(lv)
                    labels.append((name, value))
                elif n2 == 2:
                    for n3, _, sv in fields(v):
                        if n3 == 1:
                            values.append(struct.unpack("<d", sv)[0])
            key = tuple(sorted(labels))
            series.setdefault(key, []).extend(x for x in values if not math.isnan(x))
    return {k: v for k, v in series.items() if v}


def encode_labels(labels):
    out = bytearray()
    for name, value in labels:
        lab = b"\x0a" + varint(len(name)) + name + b"\x12" + varint(len(value)) + value
        out += b"\x0a" + varint(len(lab)) + lab
    return bytes(out)


def encode_series(label_bytes, value, ts_ms):
    sample = b"\x09" + struct.pack("<d", value) + b"\x10" + varint(ts_ms)
    body = label_bytes + b"\x12" + varint(len(sample)) + sample
    return b"\x0a" + varint(len(body)) + body


def series_head(label_bytes):
    """Everything of a TimeSeries before its sample's value, for timestamps
    whose varint takes 6 bytes (2^35..2^42 ms: years 1971-2109)."""
    body_len = len(label_bytes) + 2 + 16
    return b"\x0a" + varint(body_len) + label_bytes + b"\x12\x10\x09"


HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round((len(xs) - 1) * p)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--senders", type=int, default=8)
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--probes", type=int, default=10)
    ap.add_argument("--probe-period", type=float, default=4.0)
    ap.add_argument("--lateness", type=float, required=True, help="evaluation.lateness in seconds")
    ap.add_argument("--stream", default=str(Path(__file__).resolve().parent.parent / "tests/testdata/prometheus-2.42/stream"))
    args = ap.parse_args()

    cache = Path(os.environ.get("TMPDIR", "/tmp")) / "closeloop-bench-stream-series.json"
    if cache.exists():
        captured = {tuple((bytes.fromhex(n), bytes.fromhex(v)) for n, v in k): vals
                    for k, vals in json.loads(cache.read_text())}
    else:
        captured = load_series(args.stream)
        cache.write_text(json.dumps([[[(n.hex(), v.hex()) for n, v in k], vals] for k, vals in captured.items()]))
    shards = [[] for _ in range(args.senders)]
    for r in range(args.replicas):
        for labels, values in captured.items():
            full = tuple(sorted(labels + ((b"bench_replica", str(r).encode()),)))
            # Prometheus shards by a hash of the label set; crc32 stands in for it.
            shard = zlib.crc32(b"\xff".join(n + b"\xfe" + v for n, v in full)) % args.senders
            shards[shard].append((series_head(encode_labels(full)), values))

    t_start = time.time()
    t_measure = t_start + args.warmup
    t_end = t_measure + args.duration
    lock = threading.Lock()
    latencies, failures, samples_ok, requests_ok = [], [0], [0], [0]
    errors = []

    def sender(my_series):
        conn = http.client.HTTPConnection(args.host, args.port, timeout=60)
        pos = 0
        visits = [0] * len(my_series)
        last_ts = 0
        while True:
            started = time.time()
            if started >= t_end:
                break
            ts = max(int(started * 1000), last_ts + 1)
            last_ts = ts
            tail = b"\x10" + varint(ts)
            assert len(tail) == 7
            parts = []
            for _ in range(min(MAX_SAMPLES, len(my_series))):
                head, values = my_series[pos]
                parts.append(head + pack_double(values[visits[pos] % len(values)]) + tail)
                visits[pos] += 1
                pos = (pos + 1) % len(my_series)
            body = snappy.compress(b"".join(parts))
            sent = time.time()
            try:
                conn.request("POST", "/api/v1/write", body=body, headers=HEADERS)
                resp = conn.getresponse()
                resp.read()
                ok = 200 <= resp.status < 300
                if not ok and len(errors) < 5:
                    errors.append(f"HTTP {resp.status}")
            except Exception as e:  # noqa: BLE001 - counted as a failure
                ok = False
                if len(errors) < 5:
                    errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection(args.host, args.port, timeout=60)
            took = time.time() - sent
            if sent >= t_measure and sent < t_end:
                with lock:
                    if ok:
                        latencies.append(took)
                        requests_ok[0] += 1
                        samples_ok[0] += len(parts)
                    else:
                        failures[0] += 1

    edges = {}  # probe -> list of event times (ms) of rising edges
    probe_fail = [0]

    def prober():
        conn = http.client.HTTPConnection(args.host, args.port, timeout=60)
        probe_labels = [encode_labels(((b"__name__", b"closeloop_bench_probe"), (b"probe", str(k).encode())))
                        for k in range(args.probes)]
        prev = [0.0] * args.probes
        while time.time() < t_end + 10:
            now = time.time()
            ts = int(now * 1000)
            parts = []
            for k in range(args.probes):
                phase = (now / args.probe_period + k / args.probes) % 1.0
                v = 1.0 if phase < 0.5 else 0.0
                if v == 1.0 and prev[k] == 0.0:
                    edges.setdefault(str(k), []).append(ts)
                prev[k] = v
                parts.append(encode_series(probe_labels[k], v, ts))
            try:
                conn.request("POST", "/api/v1/write", body=snappy.compress(b"".join(parts)), headers=HEADERS)
                r = conn.getresponse()
                r.read()
                if r.status >= 300:
                    probe_fail[0] += 1
            except Exception:  # noqa: BLE001
                probe_fail[0] += 1
                conn.close()
                conn = http.client.HTTPConnection(args.host, args.port, timeout=60)
            time.sleep(max(0.0, 0.1 - (time.time() - now)))

    watermark_lags = []

    def metrics_sampler():
        while time.time() < t_end:
            now = time.time()
            try:
                text = urllib.request.urlopen(f"http://{args.host}:{args.port}/metrics", timeout=10).read().decode()
                for line in text.splitlines():
                    if line.startswith("closeloop_evaluator_watermark_timestamp_seconds "):
                        wm = float(line.split()[1])
                        if now >= t_measure and wm > 0:
                            watermark_lags.append(now - wm - args.lateness)
            except Exception:  # noqa: BLE001
                pass
            time.sleep(max(0.0, 0.25 - (time.time() - now)))

    seen = set()
    decisions = []  # (probe, fired_at_ms, seen_at)

    def alerts_poller():
        from datetime import datetime
        while time.time() < t_end + 10:
            now = time.time()
            try:
                data = json.load(urllib.request.urlopen(f"http://{args.host}:{args.port}/api/v1/alerts", timeout=10))["data"]
                seen_at = time.time()
                for row in data:
                    if row.get("alertname") != "BenchProbe" or not row.get("fired_at"):
                        continue
                    key = (row["fingerprint"], row["fired_at"])
                    if key in seen:
                        continue
                    seen.add(key)
                    fired = datetime.fromisoformat(row["fired_at"].replace("Z", "+00:00")).timestamp()
                    decisions.append((row["labels"].get("probe"), fired * 1000, seen_at))
            except Exception as e:  # noqa: BLE001
                if len(errors) < 5:
                    errors.append("alerts: " + repr(e))
            time.sleep(max(0.0, 0.1 - (time.time() - now)))

    threads = [threading.Thread(target=sender, args=(s,)) for s in shards if s]
    threads += [threading.Thread(target=f) for f in (prober, metrics_sampler, alerts_poller)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    sample_delays, tick_delays = [], []
    for probe, fired_ms, seen_at in decisions:
        # The rising edge this firing answers: the last one at or before the tick.
        cands = [e for e in edges.get(probe, []) if e <= fired_ms + 1]
        if not cands:
            continue
        edge = cands[-1]
        if edge / 1000 < t_measure or edge / 1000 > t_end:
            continue
        sample_delays.append(seen_at - edge / 1000)
        tick_delays.append(seen_at - fired_ms / 1000)
    rising = sum(1 for es in edges.values() for e in es if t_measure <= e / 1000 <= t_end)

    ms = lambda x: None if x is None else round(x * 1000, 1)  # noqa: E731
    out = {
        "series": sum(len(s) for s in shards),
        "senders": len([s for s in shards if s]),
        "seconds": args.duration,
        "requests_ok": requests_ok[0],
        "requests_failed": failures[0],
        "requests_per_s": round(requests_ok[0] / args.duration, 1),
        "samples_per_s": round(samples_ok[0] / args.duration),
        "ack_p50_ms": ms(pct(latencies, 0.5)),
        "ack_p99_ms": ms(pct(latencies, 0.99)),
        "ack_max_ms": ms(max(latencies) if latencies else None),
        "watermark_lag_readings": len(watermark_lags),
        "watermark_lag_p50_s": pct(watermark_lags, 0.5),
        "watermark_lag_p99_s": pct(watermark_lags, 0.99),
        "probe_edges": rising,
        "decisions": len(sample_delays),
        "decision_from_sample_p50_s": None if not sample_delays else round(pct(sample_delays, 0.5), 3),
        "decision_from_sample_p99_s": None if not sample_delays else round(pct(sample_delays, 0.99), 3),
        "decision_from_tick_p50_s": None if not tick_delays else round(pct(tick_delays, 0.5), 3),
        "decision_from_tick_p99_s": None if not tick_delays else round(pct(tick_delays, 0.99), 3),
        "probe_failures": probe_fail[0],
        "errors": errors,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
