#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs and starts the
# real peers the tests use (Prometheus, Redmine, PostgreSQL, a Kafka-protocol
# broker), then runs every test.
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

# PostgreSQL for the read-model suite; prints CLOSELOOP_TEST_DATABASE_URL.
export "$(bash tests/setup/postgres.sh | grep -E '^CLOSELOOP_TEST_DATABASE_URL=')"

# nisshi, a Kafka-protocol broker (built with cargo the first time, ~12 min
# on 2 cores); prints KAFKA_BROKERS.
export "$(bash tests/setup/kafka.sh | grep -E '^KAFKA_BROKERS=')"
echo "run.sh: PostgreSQL at ${CLOSELOOP_TEST_DATABASE_URL#*@}, Kafka at $KAFKA_BROKERS"

export "$(bash tests/setup/deploy_check.sh | grep -E '^CLOSELOOP_DEPLOY_CHECK_DIR=')"
# The OpenTelemetry Python SDK + OTLP/HTTP exporter (a venv in /tmp) for
# e2e_otlp; prints CLOSELOOP_OTEL_PYTHON.
export "$(bash tests/setup/otel_python.sh | grep -E '^CLOSELOOP_OTEL_PYTHON=')"
# GitHub's published webhook examples (npm); prints CLOSELOOP_OCTOKIT_EXAMPLES.
export "$(bash tests/setup/octokit_examples.sh | grep -E '^CLOSELOOP_OCTOKIT_EXAMPLES=')"
# GitHub's OpenAPI description, the contract of the GitHub fake.
export "$(bash tests/setup/github_openapi.sh | grep -E '^CLOSELOOP_GITHUB_OPENAPI=')"
# Atlassian's OpenAPI description of Jira's REST API (crates.io), the contract
# of the Jira fake.
export "$(bash tests/setup/jira_openapi.sh | grep -E '^CLOSELOOP_JIRA_OPENAPI=')"
# Every ingest decoder fuzzed for a bounded time from the committed seeds
# (FUZZ_SECONDS per target, default 15); skipped when arguments narrow the
# run to some tests.
[ $# -eq 0 ] && bash tests/fuzz.sh
cargo test --workspace "$@"
