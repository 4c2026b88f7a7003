#!/usr/bin/env bash
# Rule evaluation time and memory per active series: closeloop vs Prometheus
# 2.42 on the same data and the same 200 alerting rules, in one run.
#
# What runs (all on 127.0.0.1, ports 39101-39105, temp dirs under /tmp):
# - bench/target.py: one scrape target with 100,000 series whose values
#   change every scrape (HTTP counters, latency and size histograms, queue,
#   process and node gauges; 25 services x 20 instances x 200 series), and
#   the first 2 instances of each service (10,000 series) at ?instances=2;
# - two Prometheus 2.42 (big: 100k series, small: 10k), each scraping every
#   15s, evaluating bench/gen_rules.py's 200 rules (5 groups of 40, every 15s)
#   and remote-writing everything it scrapes to its own
# - `closeloop serve` (release build) with the same rule file.
# After a warm-up long enough to fill closeloop's window (10 minutes: the
# longest range, 5m, plus the 5m lookback), bench/rules_measure.py measures
# ROUNDS rounds of ROUND_SECONDS: per group, the mean evaluation time in
# Prometheus (prometheus_rule_group_last_duration_seconds, each evaluation
# once) and closeloop (closeloop_rule_group_evaluation_duration_seconds
# sum/count over the round), and the ratio; each side's whole-process CPU
# seconds per 15 s as a cross-check; then resident memory of the
# small and big processes, whose difference over the series difference is
# the memory per active series (fixed costs cancel out).
#
# Takes about WARM_SECONDS + ROUNDS * ROUND_SECONDS + 1 minute (default
# ~18 minutes). Needs: python3, curl, a release build (built here if
# missing), Prometheus 2.42 (Debian package `prometheus`; installed here via
# tests/setup/packages.sh if missing), ~3 GiB of free memory, 2+ cores.
#
#   bash bench/rules_vs_prometheus.sh            # results in $OUT (printed)
#   WARM_SECONDS=120 ROUNDS=1 bash bench/rules_vs_prometheus.sh   # quick check
set -euo pipefail
cd "$(dirname "$0")/.."
WARM_SECONDS=${WARM_SECONDS:-660}
ROUNDS=${ROUNDS:-3}
ROUND_SECONDS=${ROUND_SECONDS:-120}
BIG_INSTANCES=${BIG_INSTANCES:-20}
SMALL_INSTANCES=${SMALL_INSTANCES:-2}
P_TARGET=39101 P_PROM_BIG=39102 P_PROM_SMALL=39103 P_CL_BIG=39104 P_CL_SMALL=39105

command -v python3 >/dev/null && command -v curl >/dev/null || { echo "needs python3 and curl" >&2; exit 1; }
if ! command -v prometheus >/dev/null; then
  echo "installing Prometheus (tests/setup/packages.sh)" >&2
  bash tests/setup/packages.sh
fi
prometheus --version 2>&1 | head -1
# CLOSELOOP_BIN: a binary built elsewhere (e.g. from a clean `git archive`
# when the working tree does not build).
bin=${CLOSELOOP_BIN:-target/release/closeloop}
[ -x "$bin" ] || cargo build --release -p closeloop
for p in $P_TARGET $P_PROM_BIG $P_PROM_SMALL $P_CL_BIG $P_CL_SMALL; do
  if python3 -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$p))==0)"; then :; else
    echo "port $p is in use" >&2; exit 1
  fi
done

work=$(mktemp -d /tmp/closeloop-rules-bench.XXXXXX)
pids=()
cleanup() {
  # Newest first: each Prometheus stops before the closeloop it writes to.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
echo "work dir $work"

python3 bench/gen_rules.py >"$work/rules.yml"
promtool check rules "$work/rules.yml" >/dev/null
"$bin" rules check "$work/rules.yml" >/dev/null

python3 bench/target.py --port $P_TARGET --instances-per-service "$BIG_INSTANCES" >"$work/target.log" 2>&1 &
pids+=($!)
until curl -sf -o /dev/null "http://127.0.0.1:$P_TARGET/metrics?instances=1"; do sleep 0.5; done

start_pair() { # name instances prom_port closeloop_port
  local name=$1 n=$2 pp=$3 cp=$4 d="$work/$1"
  mkdir -p "$d"
  cp "$work/rules.yml" "$d/rules.yml"
  cat >"$d/closeloop.yml" <<EOF
rule_files: [rules.yml]
evaluation: {interval: 15s}
EOF
  cat >"$d/prometheus.yml" <<EOF
global: {scrape_interval: 15s, scrape_timeout: 10s, evaluation_interval: 15s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: app
    honor_labels: true
    params: {instances: ["$n"]}
    static_configs: [{targets: ["127.0.0.1:$P_TARGET"]}]
remote_write:
  - url: http://127.0.0.1:$cp/api/v1/write
    # closeloop computes its own ALERTS series from the same rules.
    write_relabel_configs:
      - {source_labels: [__name__], regex: "ALERTS.*", action: drop}
EOF
  "$bin" serve --config "$d/closeloop.yml" --listen 127.0.0.1:$cp --data-dir "$d/data" >"$d/closeloop.log" 2>&1 &
  pids+=($!)
  eval "cl_pid_$name=$!"
  until curl -sf -o /dev/null "http://127.0.0.1:$cp/-/ready"; do sleep 0.2; done
  prometheus --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/prom" \
    --web.listen-address=127.0.0.1:$pp --storage.remote.flush-deadline=5s >"$d/prometheus.log" 2>&1 &
  pids+=($!)
  eval "prom_pid_$name=$!"
  until curl -sf -o /dev/null "http://127.0.0.1:$pp/-/ready"; do sleep 0.2; done
}
start_pair big "$BIG_INSTANCES" $P_PROM_BIG $P_CL_BIG
start_pair small "$SMALL_INSTANCES" $P_PROM_SMALL $P_CL_SMALL
echo "closeloop before data: RSS $(awk '/VmRSS/{print $2, $3}' /proc/$cl_pid_big/status)"

echo "warming up for ${WARM_SECONDS}s (fills closeloop's window)"
sleep "$WARM_SECONDS"
python3 bench/rules_measure.py --out "$work/result.json" --rounds "$ROUNDS" --round-seconds "$ROUND_SECONDS" \
  --pair "big,http://127.0.0.1:$P_PROM_BIG,$prom_pid_big,http://127.0.0.1:$P_CL_BIG,$cl_pid_big" \
  --pair "small,http://127.0.0.1:$P_PROM_SMALL,$prom_pid_small,http://127.0.0.1:$P_CL_SMALL,$cl_pid_small"

echo "scrape duration of the target (Prometheus' scrape_duration_seconds, max over 5m):"
for p in $P_PROM_BIG $P_PROM_SMALL; do
  curl -s "http://127.0.0.1:$p/api/v1/query" --data-urlencode 'query=max_over_time(scrape_duration_seconds[5m])' |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print("  ", [x["value"][1] for x in r])'
done
echo "remote-write backlog (Prometheus' samples pending, dropped, failed):"
for p in $P_PROM_BIG $P_PROM_SMALL; do
  curl -s "http://127.0.0.1:$p/metrics" | grep -E '^prometheus_remote_storage_(samples_pending|samples_failed_total|samples_dropped_total)' | sed 's/^/   /'
done
echo "closeloop rule failures: $(curl -s http://127.0.0.1:$P_CL_BIG/metrics | grep '^closeloop_rule_evaluation_failures_total' || true)"
cp "$work/result.json" "${OUT:-/tmp/rules_vs_prometheus.json}"
echo "result: ${OUT:-/tmp/rules_vs_prometheus.json}"
