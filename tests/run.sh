#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs and starts the
# real peers the tests use (Prometheus, Redmine), then runs every test.
#
#   bash tests/run.sh
#
# Extra arguments go to `cargo test` (e.g. `bash tests/run.sh -p closeloop-promql`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup/packages.sh

# Redmine answers on 127.0.0.1:3300 unless REDMINE_PORT says otherwise.
redmine_env="$(bash tests/setup/redmine.sh | grep -E '^REDMINE_(URL|API_KEY_FILE)=')"
eval "export ${redmine_env//$'\n'/ }"
echo "run.sh: Redmine at $REDMINE_URL"

cargo test --workspace "$@"
