#!/usr/bin/env python3
"""A scrape target exposing many active series whose values change every scrape.

Shape per instance (200 series): HTTP request counters by method, handler and
code; request-duration and response-size histograms (classic `le` buckets);
in-flight and queue-depth gauges; job and cache counters; process, Go and
node-style CPU, memory and filesystem series; Kafka consumer lag. Instances
belong to 25 services, 20 instances each by default (500 instances, 100,000
series). Values are functions of wall time, so each scrape sees new values,
counters only go up and histogram buckets stay cumulative.

    python3 bench/target.py --port 39101 --instances-per-service 20

GET /metrics serves every instance; GET /metrics?instances=N serves only the
first N instances of each service (the same series as a subset), so one
process can feed a small and a large series count at once.
"""

import argparse
import math
import random
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SERVICES = 25
METHODS = ["GET", "POST", "PUT", "DELETE"]
HANDLERS = ["/api/v1/orders", "/api/v1/users", "/healthz"]
CODES = ["200", "201", "404", "500", "503"]
DURATION_LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
SIZE_LE = ["100", "1000", "10000", "100000", "1e+06", "1e+07", "1e+08", "+Inf"]
QUEUES = ["email", "billing", "export", "index"]
CACHES = ["sessions", "catalog", "prices"]
MOUNTS = ["/", "/var", "/data"]
START = time.time()


def instance_families(service, instance, rng):
    """Yields (name, labels text, kind, params) for one instance's 200 series."""
    base = f'service="{service}",instance="{instance}"'
    out = []
    err_boost = 8.0 if service in ("svc-03", "svc-11") else 1.0
    for m in METHODS:
        for h in HANDLERS:
            for c in CODES:
                share = {"200": 0.9, "201": 0.05, "404": 0.03, "500": 0.01 * err_boost, "503": 0.01}[c]
                out.append(("http_requests_total", f'{base},method="{m}",handler="{h}",code="{c}"', "counter", rng.uniform(0.5, 20) * share))
    for h in HANDLERS:
        rate = rng.uniform(1, 40)
        scale = rng.uniform(0.02, 0.4) * (3 if service == "svc-07" else 1)
        for le in DURATION_LE:
            frac = 1.0 if le == "+Inf" else 1 - math.exp(-float(le) / scale)
            out.append(("http_request_duration_seconds_bucket", f'{base},handler="{h}",le="{le}"', "counter", rate * frac))
        out.append(("http_request_duration_seconds_sum", f'{base},handler="{h}"', "counter", rate * scale))
        out.append(("http_request_duration_seconds_count", f'{base},handler="{h}"', "counter", rate))
        size = rng.uniform(500, 50000)
        for le in SIZE_LE:
            frac = 1.0 if le == "+Inf" else 1 - math.exp(-float(le) / size)
            out.append(("http_response_size_bytes_bucket", f'{base},handler="{h}",le="{le}"', "counter", rate * frac))
        out.append(("http_response_size_bytes_sum", f'{base},handler="{h}"', "counter", rate * size))
        out.append(("http_response_size_bytes_count", f'{base},handler="{h}"', "counter", rate))
    out.append(("http_requests_in_flight", base, "gauge", (rng.uniform(1, 50), rng.uniform(1, 20))))
    for q in QUEUES:
        out.append(("queue_depth", f'{base},queue="{q}"', "gauge", (rng.uniform(10, 800), rng.uniform(5, 500))))
        out.append(("jobs_processed_total", f'{base},queue="{q}",status="ok"', "counter", rng.uniform(1, 30)))
        out.append(("jobs_processed_total", f'{base},queue="{q}",status="failed"', "counter", rng.uniform(0, 1)))
    for c in CACHES:
        out.append(("cache_hits_total", f'{base},cache="{c}"', "counter", rng.uniform(10, 200)))
        out.append(("cache_misses_total", f'{base},cache="{c}"', "counter", rng.uniform(1, 60)))
    mem = rng.uniform(2e8, 3e9)
    out.append(("process_resident_memory_bytes", base, "gauge", (mem, mem * 0.2)))
    out.append(("process_cpu_seconds_total", base, "counter", rng.uniform(0.05, 1.5)))
    out.append(("process_open_fds", base, "gauge", (rng.uniform(50, 900), 50)))
    out.append(("process_max_fds", base, "const", 1024.0))
    out.append(("process_start_time_seconds", base, "const", float(int(START) - rng.randint(0, 86400))))
    out.append(("go_goroutines", base, "gauge", (rng.uniform(20, 900), 30)))
    for q in ["0", "0.25", "0.5", "0.75", "1"]:
        out.append(("go_gc_duration_seconds", f'{base},quantile="{q}"', "gauge", (1e-4 * (1 + float(q) * 20), 5e-5)))
    for cpu in range(4):
        for mode, share in [("user", 0.3), ("system", 0.1), ("idle", 0.55), ("iowait", 0.05)]:
            out.append(("node_cpu_seconds_total", f'{base},cpu="{cpu}",mode="{mode}"', "counter", share * rng.uniform(0.5, 1.5)))
    for mp in MOUNTS:
        size = rng.choice([50e9, 200e9, 1e12])
        out.append(("node_filesystem_avail_bytes", f'{base},mountpoint="{mp}"', "gauge", (size * rng.uniform(0.05, 0.8), size * 0.01)))
        out.append(("node_filesystem_size_bytes", f'{base},mountpoint="{mp}"', "const", size))
    total = rng.choice([8, 16, 32]) * 2**30
    out.append(("node_memory_MemTotal_bytes", base, "const", float(total)))
    out.append(("node_memory_MemAvailable_bytes", base, "gauge", (total * rng.uniform(0.1, 0.7), total * 0.05)))
    for pool in ["primary", "replica"]:
        out.append(("db_connections", f'{base},pool="{pool}",state="active"', "gauge", (rng.uniform(2, 40), 10)))
        out.append(("db_connections", f'{base},pool="{pool}",state="idle"', "gauge", (rng.uniform(2, 20), 5)))
    for topic in ["orders", "events"]:
        for p in range(5):
            out.append(("kafka_consumer_lag", f'{base},topic="{topic}",partition="{p}"', "gauge", (rng.uniform(0, 5000), 2000)))
    return out


