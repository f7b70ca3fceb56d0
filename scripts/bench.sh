#!/usr/bin/env bash
# Serving benchmark, run by hand (never in CI). The AWS exporter's demo at about 1k, 10k and
# 100k usage series against two peers measured in the same run and serving the very same
# exposition: Debian's prometheus-pushgateway (Go, client_golang, serves from memory) and
# prometheus-node-exporter's textfile collector (re-reads and parses the file per scrape).
# For each: req/s, p50 and p99 with wrk at 8 connections, plain and gzip, bytes per response,
# RSS idle and after load. At 10k series the exporter also takes a 30 s load at 64
# connections while /-/healthy is timed. Everything binds 127.0.0.1 and is stopped at the end.
#
#   scripts/bench.sh [SIZES]        SIZES defaults to "1000 10000 100000"
#   BENCH_BIN=path/to/llm-exporter-aws scripts/bench.sh    (skip the cargo build)
#   BENCH_DURATION=10 (seconds per wrk run)   BENCH_LOAD=30 (seconds of the 64-connection load)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"1000 10000 100000"}
duration=${BENCH_DURATION:-10}
load_secs=${BENCH_LOAD:-30}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v prometheus-pushgateway >/dev/null || need+=(prometheus-pushgateway)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [[ -z ${BENCH_BIN:-} ]]; then
  cargo build --release -q -p llm-exporter-aws
  BENCH_BIN=target/release/llm-exporter-aws
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
rss_mib() { awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$1/status"; }
# RSS once it has settled: sampled every second until three samples in a row agree (at most
# 40 s). Go servers hand memory back to the OS gradually after a burst (a push, a parse), so
# a single sample right after one can be several times what they hold.
settled_mib() {
  local last=-1 same=0 now
  for _ in $(seq 1 40); do
    now=$(rss_mib "$1")
    if [[ $now == "$last" ]]; then same=$((same + 1)); else same=0; fi
    ((same >= 2)) && break
    last=$now
    sleep 1
  done
  echo "$now"
}
wait_url() { for _ in $(seq 1 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "not answering: $1" >&2; return 1; }
# Bytes on the wire for one response.
bytes() { curl -s -o /dev/null -w '%{size_download}' ${2:+-H "Accept-Encoding: gzip"} "$1"; }
# wrk at 8 connections: "req/s p50_ms p99_ms".
wrk_run() {
  local url=$1 gzip=$2 conns=${3:-8} secs=${4:-$duration}
  wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s --latency ${gzip:+-H "Accept-Encoding: gzip"} "$url" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ {rps=$2} /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)}
    END {printf "%.0f %.2f %.2f\n", rps, p50, p99}'
}

