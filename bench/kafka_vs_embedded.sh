#!/usr/bin/env bash
# Distributed mode vs the embedded default (issue 4): remote-write ingest
# throughput, ack latency and evaluator lag of `closeloop serve` on the Kafka
# log against the same binary on the embedded log, in one run.
#
# What runs (all on 127.0.0.1, free ports picked in 38000-38999, temp dirs
# under /tmp, everything started here is killed on exit):
# - `target/release/closeloop serve` with every role (ingest, evaluator,
#   actuator, projector; SQLite read models in its data dir), once per
#   backend and round:
#     embedded: the log in its own --data-dir (fsync on every group commit);
#     kafka:    storage.log.kafka {brokers, topic_prefix: unique per run,
#               partitions: 6} against a fresh nisshi broker started here for
#               that run with in-memory storage (`memory://nisshi/`: the broker
#               never fsyncs), or against KAFKA_BROKER=host:port if given
#               (e.g. the shared test broker 127.0.0.1:29092) with a unique
#               topic prefix;
#   with a rule file of 5 rules over the pushed series (15 s group) and one
#   probe alert (1 s group), evaluation.lateness=$LATENESS s.
# - bench/remote_write_load.py against each: SENDERS senders, one request in
#   flight each, at most 500 samples per request, series of the captured
#   Prometheus 2.42 stream (tests/testdata/prometheus-2.42/stream) copied
#   REPLICAS times and sharded by series hash, every sample stamped with the
#   wall clock at send time; WARMUP s not counted, then DURATION s measured:
#   requests/s, samples/s, ack latency p50/p99 (client side), evaluator
#   watermark lag from /metrics and probe-alert decision delay from
#   /api/v1/alerts (see the helper's docstring).
# Rounds alternate the order (embedded, kafka, then kafka, embedded, ...) so
# drift on the shared machine hits both; ratios are Kafka/embedded per round.
#
# How long: ROUNDS * 2 * (DURATION + WARMUP + ~25 s), default ~6 minutes,
# plus the release build if it is stale, plus ~12.5 minutes once to
# `cargo install nisshi` if it is not on PATH.
# Needs: cargo, curl, Debian's /usr/bin/python3 with python3-snappy
# (installed here with apt-get if missing), nisshi 0.8.1 (installed here as
# ../shared/notes/kafka.md says if missing and KAFKA_BROKER is unset),
# ~2 GB of free memory.
#
#   bash bench/kafka_vs_embedded.sh                   # results printed, and kept in $OUT
#   DURATION=20 ROUNDS=1 bash bench/kafka_vs_embedded.sh   # quick check
#   CLOSELOOP_BIN=/path/to/closeloop bash bench/kafka_vs_embedded.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-5}
SENDERS=${SENDERS:-8}
REPLICAS=${REPLICAS:-8}
ROUNDS=${ROUNDS:-2}
LATENESS=${LATENESS:-2}
PARTITIONS=${PARTITIONS:-6}
KAFKA_BROKER=${KAFKA_BROKER:-}
OUT=${OUT:-/tmp/kafka_vs_embedded.$(date +%Y%m%d-%H%M%S).jsonl}
PY=/usr/bin/python3

command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }
if ! $PY -c 'import snappy' 2>/dev/null; then
  echo "installing python3-snappy (Debian)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-snappy >/dev/null
fi
if [ -z "$KAFKA_BROKER" ] && ! command -v nisshi >/dev/null; then
  echo "installing nisshi 0.8.1 (~12.5 minutes; see ../shared/notes/kafka.md)" >&2
  cargo install nisshi --version 0.8.1 --locked --ignore-rust-version \
    --no-default-features --features dynostore,postgres
fi
# CLOSELOOP_BIN: a binary built elsewhere (then nothing is built here).
if [ -z "${CLOSELOOP_BIN:-}" ]; then cargo build --release -p closeloop; fi
bin=${CLOSELOOP_BIN:-target/release/closeloop}

work=$(mktemp -d /tmp/kafka_vs_embedded.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  $PY - <<'PY'
import random, socket
for p in random.sample(range(38000, 39000), 1000):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
PY
}

stop() { # pid: end it and forget it (so cleanup never signals a reused pid)
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=("${keep[@]}")
}

cat >"$work/rules.yml" <<'RULES'
groups:
  - name: node
    interval: 15s
    rules:
      - alert: HighCpu
        expr: sum by (instance, bench_replica) (rate(node_cpu_seconds_total{mode!="idle"}[1m])) > 0.5
        for: 1m
      - alert: ScrapeSlow
        expr: max_over_time(scrape_duration_seconds[5m]) > 0.1
      - alert: TargetDown
        expr: up == 0
      - alert: ManyGoroutines
        expr: avg_over_time(go_goroutines[5m]) > 100
      - record: job:process_cpu:rate1m
        expr: sum by (job) (rate(process_cpu_seconds_total[1m]))
  - name: probe
    interval: 1s
    rules:
      - alert: BenchProbe
        expr: closeloop_bench_probe == 1
