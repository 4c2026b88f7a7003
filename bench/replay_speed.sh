#!/usr/bin/env bash
# Replay speed as a multiple of real time: the 275 remote-write requests
# captured from Prometheus 2.42 (~17 minutes of scrapes, ~235k samples) are
# posted into a fresh `closeloop serve`, the server is stopped, and
# `closeloop replay` backtests a rule set over the whole span.
#
#   cargo build --release -p closeloop && bash bench/replay_speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/closeloop
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$bin" serve --listen 127.0.0.1:$port --data-dir "$work/data" >"$work/serve.log" 2>&1 &
pid=$!
until curl -sf http://127.0.0.1:$port/-/ready >/dev/null; do sleep 0.1; done
for f in tests/testdata/prometheus-2.42/stream/rw-*.bin; do
  curl -sf -o /dev/null --data-binary @"$f" -H 'Content-Encoding: snappy' \
    -H 'Content-Type: application/x-protobuf' http://127.0.0.1:$port/api/v1/write
done
kill $pid; wait $pid 2>/dev/null || true

cat >"$work/rules.yml" <<'RULES'
groups:
  - name: node
    interval: 15s
    rules:
      - alert: HighCpu
        expr: sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[1m])) > 0.5
        for: 1m
      - alert: ScrapeSlow
        expr: max_over_time(scrape_duration_seconds[5m]) > 0.1
      - alert: TargetDown
        expr: up == 0
      - alert: ManyGoroutines
        expr: avg_over_time(go_goroutines[5m]) > 100
      - record: job:process_cpu:rate1m
        expr: sum by (job) (rate(process_cpu_seconds_total[1m]))
RULES

read first last < <(python3 - <<'PY'
import json, glob
t = sorted(json.load(open(f))["time"] for f in glob.glob("tests/testdata/prometheus-2.42/stream/*.meta.json"))
print(int(t[0]) - 60, int(t[-1]) + 60)
PY
)
from=$(date -u -d @"$first" +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d @"$last" +%Y-%m-%dT%H:%M:%SZ)
start=$(date +%s.%N)
"$bin" replay --data-dir "$work/data" --rules "$work/rules.yml" --from "$from" --to "$to" | tail -1
end=$(date +%s.%N)
python3 -c "span=$last-$first; took=$end-$start; print(f'replayed {span}s of data in {took:.2f}s: {span/took:.0f}x real time')"
