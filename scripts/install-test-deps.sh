#!/usr/bin/env bash
# Installs everything the test suite needs that cargo does not: Debian's Prometheus and
# Alertmanager (promtool, amtool) and LocalStack in a private venv. Idempotent: a second run
# checks and returns quickly. Every step is retried once, because apt's temp dir and PyPI
# downloads have both been seen to fail once on these machines.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

retry() { "$@" || { echo "retrying: $*" >&2; sleep 3; "$@"; }; }

# --- Prometheus, promtool, Alertmanager, amtool (Debian packages) ---
if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  tmp=$(mktemp -d "$root/.apt-tmp.XXXXXX")
  retry apt-get update -qq
  TMPDIR=$tmp retry apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
  rm -rf "$tmp"
fi

# --- LocalStack (CloudWatch speaking the SDK's CBOR protocol), Python 3.13 venv ---
venv=$root/.venv-localstack
if ! "$venv/bin/python" -c 'import localstack.runtime.main' 2>/dev/null; then
  py=""
  for cand in "$HOME/.pyenv/versions/3.13.0/bin/python" "$(command -v python3.13 || true)"; do
    [ -n "$cand" ] && [ -x "$cand" ] && { py=$cand; break; }
  done
  [ -n "$py" ] || { echo "install-test-deps: LocalStack needs Python >= 3.13 (none found)" >&2; exit 1; }
  rm -rf "$venv"
  "$py" -m venv "$venv"
  retry "$venv/bin/pip" install -q 'localstack-core[runtime]==2026.3.0'
  # Pins: see shared/reference/testing.md (cbor2 6, pyOpenSSL 26 and a missing
  # service_identity each break LocalStack 2026.3.0).
  retry "$venv/bin/pip" install -q 'cbor2<6' 'cryptography==44.0.3' 'pyopenssl==24.3.0' service_identity
fi
echo "install-test-deps: ok (promtool: $(command -v promtool), localstack venv: $venv)"