RULES

run_one() { # backend round
  local backend=$1 round=$2 port dir broker_pid="" serve_pid prefix broker
  port=$(free_port)
  dir="$work/$backend-$round"
  mkdir -p "$dir"
  {
    echo "listen: 127.0.0.1:$port"
    echo "data_dir: $dir/data"
    echo "rule_files: [$work/rules.yml]"
    echo "evaluation: {lateness: ${LATENESS}s}"
  } >"$dir/closeloop.yml"
  if [ "$backend" = kafka ]; then
    if [ -n "$KAFKA_BROKER" ]; then
      broker=$KAFKA_BROKER
    else
      local bport
      bport=$(free_port)
      broker=127.0.0.1:$bport
      nisshi broker --listener-url "tcp://$broker" --advertised-listener-url "tcp://$broker" \
        --storage-engine memory://nisshi/ --group-initial-rebalance-delay 100ms \
        >"$dir/nisshi.log" 2>&1 &
      broker_pid=$!
      pids+=("$broker_pid")
      for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$bport) 2>/dev/null && break; sleep 0.1; done
    fi
    prefix="bench-kve-$$-$round-$(date +%s)"
    echo "storage: {log: {kafka: {brokers: [\"$broker\"], topic_prefix: $prefix, partitions: $PARTITIONS}}}" >>"$dir/closeloop.yml"
  fi
  RUST_LOG=warn "$bin" serve --config "$dir/closeloop.yml" >"$dir/serve.log" 2>&1 &
  serve_pid=$!
  pids+=("$serve_pid")
  local ok=""
  for _ in $(seq 600); do
    if curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null &&
      [[ "$(curl -sf "http://127.0.0.1:$port/metrics" || true)" == *$'\ncloseloop_evaluator_owned_groups 2\n'* ]]; then
      ok=1
      break
    fi
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    echo "$backend: closeloop not ready with both rule groups owned in 60 s; log:" >&2
    tail -20 "$dir/serve.log" >&2
    exit 1
  fi
  echo "round $round, $backend: loading for ${WARMUP}+${DURATION}s ($(cut -d' ' -f1-3 /proc/loadavg) load)" >&2
  $PY bench/remote_write_load.py --port "$port" --duration "$DURATION" --warmup "$WARMUP" \
    --senders "$SENDERS" --replicas "$REPLICAS" --lateness "$LATENESS" >"$dir/result.json"
  $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d.update(backend=sys.argv[2], round=int(sys.argv[3]), loadavg=open("/proc/loadavg").read().split()[0]); print(json.dumps(d))' \
    "$dir/result.json" "$backend" "$round" | tee -a "$OUT" >&2
  stop "$serve_pid"
  [ -n "$broker_pid" ] && stop "$broker_pid"
  return 0
}

: >"$OUT"
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="embedded kafka"; else order="kafka embedded"; fi
  for backend in $order; do run_one "$backend" "$round"; done
done

$PY - "$OUT" "$KAFKA_BROKER" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
where = sys.argv[2] or "a nisshi 0.8.1 broker started for the run (memory storage, no fsync)"
print(f"\nKafka backend: {where}; embedded log: fsync on every group commit")
print("| round | backend | req/s | samples/s | ack p50 ms | ack p99 ms | failed | watermark lag p50/p99 s | decision delay from sample p50/p99 s (n) | from tick p50/p99 s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
f = lambda x, d=2: "-" if x is None else f"{x:.{d}f}"
for r in rows:
    print(f"| {r['round']} | {r['backend']} | {r['requests_per_s']:.0f} | {r['samples_per_s']:,} | {f(r['ack_p50_ms'],1)} | {f(r['ack_p99_ms'],1)} | {r['requests_failed']} "
          f"| {f(r['watermark_lag_p50_s'])} / {f(r['watermark_lag_p99_s'])} | {f(r['decision_from_sample_p50_s'])} / {f(r['decision_from_sample_p99_s'])} ({r['decisions']}/{r['probe_edges']}) "
          f"| {f(r['decision_from_tick_p50_s'])} / {f(r['decision_from_tick_p99_s'])} |")
print("\nRatios Kafka/embedded per round:")
keys = ["samples_per_s", "ack_p50_ms", "ack_p99_ms", "watermark_lag_p50_s", "watermark_lag_p99_s",
        "decision_from_sample_p50_s", "decision_from_sample_p99_s"]
for rnd in sorted({r["round"] for r in rows}):
    by = {r["backend"]: r for r in rows if r["round"] == rnd}
    if set(by) != {"kafka", "embedded"}:
        continue
    parts = []
    for k in keys:
        a, b = by["kafka"].get(k), by["embedded"].get(k)
        parts.append(f"{k} {a / b:.2f}x" if a is not None and b else f"{k} -")
    print(f"  round {rnd}: " + ", ".join(parts))
PY
echo "raw results: $OUT" >&2
