#!/usr/bin/env bash
# Scale run (by hand, not in CI): one GCP exporter process, release build, against the tests'
# fake Cloud Monitoring serving a fleet of projects (exporters/gcp/examples/fake_fleet.rs),
# at several fleet sizes. Per size it reports, over a measured window after a warm-up:
#   busy age s    the oldest last success of a project in use at the end
#                 (llm_exporter_target_last_success_timestamp_seconds): about poll_interval
#                 while the exporter keeps up, growing once it does not (the knee)
#   idle age s    the same for idle projects: about idle_poll_interval while it keeps up
#   fetch s       mean duration of one project's fetch (llm_exporter_poll_duration_seconds)
#   CPU s/poll    exporter CPU (user+system) per poll_interval
#   RSS MiB       exporter resident memory at the end
#   calls/poll    timeSeries.list calls per poll_interval
#   units/poll    billable units (time series returned) per poll_interval
#
#   scripts/scale.sh                      # sizes 100 300 1000 3000, 20 models, 1 in 10 busy
#   SIZES="1000" WINDOW=180 scripts/scale.sh
#   SKIP_BUILD=1 scripts/scale.sh         # use the release binaries already built
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
SIZES="${SIZES:-100 300 1000 3000}"
MODELS="${MODELS:-20}"
BUSY="${BUSY:-0.1}"            # share of projects with traffic (2 models each in use)
WINDOW="${WINDOW:-120}"        # seconds measured
WARMUP="${WARMUP:-75}"         # seconds after ready (first poll, idle projects classified)
POLL="${POLL:-15}"             # poll_interval, seconds
IDLE="${IDLE:-60}"             # gcp.idle_poll_interval, seconds

[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p llm-exporter-gcp --bin llm-exporter-gcp --example fake_fleet
WORK="$(mktemp -d)"
# Copies: a target dir shared by several checkouts may rebuild the binaries during the run.
cp "$CARGO_TARGET_DIR/release/llm-exporter-gcp" "$CARGO_TARGET_DIR/release/examples/fake_fleet" "$WORK/"
BIN="$WORK/llm-exporter-gcp"
FAKE="$WORK/fake_fleet"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/key.pem" 2>/dev/null
python3 - "$WORK" <<'PY'
import json, sys
d = sys.argv[1]
json.dump({"type": "service_account", "project_id": "proj-00000", "private_key_id": "0123456789abcdef",
           "private_key": open(d + "/key.pem").read(), "client_email": "scale@proj-00000.iam.gserviceaccount.com",
           "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}, open(d + "/sa.json", "w"))
PY

metric() { # metric <scrape file> <name> [label filter regex]: sum of matching samples
  awk -v n="$2" -v f="${3:-}" '$1 ~ "^"n"({|$)" && (f == "" || $1 ~ f) { s += $NF } END { printf "%.6f", s+0 }' "$1"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '| projects | busy age s | idle age s | fetch s | CPU s/poll | RSS MiB | calls/poll | units/poll |\n|---|---|---|---|---|---|---|---|\n'
for n in $SIZES; do
  rm -f "$WORK/fake.url"
  "$FAKE" "$n" "$MODELS" "$BUSY" > "$WORK/fake.url" 2> "$WORK/fake.log" &
  FPID=$!; PIDS+=("$FPID")
  for _ in $(seq 300); do [ -s "$WORK/fake.url" ] && break; sleep 0.2; done
  [ -s "$WORK/fake.url" ] || { echo "fake_fleet did not start: $(cat "$WORK/fake.log")" >&2; exit 1; }
  url="$(head -1 "$WORK/fake.url")"
  projects="$(python3 -c "print(', '.join('proj-%05d' % i for i in range($n)))")"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  printf 'poll_interval: %ss\ngcp:\n  projects: [%s]\n  monitoring_endpoint: %s\n  idle_poll_interval: %ss\n' \
    "$POLL" "$projects" "$url" "$IDLE" > "$WORK/config.yaml"
  GOOGLE_APPLICATION_CREDENTIALS="$WORK/sa.json" "$BIN" --config.file "$WORK/config.yaml" \
    --web.listen-address "127.0.0.1:$port" --log.level warn > "$WORK/exporter.log" 2>&1 &
  EPID=$!; PIDS+=("$EPID")
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/-/ready" > /dev/null && break; sleep 0.5; done
  curl -sf "http://127.0.0.1:$port/-/ready" > /dev/null || { echo "exporter not ready: $(tail -3 "$WORK/exporter.log")" >&2; exit 1; }
  sleep "$WARMUP"
  curl -s "http://127.0.0.1:$port/metrics" > "$WORK/a"; c0="$(cpu_ticks "$EPID")"; t0="$(date +%s.%N)"
  sleep "$WINDOW"
  curl -s "http://127.0.0.1:$port/metrics" > "$WORK/b"; c1="$(cpu_ticks "$EPID")"; t1="$(date +%s.%N)"
  rss="$(rss_mib "$EPID")"
  python3 - "$WORK/a" "$WORK/b" "$n" "$BUSY" "$POLL" "$IDLE" "$t0" "$t1" "$c0" "$c1" "$rss" "$(getconf CLK_TCK)" <<'PY'
import re, sys
a, b, n, busy, poll, idle, t0, t1, c0, c1, rss, tck = sys.argv[1:]
n, busy, poll, idle = int(n), float(busy), float(poll), float(idle)
def total(path, name, want=""):
    s = 0.0
    for line in open(path):
        if line.startswith(name) and (line[len(name)] in "{ ") and want in line:
            s += float(line.split()[-1])
    return s
d = lambda name, want="": total(b, name, want) - total(a, name, want)
secs = float(t1) - float(t0)
cycles = secs / poll
every = max(1, round(1 / busy)) if busy > 0 else n + 1
ages = {True: [], False: []}
for line in open(b):
    m = re.match(r'llm_exporter_target_last_success_timestamp_seconds\{target="proj-(\d+)"\} (\S+)', line)
    if m:
        ages[int(m.group(1)) % every == 0].append(float(t1) - float(m.group(2)))
oldest = lambda xs: f"{max(xs):.0f}" if xs else "-"
fetch = d("llm_exporter_poll_duration_seconds_sum") / max(1, d("llm_exporter_poll_duration_seconds_count"))
cpu = (float(c1) - float(c0)) / float(tck) / cycles
calls = d("llm_exporter_api_requests_total", 'api="timeSeries.list"') / cycles
units = d("llm_exporter_api_billable_units_total", 'api="timeSeries.list"') / cycles
print(f"| {n} | {oldest(ages[True])} | {oldest(ages[False])} | {fetch:.3f} | {cpu:.3f} | {rss} | {calls:.0f} | {units:.0f} |")
PY
  kill "$EPID" "$FPID" 2>/dev/null || true; wait "$EPID" "$FPID" 2>/dev/null || true
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