def build(instances_per_service):
    """Per family: help/type header and a list of (line prefix, kind, params, instance index)."""
    rng = random.Random(42)
    families = {}
    for s in range(SERVICES):
        service = f"svc-{s:02d}"
        for i in range(instances_per_service):
            instance = f"10.{s}.{i // 250}.{i % 250}:8080"
            for name, labels, kind, params in instance_families(service, instance, rng):
                families.setdefault(name, []).append((f"{name}{{{labels}}} ", kind, params, i, rng.uniform(0, 6.28)))
    return families


def render(families, max_index, now):
    t = now - START + 3600.0  # counters start an hour "into" their life
    parts = []
    for name, series in families.items():
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix):
                base = name[: -len(suffix)]
        kind = "histogram" if base != name else ("counter" if name.endswith("_total") else "gauge")
        if base == name or name.endswith("_bucket"):
            parts.append(f"# TYPE {base} {kind}\n")
        lines = []
        for prefix, k, params, index, phase in series:
            if index >= max_index:
                continue
            if k == "counter":
                # A slow wobble in the rate keeps rate() changing between rounds.
                v = params * (t + 30 * math.sin(t / 300 + phase))
            elif k == "gauge":
                mid, amp = params
                v = max(0.0, mid + amp * math.sin(t / 120 + phase))
            else:
                v = params
            lines.append(f"{prefix}{v:.10g}\n")
        parts.append("".join(lines))
    return "".join(parts).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--instances-per-service", type=int, default=20)
    args = ap.parse_args()
    families = build(args.instances_per_service)
    count = sum(len(v) for v in families.values())
    print(f"serving {count} series on 127.0.0.1:{args.port}", flush=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            if url.path != "/metrics":
                self.send_error(404)
                return
            n = int(parse_qs(url.query).get("instances", [args.instances_per_service])[0])
            body = render(families, n, time.time())
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
