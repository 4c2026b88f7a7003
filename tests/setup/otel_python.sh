#!/usr/bin/env bash
# Installs the real Python senders into a venv outside the repository:
# the OpenTelemetry SDK and its OTLP/HTTP (protobuf) exporter for
# services/closeloop/tests/e2e_otlp.rs, and `prometheus_client` (with
# `bcrypt`, to write the real Pushgateway's basic-auth config) for
# services/closeloop/tests/e2e_pushgateway.rs. Idempotent.
#
#   export "$(bash tests/setup/otel_python.sh | grep ^CLOSELOOP_OTEL_PYTHON=)"
#   cargo test -p closeloop --test e2e_otlp
#
# Prints CLOSELOOP_OTEL_PYTHON=<the venv's python> on its last line.
set -euo pipefail

DIR="${CLOSELOOP_OTEL_VENV:-/tmp/closeloop-otel-venv}"
# Pinned so the sender only changes when these lines do.
PACKAGES=(
  opentelemetry-sdk==1.45.2
  opentelemetry-exporter-otlp-proto-http==1.45.2
  prometheus_client==0.21.1
  bcrypt==4.2.1
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "otel_python.sh: installing python3 and python3-venv" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv
fi

if ! "$DIR/bin/python" -c 'import opentelemetry.sdk.metrics, opentelemetry.exporter.otlp.proto.http.metric_exporter, prometheus_client, bcrypt' >/dev/null 2>&1; then
  python3 -m venv "$DIR"
  "$DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2
fi
echo "CLOSELOOP_OTEL_PYTHON=$DIR/bin/python"
