#!/usr/bin/env bash
# Installs Atlassian's OpenAPI description of the Jira Cloud platform REST
# API (the /rest/api/2 flavour) outside the repository, for the Jira fake
# that checks every request and answer of the Jira adapter
# (services/actuator/tests/jira/contract.rs says how v3 is derived from it).
# It ships as swagger.json in the crates.io package `jira-api-v2`, fetched
# here with cargo from a scratch manifest. Idempotent.
#
#   export "$(bash tests/setup/jira_openapi.sh | grep ^CLOSELOOP_JIRA_OPENAPI=)"
#   cargo test -p closeloop-actuator --test jira_tracker
#
# Prints CLOSELOOP_JIRA_OPENAPI=<path of the description> on its last line.
set -euo pipefail

DIR="${CLOSELOOP_JIRA_OPENAPI_DIR:-/tmp/closeloop-jira-openapi}"
# Pinned so the contract only changes when this line does.
CRATE="jira-api-v2"
VERSION="1.0.1"
SPEC="$DIR/jira-platform-rest-v2.json"

if [ ! -s "$SPEC" ]; then
  mkdir -p "$DIR/fetch/src"
  cat >"$DIR/fetch/Cargo.toml" <<TOML
[package]
name = "closeloop-jira-openapi-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$CRATE = "=$VERSION"

[workspace]
TOML
  echo "fn main() {}" >"$DIR/fetch/src/main.rs"
  # Only the crate's files are wanted: nothing is built.
  cargo fetch --quiet --manifest-path "$DIR/fetch/Cargo.toml" >&2
  CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
  FOUND="$(ls -d "$CARGO_HOME"/registry/src/*/"$CRATE-$VERSION"/swagger.json 2>/dev/null | head -n 1)"
  if [ -z "$FOUND" ]; then
    echo "jira_openapi.sh: $CRATE $VERSION has no swagger.json under $CARGO_HOME/registry/src" >&2
    exit 1
  fi
  cp "$FOUND" "$SPEC.tmp"
  mv "$SPEC.tmp" "$SPEC"
fi
echo "CLOSELOOP_JIRA_OPENAPI=$SPEC"
