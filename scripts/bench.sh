#!/usr/bin/env bash
# Serving benchmark: RSS idle and at ~1,000 series, and /metrics under load (wrk), against a
# peer measured in the same run: Debian's prometheus-pushgateway (Go, client_golang) serving
# the very same series. Everything binds 127.0.0.1 and is stopped at the end.
#   scripts/bench.sh [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15}

if ! command -v wrk >/dev/null || ! command -v prometheus-pushgateway >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk prometheus-pushgateway >/dev/null
fi
cargo build --release -q -p llm-exporter-aws
bin=target/release/llm-exporter-aws

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
wait_ready() { for _ in $(seq 1 100); do curl -sf "http://$1/-/ready" >/dev/null && return 0; sleep 0.2; done; echo "not ready: $1" >&2; return 1; }
series() { curl -s "http://$1/metrics" | grep -vc '^#'; }
load() { wrk -t2 -c8 -d"${duration}s" --latency "http://$1/metrics" | awk '/Requests\/sec/{rps=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} END{printf "%s req/s, p50 %s, p99 %s", rps, p50, p99}'; }

a=127.0.0.1:$(free_port); $bin --demo --web.listen-address "$a" --log.level warn & pids+=($!); idle_pid=$!
b=127.0.0.1:$(free_port); $bin --demo --demo.extra-models 65 --web.listen-address "$b" --log.level warn & pids+=($!); big_pid=$!
wait_ready "$a"; wait_ready "$b"
sleep 17   # past the second poll: counters and gauges all present
echo "exporter, demo (default set): $(series "$a") samples, RSS $(( $(rss_kib $idle_pid) / 1024 )) MiB"
echo "exporter, demo + 65 models:   $(series "$b") samples ($(curl -s "http://$b/metrics" | awk '/^llm_exporter_series /{print $2}') usage series), RSS $(( $(rss_kib $big_pid) / 1024 )) MiB"

# The peer: the same exposition pushed to a Pushgateway, which then serves it from memory.
g=127.0.0.1:$(free_port)
prometheus-pushgateway --web.listen-address "$g" --log.level=warn 2>/dev/null & pids+=($!); gw_pid=$!
for _ in $(seq 1 50); do curl -sf "http://$g/-/ready" >/dev/null && break; sleep 0.2; done
curl -s "http://$b/metrics" | grep -v '^llm_exporter_build_info' | curl -sf --data-binary @- "http://$g/metrics/job/bench" >/dev/null
echo "pushgateway with the same series: $(series "$g") samples, RSS $(( $(rss_kib $gw_pid) / 1024 )) MiB"

echo "wrk -t2 -c8 -d${duration}s /metrics:"
ex=$(load "$b"); echo "  exporter:    $ex"
gw=$(load "$g"); echo "  pushgateway: $gw"
echo "RSS under load: exporter $(( $(rss_kib $big_pid) / 1024 )) MiB, pushgateway $(( $(rss_kib $gw_pid) / 1024 )) MiB"
python3 - "$ex" "$gw" <<'PY'
import sys
e, g = (float(x.split()[0]) for x in sys.argv[1:3])
print(f"throughput ratio exporter/pushgateway: {e/g:.2f}x")
PY
