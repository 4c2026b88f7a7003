#!/usr/bin/env bash
# Installs GitHub's published webhook example payloads (npm
# `@octokit/webhooks-examples`) outside the repository, for the deploy
# webhook tests (services/ingest/tests/deploy_webhooks.rs). Idempotent.
#
#   export "$(bash tests/setup/octokit_examples.sh | grep ^CLOSELOOP_OCTOKIT_EXAMPLES=)"
#   cargo test -p closeloop-ingest --test deploy_webhooks
#
# Prints CLOSELOOP_OCTOKIT_EXAMPLES=<path of index.json> on its last line.
set -euo pipefail

DIR="${CLOSELOOP_OCTOKIT_DIR:-/tmp/closeloop-octokit-examples}"
# Pinned so the payloads only change when this line does.
PACKAGE="@octokit/webhooks-examples@7.6.1"
INDEX="$DIR/node_modules/@octokit/webhooks-examples/api.github.com/index.json"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v npm >/dev/null 2>&1; then
  echo "octokit_examples.sh: installing npm" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
fi

if [ ! -s "$INDEX" ]; then
  mkdir -p "$DIR"
  npm install --silent --no-audit --no-fund --prefix "$DIR" "$PACKAGE" >&2
fi
echo "CLOSELOOP_OCTOKIT_EXAMPLES=$INDEX"
