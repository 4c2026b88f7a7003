#!/usr/bin/env bash
# Installs the Debian packages the test suite runs against, when missing:
# Prometheus 2.42 and promtool (package `prometheus`) as a real remote-write
# sender and the oracle for rule checks, Alertmanager 0.25 (package
# `prometheus-alertmanager`), the Pushgateway 1.5 (`prometheus-pushgateway`),
# and the C libraries the build links.
# Redmine has its own script.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
# Alertmanager 0.25 as a real webhook sender into /api/v1/alertmanager.
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
# The real Pushgateway 1.5, side by side with closeloop's Pushgateway API.
command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
# Build dependencies: the actuator's Kubernetes client links the system
# OpenSSL (reqwest's native-tls), found through pkg-config.
dpkg-query -W -f='${Status}' libssl-dev 2>/dev/null | grep -q 'install ok installed' || missing+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)

if [ ${#missing[@]} -gt 0 ]; then
  echo "packages.sh: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u)
fi
prometheus --version 2>&1 | head -1
