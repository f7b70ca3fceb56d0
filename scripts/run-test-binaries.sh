#!/usr/bin/env bash
# Builds every test binary of the workspace once, then runs them JOBS at a time (default 3).
#
# `cargo test` runs test binaries one after another. Most of ours spend their time waiting on
# servers (LocalStack, Prometheus, the exporters' poll loops), so running a few side by side
# roughly halves the suite's wall time on two cores. cargo-nextest would do this but runs each
# test in its own process, which would start a LocalStack or Prometheus per test where our
# binaries share one per binary; this script keeps cargo's one-process-per-binary model.
#
# Each crate has one integration-test binary; the slowest start first, each with its own number
# of test threads (libtest's --test-threads, by RUST_TEST_THREADS): tests that wait on servers
# run more at a time than there are cores, the CPU-bound fuzzing runs on two. A RUST_TEST_THREADS
# set by the caller applies to every binary instead.
#
# Each binary runs as cargo runs it: from its package's directory, with CARGO_MANIFEST_DIR and
# CARGO_PKG_NAME set. Its output is kept in a log and printed whole when it ends.
# Extra arguments are passed to every binary (e.g. a test-name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${TEST_JOBS:-3}
target=${CARGO_TARGET_DIR:-$PWD/target}
logs=$(mktemp -d "${TMPDIR:-/tmp}/test-logs.XXXXXX")
trap 'rm -rf "$logs"' EXIT

# One line per test binary: <package dir> <package id> <cargo's target selector> <executable>.
cargo test --workspace --locked --no-run --message-format=json-render-diagnostics |
  python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        t = m["target"]
        kind = t["kind"][0]
        selector = "--lib" if kind == "lib" else "--" + kind + " " + t["name"]
        print(os.path.dirname(m["manifest_path"]), m["package_id"], selector, m["executable"], sep="\t")
' >"$logs/list.raw"

# Package names come from `cargo metadata`, the package id's format being unspecified.
cargo metadata --format-version 1 --no-deps |
  python3 -c '
import json, sys
names = {p["id"]: p["name"] for p in json.load(sys.stdin)["packages"]}
# (package, target kind, test threads), slowest first, measured on 2 cores: the longest single
# tests (AWS discovery ~150 s, the stack promtool checks ~120 s) bound the run, so they start
# first. Other binaries run after these with the libtest default (one thread per core).
slow = [
    ("llm-exporter-aws", "--test", 4),
    ("testkit", "--test", 3),
    ("llm-gateway", "--test", 2),
    ("llm-exporter-azure", "--test", 3),
    ("llm-exporter-gcp", "--test", 3),
    ("common", "--test", 2),
]
rows = []
for line in open(sys.argv[1]):
    d, pid, selector, exe = line.rstrip("\n").split("\t")
    name = names.get(pid, "")
    rank, threads = next(
        ((i, n) for i, (p, k, n) in enumerate(slow) if p == name and selector.startswith(k)),
        (len(slow), "-"),
    )
    rows.append((rank, d, name, f"-p {name} {selector}", threads, exe))
for rank, d, name, label, threads, exe in sorted(rows):
    print(d, name, label, threads, exe, sep="\t")
' "$logs/list.raw" >"$logs/list"
echo "running $(wc -l <"$logs/list") test binaries, $jobs at a time"

export LOGS=$logs TARGET=$target THREADS=${RUST_TEST_THREADS:-}
run_one() {
  IFS=$'\t' read -r dir name label threads exe <<<"$1"
  local log
  log="$LOGS/$(basename "$exe").log"
  local start=$SECONDS
  local status=ok
  threads=${THREADS:-$threads}
  (cd "$dir" && if [ "$threads" != - ]; then export RUST_TEST_THREADS=$threads; fi &&
    CARGO_MANIFEST_DIR=$dir CARGO_PKG_NAME=$name CARGO_TARGET_DIR=$TARGET "$exe" "${@:2}") \
    >"$log" 2>&1 || status=FAILED
  # One block per binary, printed whole as cargo prints it (with libtest's "test result:" line,
  # which CI reads), so parallel binaries never interleave their lines.
  {
    echo "     Running $label (${exe#"$TARGET"/}): $status after $((SECONDS - start)) s"
    cat "$log"
  } | flock "$LOGS/stdout.lock" cat
  printf '%-6s %s (%s s, %s)\n' "$status" "$label" "$((SECONDS - start))" \
    "$(grep -Eo '[0-9]+ passed; [0-9]+ failed' "$log" | tail -n 1)" >>"$LOGS/summary"
  if [ "$status" = FAILED ]; then
    touch "$LOGS/failed"
  fi
}
export -f run_one

tr '\n' '\0' <"$logs/list" | xargs -0 -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$@"

# Doc tests are not test binaries: cargo runs them.
cargo test --workspace --locked --doc --quiet

echo
echo "summary:"
cat "$logs/summary"

if [ -e "$logs/failed" ]; then
  echo "some test binaries failed (see \"FAILED after\" above)" >&2
  exit 1
fi
echo "all test binaries passed"