rows=()
row() { rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s |' "$@")"); }

for size in $sizes; do
  # The demo's default set is ~100 usage series; each extra model adds ~10.6.
  models=$(( (size - 100) * 10 / 106 )); ((models < 0)) && models=0
  cfg=$work/c$size.yaml
  printf 'max_series: %d\n' $((size * 2)) >"$cfg"
  a=127.0.0.1:$(free_port)
  "$BENCH_BIN" --demo --demo.extra-models "$models" --config.file "$cfg" --web.listen-address "$a" --log.level warn &
  pids+=($!); ex_pid=$!
  for _ in $(seq 1 600); do curl -sf -o /dev/null "http://$a/-/ready" && break; sleep 0.2; done
  sleep 17 # past the second poll: counters and gauges all present
  # As Prometheus scrapes (gzip): a plain scrape would also keep the inflated text until the
  # next publish.
  curl -s --compressed "http://$a/metrics" >"$work/expo.txt"
  usage=$(awk '/^llm_exporter_series /{print $2}' "$work/expo.txt")

  # The peers get the same exposition, without the exporter's build_info (theirs differ).
  grep -v '^llm_exporter_build_info' "$work/expo.txt" >"$work/peer.txt"
  g=127.0.0.1:$(free_port)
  prometheus-pushgateway --web.listen-address "$g" --log.level=warn 2>/dev/null &
  pids+=($!); gw_pid=$!
  wait_url "http://$g/-/ready"
  curl -sf --data-binary @"$work/peer.txt" "http://$g/metrics/job/bench" >/dev/null
  mkdir -p "$work/tf$size"; cp "$work/peer.txt" "$work/tf$size/llm.prom"
  n=127.0.0.1:$(free_port)
  prometheus-node-exporter --web.listen-address "$n" --collector.disable-defaults \
    --collector.textfile --collector.textfile.directory "$work/tf$size" --log.level=warn 2>/dev/null &
  pids+=($!); ne_pid=$!
  wait_url "http://$n/metrics"
  ex_idle=$(settled_mib $ex_pid); gw_idle=$(settled_mib $gw_pid); ne_idle=$(settled_mib $ne_pid)

  echo "== $usage usage series ($(grep -vc '^#' "$work/expo.txt") samples)" >&2
  declare -A rps=()
  for who in exporter pushgateway node-exporter; do
    case $who in exporter) u=http://$a/metrics; pid=$ex_pid; idle=$ex_idle ;;
      pushgateway) u=http://$g/metrics; pid=$gw_pid; idle=$gw_idle ;;
      node-exporter) u=http://$n/metrics; pid=$ne_pid; idle=$ne_idle ;; esac
    for gz in "" gzip; do
      read -r r p50 p99 < <(wrk_run "$u" "$gz")
      rps[$who$gz]=$r
      echo "  $who ${gz:-plain}: $r req/s, p50 $p50 ms, p99 $p99 ms" >&2
      row "$usage" "$who" "${gz:-plain}" "$r" "$p50 / $p99" "$(bytes "$u" "$gz")" "$idle → $(rss_mib $pid)"
    done
  done
  ratio_gz=$(python3 -c "print(f'{${rps[exportergzip]}/max(1,${rps[pushgatewaygzip]}):.1f}')")
  ratio_pl=$(python3 -c "print(f'{${rps[exporter]}/max(1,${rps[pushgateway]}):.1f}')")
  ratio_rss=$(python3 -c "print(f'{$ex_idle/max(1,$gw_idle):.2f}')")
  echo "  ratios exporter/pushgateway: req/s gzip ${ratio_gz}x, plain ${ratio_pl}x; idle RSS ${ratio_rss}x" >&2
  rows+=("| $usage | ratio exporter / pushgateway | | gzip ${ratio_gz}×, plain ${ratio_pl}× | | | idle RSS ${ratio_rss}× |")

  if [[ $size == 10000 ]]; then
    # 64 connections for $load_secs s while /-/healthy is timed, then RSS once settled.
    before=$(rss_mib $ex_pid)
    wrk -t2 -c64 -d"${load_secs}s" --latency -H "Accept-Encoding: gzip" "http://$a/metrics" >"$work/load.txt" &
    wrk_pid=$!
    worst=0
    while kill -0 $wrk_pid 2>/dev/null; do
      t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 5 "http://$a/-/healthy" || echo 5)
      worst=$(python3 -c "print(max($worst, $t*1000))")
      sleep 0.5
    done
    wait $wrk_pid || true
    peak_p99=$(awk '/^ +99%/{print $2}' "$work/load.txt")
    # Freed memory goes back to the OS after each publish: wait one poll interval.
    sleep 16
    after=$(rss_mib $ex_pid)
    echo "  64 connections ${load_secs}s (gzip): p99 $peak_p99, /-/healthy worst $(printf '%.1f' "$worst") ms, RSS $before → $after MiB (idle $ex_idle)" >&2
    rows+=("| $usage | exporter, wrk -c64 ${load_secs}s gzip | gzip | $(awk '/Requests\/sec/{printf "%.0f", $2}' "$work/load.txt") | p99 $peak_p99; /-/healthy worst $(printf '%.1f' "$worst") ms | | $ex_idle → $after |")
  fi
  stop $ex_pid; stop $gw_pid; stop $ne_pid
done

echo
echo "| usage series | server | encoding | req/s (wrk -t2 -c8 -d${duration}s) | p50 / p99 ms | bytes per response | RSS MiB idle → after load |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
