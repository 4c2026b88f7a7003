#!/usr/bin/env bash
# Installs GitHub's official OpenAPI description (npm `@octokit/openapi`)
# outside the repository, for the GitHub fake that checks every request and
# answer of the GitHub adapter (services/actuator/tests/github_fake.rs).
# Idempotent.
#
#   export "$(bash tests/setup/github_openapi.sh | grep ^CLOSELOOP_GITHUB_OPENAPI=)"
#   cargo test -p closeloop-actuator --test github_tracker
#
# Prints CLOSELOOP_GITHUB_OPENAPI=<path of api.github.com.json> on its last line.
set -euo pipefail

DIR="${CLOSELOOP_GITHUB_OPENAPI_DIR:-/tmp/closeloop-octokit}"
# Pinned so the contract only changes when this line does.
PACKAGE="@octokit/openapi@23.0.2"
SPEC="$DIR/node_modules/@octokit/openapi/generated/api.github.com.json"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v npm >/dev/null 2>&1; then
  echo "github_openapi.sh: installing npm" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
fi

if [ ! -s "$SPEC" ]; then
  mkdir -p "$DIR"
  npm install --silent --no-audit --no-fund --prefix "$DIR" "$PACKAGE" >&2
fi
echo "CLOSELOOP_GITHUB_OPENAPI=$SPEC"
