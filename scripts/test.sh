#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks formatting and lints, and runs
# every test (unit, LocalStack integration, real binaries, promtool).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The test binaries run a few at a time (TEST_JOBS, default 3); see run-test-binaries.sh.
scripts/run-test-binaries.sh
