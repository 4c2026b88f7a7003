#!/usr/bin/python3
"""Fixed-duration push load against one receiver, measured client side.

    push_load.py pushgateway <base url> [--seconds 20] [--senders 8]
    push_load.py otlp <base url> [--seconds 20] [--senders 8] --body FILE

`pushgateway`: each sender PUTs to its own group
(`/metrics/job/bench/instance/sender-<i>`) one request at a time, a text
exposition body of 20 gauges, 5 counters and one histogram (10 buckets)
— 61 series, what a batch job might push — with values changing on every
push. Works against closeloop and the real Pushgateway alike.

`otlp`: each sender POSTs the same OTLP/HTTP protobuf body (made by
bench/otlp_body.py with the OpenTelemetry SDK) to /v1/metrics, one at a
time; samples/s counts the data points in it (--points).

Prints one JSON line: requests, failures, seconds, requests/s, samples/s,
p50/p99 latency in ms. Standard library only; one process per sender.
"""

import argparse
import json
import multiprocessing
import time
import urllib.error
import urllib.request


def text_body(seq):
    lines = []
    for g in range(20):
        lines += [f"# TYPE bench_gauge_{g} gauge", f"bench_gauge_{g} {seq + g}"]
    for c in range(5):
        lines += [f"# TYPE bench_counter_{c}_total counter",
                  f'bench_counter_{c}_total{{kind="k{c}"}} {seq * (c + 1)}']
    lines.append("# TYPE bench_duration_seconds histogram")
    cumulative = 0
    for i, le in enumerate([0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, "+Inf"]):
        cumulative += i + seq % 3
        lines.append(f'bench_duration_seconds_bucket{{le="{le}"}} {cumulative}')
    lines += [f"bench_duration_seconds_sum {seq * 0.5}",
              f"bench_duration_seconds_count {cumulative}"]
    return ("\n".join(lines) + "\n").encode()


SERIES_PER_PUSH = 20 + 5 + 10 + 2


def sender(index, args, body, stop, results):
    """One process per sender: Python threads would share one GIL and
    measure the loader instead of the receiver."""
    latencies, failures, seq = [], 0, 0
    while not stop.is_set():
        seq += 1
        if args.mode == "pushgateway":
            url = f"{args.url}/metrics/job/bench/instance/sender-{index}"
            request = urllib.request.Request(url, data=text_body(seq), method="PUT")
            request.add_header("Content-Type", "text/plain; version=0.0.4")
        else:
            request = urllib.request.Request(f"{args.url}/v1/metrics", data=body, method="POST")
            request.add_header("Content-Type", "application/x-protobuf")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                ok = 200 <= response.status < 300
        except (urllib.error.URLError, OSError):
            ok = False
        if ok:
            latencies.append((time.monotonic() - started) * 1000)
        else:
            failures += 1
    results[index] = (latencies, failures)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["pushgateway", "otlp"])
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--body")
    parser.add_argument("--points", type=int, default=0)
    args = parser.parse_args()
    body = open(args.body, "rb").read() if args.body else None
    manager = multiprocessing.Manager()
    stop, results = manager.Event(), manager.dict()
    threads = [multiprocessing.Process(target=sender, args=(i, args, body, stop, results))
               for i in range(args.senders)]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    latencies = sorted(l for lat, _ in results.values() for l in lat)
    failures = sum(f for _, f in results.values())
    per_request = SERIES_PER_PUSH if args.mode == "pushgateway" else args.points
    pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None
    print(json.dumps({
        "mode": args.mode, "url": args.url, "requests": len(latencies),
        "failures": failures, "seconds": round(seconds, 2),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "samples_per_s": round(len(latencies) * per_request / seconds),
        "p50_ms": pick(0.5), "p99_ms": pick(0.99),
    }))


if __name__ == "__main__":
    main()
