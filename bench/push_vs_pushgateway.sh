#!/usr/bin/env bash
# Pushgateway pushes/s and OTLP samples/s accepted by `closeloop serve`
# (release build, embedded log fsynced on every group commit, all roles
# in the process), side by side with the real Pushgateway 1.5 (Debian
# `prometheus-pushgateway`, in memory, its consistency check on) in one
# run; each receiver runs alone. Load: bench/push_load.py (see there).
#
#   bash bench/push_vs_pushgateway.sh [seconds] [senders]
#
# Needs tests/setup/packages.sh and tests/setup/otel_python.sh run first.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-20}"
SENDERS="${2:-8}"
PY="${CLOSELOOP_OTEL_PYTHON:-/tmp/closeloop-otel-venv/bin/python}"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release -p closeloop --bin closeloop >&2
printf 'route: {receiver: default}\nreceivers: [{name: default}]\n' > "$WORK/closeloop.yml"

wait_ready() {
  for _ in $(seq 1 100); do
    curl -fsS "$1/-/ready" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "not ready: $1" >&2; exit 1
}

echo "== closeloop serve, Pushgateway API" >&2
target/release/closeloop serve --listen 127.0.0.1:19301 --data-dir "$WORK/data" \
  --config "$WORK/closeloop.yml" > "$WORK/closeloop.log" 2>&1 &
CL=$!
wait_ready http://127.0.0.1:19301
python3 bench/push_load.py pushgateway http://127.0.0.1:19301 --seconds "$SECONDS_EACH" --senders "$SENDERS"
echo "== closeloop serve, OTLP/HTTP" >&2
POINTS="$("$PY" bench/otlp_body.py "$WORK/otlp.bin")"
python3 bench/push_load.py otlp http://127.0.0.1:19301 --seconds "$SECONDS_EACH" --senders "$SENDERS" \
  --body "$WORK/otlp.bin" --points "$POINTS"
kill "$CL"; wait "$CL" 2>/dev/null || true

echo "== prometheus-pushgateway" >&2
prometheus-pushgateway --web.listen-address=127.0.0.1:19302 > "$WORK/pushgateway.log" 2>&1 &
PG=$!
wait_ready http://127.0.0.1:19302
python3 bench/push_load.py pushgateway http://127.0.0.1:19302 --seconds "$SECONDS_EACH" --senders "$SENDERS"
kill "$PG"; wait "$PG" 2>/dev/null || true
