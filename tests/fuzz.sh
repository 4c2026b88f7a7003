#!/usr/bin/env bash
# Fuzzes every ingest decoder through the real router for a bounded time,
# starting from the committed seeds (fuzz/seeds/<target>/, plus captured
# fixtures where they fit). A panic, a 5xx or a 4xx without a message is a
# finding: the input is kept under fuzz/artifacts/<target>/ and this script
# fails. Installs cargo-fuzz (crates.io) when missing.
#
#   bash tests/fuzz.sh            # FUZZ_SECONDS (default 15) per target
#
# cargo-fuzz drives libFuzzer, which needs a few unstable rustc flags; on
# the stable toolchain RUSTC_BOOTSTRAP=1 allows them for this build only.
# No sanitizer: the decoders are safe Rust, so what a fuzz run can find is
# a panic or a wrong status, and an uninstrumented build runs ~3x more
# inputs in the same time.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-15}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2

export RUSTC_BOOTSTRAP=1
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^closeloop-fuzz$')
cargo fuzz build --sanitizer none   # every target

# Seeds beside the committed ones: captured fixtures that fit a target.
extra_seeds() {
  case "$1" in
    remote_write_v1) echo ../tests/testdata/prometheus-2.42 ;;
    alerts_webhook) echo ../tests/testdata/alertmanager-0.25 ;;
  esac
}

passed=0 failed=0
for target in $targets; do
  work="$(mktemp -d)"
  seeds=()
  [ -d "seeds/$target" ] && seeds+=("seeds/$target")
  for extra in $(extra_seeds "$target"); do seeds+=("$extra"); done
  mkdir -p "artifacts/$target"
  if cargo fuzz run --sanitizer none "$target" "$work" "${seeds[@]}" -- \
      -max_total_time="$seconds" -max_len=262144 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"$work.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log" | tail -1)
    echo "fuzz: $target ok (${runs:-?} inputs in ${seconds}s)"
    passed=$((passed + 1))
  else
    echo "fuzz: $target FAILED; finding in fuzz/artifacts/$target/, log follows" >&2
    tail -40 "$work.log" >&2
    failed=$((failed + 1))
  fi
  rm -rf "$work" "$work.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
