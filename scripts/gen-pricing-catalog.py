#!/usr/bin/env python3
"""Regenerates common/pricing/catalog.json from a pinned LiteLLM release.

LiteLLM's model cost map is the most complete public, machine-readable list of per-token LLM
list prices. The wheel on PyPI carries a copy (model_prices_and_context_window_backup.json), so
pinning the wheel's version pins the prices. Usage:

    scripts/gen-pricing-catalog.py            # downloads the pinned wheel with pip
    scripts/gen-pricing-catalog.py WHEEL.whl  # uses a wheel you already have

Output: USD per token, per cloud and catalog key, for input, output, cache_read, cache_write
(the five-minute rate) and cache_write_1h (Anthropic's one-hour cache writes); the same rates
for the billing modes LiteLLM prices apart (`batch` from *_batches, `flex` from *_flex,
`priority` from *_priority) and for long requests (`above_200k` from *_above_200k_tokens, also
inside a mode); `regional_uplift` (regional_endpoint_uplift_multiplier); plus `built`:
when the release was published (PyPI's upload time, from the simple index, PEP 700; wheels
carry normalized 1980 file times).
Keys are what the exporters price by:
  aws:   the Bedrock model id as CloudWatch reports it, geo prefix kept (us.anthropic....)
  azure: the model name, with LiteLLM's deployment-type prefix kept (gpt-4o, us/gpt-4o,
         global/gpt-4o-2024-08-06); Foundry partner models as azure_ai/<model>
  gcp:   the Vertex model id (gemini-2.5-flash, claude-haiku-4-5@20251001, meta/llama-...)
Only chat/completion models with a per-token price are kept.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile

LITELLM_VERSION = "1.109.1"
OUT = os.path.join(os.path.dirname(__file__), "..", "common", "pricing", "catalog.json")
FIELDS = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
}
# Where a mode's rates sit in the catalog entry, and the suffix LiteLLM gives their fields.
MODES = {"batch": "_batches", "flex": "_flex", "priority": "_priority"}
LONG = "_above_200k_tokens"
# LiteLLM writes the long-context suffix of the one-hour cache write after its own suffix.
LONG_FIELDS = {
    "input": "input_cost_per_token" + LONG,
    "output": "output_cost_per_token" + LONG,
    "cache_read": "cache_read_input_token_cost" + LONG,
    "cache_write": "cache_creation_input_token_cost" + LONG,
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr" + LONG,
}
GEO_PREFIXES = ("us.", "eu.", "apac.", "global.", "jp.", "au.", "us-gov.", "ca.")


def cloud_and_key(key, provider):
    """Maps a LiteLLM entry to (cloud, catalog key), or None to skip it."""
    if provider in ("bedrock", "bedrock_converse"):
        # Region- and commitment-specific keys (bedrock/us-east-1/...) are not what
        # CloudWatch's ModelId reports; invoke/ and converse/ prefixes are call styles.
        if "/" in key:
            return None
        return "aws", key
    if provider == "azure" and key.startswith("azure/"):
        return "azure", key[len("azure/"):]
    if provider == "azure_ai":
        return "azure", key if key.startswith("azure_ai/") else "azure_ai/" + key
    if provider.startswith("vertex_ai"):
        k = key[len("vertex_ai/"):] if key.startswith("vertex_ai/") else key
        return "gcp", k
    return None


def rates(entry, fields, suffix):
    """The non-negative numeric rates of `entry` named by `fields`, each with `suffix`."""
    out = {}
    for name, field in fields.items():
        value = entry.get(field + suffix)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            out[name] = float(value)
    return out


def published(version):
    """The release's upload time on PyPI (RFC 3339), or None when the index does not say."""
    req = urllib.request.Request(
        "https://pypi.org/simple/litellm/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    try:
        files = json.load(urllib.request.urlopen(req, timeout=60))["files"]
    except Exception as e:  # the catalog is still usable without a date
        print(f"cannot read the upload time from PyPI: {e}", file=sys.stderr)
        return None
    times = [f.get("upload-time") for f in files if f"-{version}" in f["filename"]]
    times = [t for t in times if t]
    return min(times)[:19] + "Z" if times else None


def main():
    if len(sys.argv) > 1:
        wheel = sys.argv[1]
    else:
        tmp = tempfile.mkdtemp()
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
             f"litellm=={LITELLM_VERSION}"],
            check=True,
        )
        wheel = glob.glob(os.path.join(tmp, "litellm-*.whl"))[0]
    name = "litellm/model_prices_and_context_window_backup.json"
    with zipfile.ZipFile(wheel) as z:
        data = json.loads(z.read(name))
    version = os.path.basename(wheel).split("-")[1]
    built = published(version)

    models = {"aws": {}, "azure": {}, "gcp": {}}
    for key, entry in sorted(data.items()):
        if not isinstance(entry, dict) or entry.get("mode") not in ("chat", "completion"):
            continue
        mapped = cloud_and_key(key, entry.get("litellm_provider") or "")
        if mapped is None:
            continue
        cloud, ckey = mapped
        prices = rates(entry, FIELDS, "")
        if "input" not in prices and "output" not in prices:
            continue
        long = rates(entry, LONG_FIELDS, "")
        if long:
            prices["above_200k"] = long
        for mode, suffix in MODES.items():
            mode_rates = rates(entry, FIELDS, suffix)
            mode_long = rates(entry, LONG_FIELDS, suffix)
            if mode_long:
                mode_rates["above_200k"] = mode_long
            if mode_rates:
                prices[mode] = mode_rates
        uplift = entry.get("regional_endpoint_uplift_multiplier")
        if isinstance(uplift, (int, float)) and uplift >= 1:
            prices["regional_uplift"] = float(uplift)
        # First writer wins; LiteLLM sometimes has the same model under two providers.
        models[cloud].setdefault(ckey, prices)

    catalog = {"source": "litellm", "version": version, "models": models}
    if built:
        catalog["built"] = built
    with open(OUT, "w") as f:
        json.dump(catalog, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {OUT}: " + ", ".join(f"{c} {len(m)}" for c, m in models.items()))


if __name__ == "__main__":
    main()
