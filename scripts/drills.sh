#!/usr/bin/env bash
# Reruns every reliability drill of docs/reliability.md by name and prints the figures it quotes,
# then a longer fuzzing run than CI's (CI runs the same drills inside `cargo test --workspace`,
# with proptest's default number of cases). By hand:
#
#   scripts/drills.sh                      every drill, then fuzzing with 20000 cases
#   PROPTEST_CASES=100000 scripts/drills.sh
#   DRILLS_SKIP_FUZZ=1 scripts/drills.sh   the drills only
#
# Everything binds 127.0.0.1 on free ports; each drill stops what it starts. Exit status is
# non-zero if any drill failed (all of them run regardless).
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh || exit 1
cases=${PROPTEST_CASES:-20000}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()

# cargo test ARGS, its drill figures and per-test outcome shown as they come.
run() {
  echo "== cargo test $*"
  cargo test --locked "$@" -- --nocapture 2>&1 | tee -a "$log" |
    grep --line-buffered -E '^(DRILL|phase |breaker:|restart loop:|test result:)|^test .* (ok|FAILED)$|^error'
  [[ ${PIPESTATUS[0]} -eq 0 ]] || failed+=("$*")
}

# The fault proxy itself: each fault checked on the wire.
run -p testkit --lib fault_proxy
# Fault drills: latency, reset, truncated body, 429 + Retry-After, 5xx, hang; breaker half-open.
for c in aws azure gcp; do run -p "llm-exporter-$c" --test "$c" drills::; done
# kill -9 and SIGTERM loops with a monotonicity-checking scraper.
for c in aws azure gcp; do run -p "llm-exporter-$c" --test "$c" restarts::; done
# The HTTP edge and basic auth (slowloris, descriptor limit, failed logins, gzip).
run -p llm-exporter-aws --test aws http_edge::
run -p llm-exporter-aws --test aws cli::web_config_serves_tls_and_requires_basic_auth
run -p common --lib basic_auth
run -p common --lib edge
# Config range checks and messages naming the field.
run -p common --lib config::tests
for c in aws azure gcp; do run -p "llm-exporter-$c" --bin "llm-exporter-$c" config::tests; done
for c in aws azure gcp; do run -p "llm-exporter-$c" --test "$c" cli::bad_input_exits_non_zero_naming_what_is_wrong; done
# Hostile answers against the real binaries: absurd, non-finite, negative, future, 1970 and
# repeated points; bodies past max_response_bytes (memory bounded); Azure back to getBatch.
for c in azure gcp; do run -p "llm-exporter-$c" --test "$c" hostile::; done
for c in azure gcp; do run -p "llm-exporter-$c" --test "$c" duplicates::; done
for c in aws azure gcp; do run -p "llm-exporter-$c" --test "$c" body_cap::; done
run -p llm-exporter-azure --test azure get_batch::
# Hostile values, the state file (lock, atomic writes), leftovers.
run -p common --lib accumulator
run -p llm-exporter-gcp --test gcp ca_bundle::

if [[ -z ${DRILLS_SKIP_FUZZ:-} ]]; then
  echo "== fuzzing: PROPTEST_CASES=$cases, every test named *fuzz*"
  PROPTEST_CASES=$cases run -p common -p llm-exporter-aws -p llm-exporter-azure -p llm-exporter-gcp fuzz
fi

echo
echo "== figures"
grep -E '^DRILL' "$log" || echo "(no drill printed figures)"
if ((${#failed[@]})); then
  printf 'FAILED: cargo test %s\n' "${failed[@]}"
  exit 1
fi
echo "every drill passed"
