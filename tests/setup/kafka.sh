#!/usr/bin/env bash
# Starts a real Kafka-protocol broker (nisshi, in memory) for closeloop's
# distributed-mode tests, installing it with cargo first if needed (see
# shared/notes/kafka.md: about 12.5 minutes on 2 cores the first time).
# Idempotent: a broker already answering on the port is reused.
#
#   tests/setup/kafka.sh   # then: cargo test -p closeloop-log --features kafka,testsuite
#
# Environment: KAFKA_PORT (default 29092: some 19xxx ports are taken on the
# development machines), KAFKA_STATE_DIR (default /tmp/closeloop-kafka).
# Prints KAFKA_BROKERS=127.0.0.1:PORT.
# Stop it with: kill "$(cat "${KAFKA_STATE_DIR:-/tmp/closeloop-kafka}/broker.pid")"
# The broker keeps everything in memory: a restart starts from empty topics.
set -euo pipefail

PORT="${KAFKA_PORT:-29092}"
STATE="${KAFKA_STATE_DIR:-/tmp/closeloop-kafka}"
export PATH="$HOME/.cargo/bin:$PATH"

answers() {
  # A TCP connect is enough: nisshi accepts only once it is ready to serve.
  (exec 3<>"/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null
}

if ! command -v nisshi >/dev/null 2>&1; then
  echo "kafka.sh: installing nisshi 0.8.1 with cargo (takes ~12 minutes)" >&2
  # --ignore-rust-version: a dependency declares a newer rustc than this
  # machine's, and builds fine anyway; without --version the install fails.
  cargo install nisshi --version 0.8.1 --locked --ignore-rust-version \
    --no-default-features --features dynostore,postgres
fi

mkdir -p "$STATE"
if ! answers; then
  echo "kafka.sh: starting nisshi on 127.0.0.1:$PORT (log: $STATE/broker.log)" >&2
  # 127.0.0.1 explicitly: the default listener binds every interface.
  nohup nisshi broker \
    --listener-url "tcp://127.0.0.1:${PORT}" \
    --advertised-listener-url "tcp://127.0.0.1:${PORT}" \
    --storage-engine memory://nisshi/ \
    --group-initial-rebalance-delay 100ms \
    >"$STATE/broker.log" 2>&1 </dev/null &
  echo $! > "$STATE/broker.pid"
  for _ in $(seq 1 100); do
    if answers; then break; fi
    sleep 0.1
  done
  if ! answers; then
    echo "kafka.sh: nisshi did not answer on 127.0.0.1:$PORT within 10 s; see $STATE/broker.log" >&2
    exit 1
  fi
fi

echo "KAFKA_BROKERS=127.0.0.1:${PORT}"
