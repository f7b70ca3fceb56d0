"""Writes billing exports shaped like the clouds' own, for the gateway's tests (pyarrow).

Usage: billing_export.py SPEC.json

SPEC: {"dir": "/tmp/x", "bucket": "bkt", "prefix": "cur", "export": "llm-cur",
       "layout": "cur2" | "focus", "file_format": "parquet" | "csv.gz",
       "periods": [{"period": "2026-11", "execution_id": null | "id",
                    "files": [[ROW, ...], ...],
                    "corrupt": [file index, ...], "drop_columns": ["..."],
                    "missing_files": ["name.parquet"]}]}
ROW: {"start": "2026-11-03T05:00:00Z", "account": "111111111111", "cost": 1.5,
      "currency": "USD", "product_code": "AmazonBedrock", "servicecode": "AmazonBedrock",
      "product_name": "Amazon Bedrock", "usage_type": "USE1-NovaPro-input-tokens",
      "resource": "", "line_item_type": "Usage", "tags": {"user_team": "support"}}

Writes `<dir>/<prefix>/<export>/data/BILLING_PERIOD=<period>/[<execution_id>/]<export>-0000N.<ext>`
and the manifest `<dir>/<prefix>/<export>/metadata/BILLING_PERIOD=<period>/[<execution_id>/]
<export>-Manifest.json` whose dataFiles are `s3://<bucket>/<prefix>/<export>/data/...`
(AWS Data Exports user guide, "Understanding export delivery" and "Data Exports manifest
file reference"). Column names and types follow the CUR 2.0 table dictionary and the FOCUS 1.0
with AWS columns table dictionary; the columns the gateway does not read are written too, so
a reader that does not project pays for them.

Azure: a SPEC with "cloud": "azure" writes a Cost Management export (see the Azure section
below); billing_export.py --azurite-upload URL CONTAINER DIR copies DIR into Azurite.

Bench mode: billing_export.py --bench DIR ROWS FILES writes a CUR 2.0 Parquet export of ROWS
rows over FILES files (1 in 20 rows Bedrock) for the hand benchmark; --gcp-bench DIR ROWS FILES
a Google Cloud detailed-table export (1 in 20 rows Vertex AI) under DIR/gcp-bench/.
"""

import datetime as dt
import decimal
import gzip
import io
import json
import os
import random
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

STR_MAP = pa.map_(pa.string(), pa.string())


def ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).replace(tzinfo=None)


def cur2_table(rows):
    n = len(rows)
    start = [ts(r["start"]) for r in rows]
    cols = {
        "identity_line_item_id": [f"id-{i}" for i in range(n)],
        "identity_time_interval": [
            f"{s.isoformat()}Z/{(s + dt.timedelta(hours=1)).isoformat()}Z" for s in start
        ],
        "bill_bill_type": ["Anniversary"] * n,
        "bill_billing_entity": [
            "AWS Marketplace" if "Edition" in r.get("product_name", "") else "AWS"
            for r in rows
        ],
        "bill_billing_period_start_date": [s.replace(day=1, hour=0) for s in start],
        "bill_payer_account_id": ["999999999999"] * n,
        "line_item_usage_account_id": [r["account"] for r in rows],
        "line_item_line_item_type": [r.get("line_item_type", "Usage") for r in rows],
        "line_item_usage_start_date": start,
        "line_item_usage_end_date": [s + dt.timedelta(hours=1) for s in start],
        "line_item_product_code": [r.get("product_code", "") for r in rows],
        "line_item_usage_type": [r.get("usage_type", "") for r in rows],
        "line_item_operation": ["InvokeModelInference"] * n,
        "line_item_resource_id": [r.get("resource", "") for r in rows],
        "line_item_usage_amount": [1000.0] * n,
        "line_item_currency_code": [r.get("currency", "USD") for r in rows],
        "line_item_unblended_rate": [0.001] * n,
        "line_item_unblended_cost": [float(r["cost"]) for r in rows],
        "line_item_line_item_description": ["LLM usage"] * n,
        "product_servicecode": [r.get("servicecode", r.get("product_code", "")) for r in rows],
        "product_region_code": ["us-east-1"] * n,
        "product": [
            [("product_name", r.get("product_name", "")), ("region", "us-east-1")] for r in rows
        ],
        "pricing_unit": ["Tokens"] * n,
        "resource_tags": [list(r.get("tags", {}).items()) for r in rows],
    }
    types = {
        "bill_billing_period_start_date": pa.timestamp("ms"),
        "line_item_usage_start_date": pa.timestamp("ms"),
        "line_item_usage_end_date": pa.timestamp("ms"),
        "product": STR_MAP,
        "resource_tags": STR_MAP,
    }
    return pa.table({k: pa.array(v, type=types.get(k)) for k, v in cols.items()})


def focus_table(rows):
    n = len(rows)
    start = [ts(r["start"]) for r in rows]
    cols = {
        "AvailabilityZone": [""] * n,
        "BilledCost": [float(r["cost"]) for r in rows],
        "BillingAccountId": ["999999999999"] * n,
        "BillingAccountName": ["payer"] * n,
        "BillingCurrency": [r.get("currency", "USD") for r in rows],
        "BillingPeriodStart": [s.replace(day=1, hour=0) for s in start],
        "ChargeCategory": [
            "Tax" if r.get("line_item_type") == "Tax" else "Usage" for r in rows
        ],
        "ChargeDescription": ["LLM usage"] * n,
        "ChargePeriodStart": start,
        "ChargePeriodEnd": [s + dt.timedelta(hours=1) for s in start],
        "EffectiveCost": [float(r["cost"]) for r in rows],
        "ListCost": [float(r["cost"]) for r in rows],
        "ProviderName": ["AWS"] * n,
        "PublisherName": [
            "AWS Marketplace" if "Edition" in r.get("product_name", "") else "AWS"
            for r in rows
        ],
        "ResourceId": [r.get("resource", "") for r in rows],
        "ServiceCategory": ["AI and Machine Learning"] * n,
        "ServiceName": [r.get("product_name", "") for r in rows],
        "SubAccountId": [r["account"] for r in rows],
        "Tags": [list(r.get("tags", {}).items()) for r in rows],
        "x_ServiceCode": [r.get("servicecode", r.get("product_code", "")) for r in rows],
        "x_UsageType": [r.get("usage_type", "") for r in rows],
        "x_Operation": ["InvokeModelInference"] * n,
    }
    types = {
        "BillingPeriodStart": pa.timestamp("ms"),
        "ChargePeriodStart": pa.timestamp("ms"),
        "ChargePeriodEnd": pa.timestamp("ms"),
        "Tags": STR_MAP,
    }
    table = pa.table({k: pa.array(v, type=types.get(k)) for k, v in cols.items()})
    # FOCUS's money columns are decimals in AWS's Parquet.
    i = table.schema.get_field_index("BilledCost")
    return table.set_column(
        i, "BilledCost", table.column("BilledCost").cast(pa.decimal128(30, 12))
    )


def csv_bytes(table):
    """CSV as the exports write it: map columns as JSON objects, times in RFC 3339."""
    out = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_map(col.type):
            out[name] = [json.dumps(dict(v)) if v is not None else "" for v in col.to_pylist()]
        elif pa.types.is_timestamp(col.type):
            out[name] = [v.strftime("%Y-%m-%dT%H:%M:%SZ") for v in col.to_pylist()]
        else:
            out[name] = [str(v) for v in col.to_pylist()]
    buf = io.BytesIO()
    pacsv.write_csv(pa.table(out), buf)
    return buf.getvalue()


def write(spec):
    root = os.path.join(spec["dir"], spec["prefix"], spec["export"])
    export = spec["export"]
    ext = "snappy.parquet" if spec["file_format"] == "parquet" else "csv.gz"
    make = cur2_table if spec["layout"] == "cur2" else focus_table
    for p in spec["periods"]:
        part = f"BILLING_PERIOD={p['period']}"
        sub = [part] + ([p["execution_id"]] if p.get("execution_id") else [])
        data_dir = os.path.join(root, "data", *sub)
        meta_dir = os.path.join(root, "metadata", *sub)
        os.makedirs(data_dir, exist_ok=True)
        os.makedirs(meta_dir, exist_ok=True)
        names = []
        for i, rows in enumerate(p["files"]):
            name = f"{export}-{i + 1:05d}.{ext}"
            path = os.path.join(data_dir, name)
            names.append(name)
            if i in p.get("corrupt", []):
                with open(path, "wb") as f:
                    f.write(b"PAR1 this is not a parquet file, nor csv \x00\x01" * 10)
                continue
            table = make(rows)
            for c in p.get("drop_columns", []):
                table = table.drop_columns([c])
            if spec["file_format"] == "parquet":
                pq.write_table(table, path, compression="snappy", row_group_size=4096)
            else:
                with open(path, "wb") as f:
                    f.write(gzip.compress(csv_bytes(table)))
        names += p.get("missing_files", [])
        key = "/".join([spec["prefix"], export, "data", *sub])
        manifest = {
            "executionId": p.get("execution_id") or "exec-1",
            "exportArn": f"arn:aws:bcm-data-exports:us-east-1:999999999999:export/{export}",
            "columns": [{"name": n, "type": "string"} for n in make([]).column_names],
            "dataFiles": [f"s3://{spec['bucket']}/{key}/{n}" for n in names],
            "additionalOutputFiles": [],
        }
        with open(os.path.join(meta_dir, f"{export}-Manifest.json"), "w") as f:
            json.dump(manifest, f)


def bench(out, rows, files):
    """A CUR 2.0 Parquet export of `rows` rows in `files` files (1 in 20 rows Bedrock, the
    rest EC2 and S3): one block of 100,000 rows, repeated."""
    rnd = random.Random(7)
    block = 100_000
    models = ["NovaPro", "NovaLite", "Claude4.6Sonnet"]
    kinds = ["input-tokens", "output-tokens", "cache-read-input-token-count"]
    chunk = []
    for i in range(block):
        bedrock = rnd.random() < 0.05
        chunk.append({
            "start": f"2026-11-{1 + (i * 30) // block:02d}T{i % 24:02d}:00:00Z",
            "account": f"{100000000000 + rnd.randrange(20)}",
            "cost": round(rnd.random(), 6),
            "product_code": "AmazonBedrock" if bedrock else rnd.choice(["AmazonEC2", "AmazonS3"]),
            "product_name": "Amazon Bedrock" if bedrock else "Amazon Elastic Compute Cloud",
            "usage_type": (f"USE1-{rnd.choice(models)}-{rnd.choice(kinds)}" if bedrock
                           else "USE1-BoxUsage:m5.large"),
            "tags": {"user_team": rnd.choice(["search", "support"])},
        })
    table = cur2_table(chunk)
    per = rows // files
    reps = max(1, per // block)
    big = pa.concat_tables([table] * reps)
    root = os.path.join(out, "cur", "bench")
    data_dir = os.path.join(root, "data", "BILLING_PERIOD=2026-11")
    meta_dir = os.path.join(root, "metadata", "BILLING_PERIOD=2026-11")
    os.makedirs(data_dir, exist_ok=True)
    os.makedirs(meta_dir, exist_ok=True)
    names = []
    for f in range(files):
        name = f"bench-{f + 1:05d}.snappy.parquet"
        pq.write_table(big, os.path.join(data_dir, name), compression="snappy",
                       row_group_size=128 * 1024)
        names.append(name)
    manifest = {"executionId": "bench", "dataFiles": [
        f"s3://bench/cur/bench/data/BILLING_PERIOD=2026-11/{n}" for n in names]}
    with open(os.path.join(meta_dir, "bench-Manifest.json"), "w") as fh:
        json.dump(manifest, fh)


# --- Azure Cost Management exports ---------------------------------------------------------
#
# SPEC: {"cloud": "azure", "dir": "/tmp/x", "container": "exports", "root": "costs",
#        "export": "llm-focus", "layout": "focus" | "focus-1.2" | "actual" | "amortized-mca",
#        "file_format": "parquet" | "csv.gz" | "csv",
#        "scope": "/providers/Microsoft.Billing/billingAccounts/1" (default /subscriptions/x),
#        "runs": [{"period": "2026-11", "run_id": "guid", "submitted": "2026-11-05T06:00:00Z",
#                  "files": [[AZ_ROW, ...], ...], "corrupt": [i], "drop_columns": ["..."],
#                  "missing_files": ["part_9_0001.csv.gz"], "legacy": false,
#                  "type": "FocusCost" (default from the layout)}]}
# AZ_ROW: {"start": "2026-11-03T05:00:00Z", "subscription": "guid", "cost": 1.5,
#          "currency": "USD", "meter": "gpt 4o 0513 Input global Tokens",
#          "category": "Foundry Models", "subcategory": "Azure OpenAI", "product": "...",
#          "resource": "/subscriptions/.../accounts/a", "charge": "Usage",
#          "tags": {"team": "support"}}
#
# Writes, as Cost Management does (microsoft/finops-toolkit docs-mslearn/toolkit/hubs/
# data-processing.md, "About exports"), `<dir>/<root>/<export>/<yyyyMMdd-yyyyMMdd>/
# <yyyyMMddHHmm>/<run_id>/part_<i>_0001.<ext>` and, last, `manifest.json` whose blobs are
# named by their path in the container; `legacy` writes the partitioned export's
# `_manifest.json` (manifestVersion 2021-01-01, no run information: MicrosoftDocs/azure-docs
# cost-management-billing/costs/tutorial-export-acm-data.md). Columns follow the Cost
# Management dataset schema (cost-usage-details-focus.md, cost-usage-details-ea.md): FOCUS
# 1.0 writes `x_SkuMeterName`, 1.2-preview `SkuMeter` too; FOCUS CSV dates have no seconds
# in 1.0 (`2026-11-03T00:00Z`); the actual (EA) CSV writes dates as `11/03/2026` and tags
# without braces.

AZ_TYPES = {"focus": "FocusCost", "focus-1.2": "FocusCost", "actual": "ActualCost",
            "amortized-mca": "AmortizedCost"}
AZ_VERSIONS = {"focus": "1.0", "focus-1.2": "1.2-preview", "actual": "2021-10-01",
               "amortized-mca": "2023-12-01-preview"}
# MCA's cost details write these in camelCase (cost-usage-details-mca.md); the rest as EA.
AZ_MCA_NAMES = {"Date": "date", "MeterCategory": "meterCategory",
                "MeterSubCategory": "meterSubCategory", "MeterName": "meterName",
                "CostInBillingCurrency": "costInBillingCurrency",
                "BillingCurrencyCode": "billingCurrency", "ChargeType": "chargeType",
                "Tags": "tags", "ConsumedService": "consumedService"}


def az_day(r):
    return ts(r["start"]).replace(hour=0, minute=0, second=0)


def az_focus_table(rows, v12):
    n = len(rows)
    day = [az_day(r) for r in rows]
    sub = [f"/subscriptions/{r['subscription']}" for r in rows]
    cost = [float(r["cost"]) for r in rows]
    cols = {
        "BilledCost": cost,
        "BillingAccountId": ["/providers/Microsoft.Billing/billingAccounts/1234"] * n,
        "BillingAccountName": ["Contoso"] * n,
        "BillingAccountType": ["Billing Account"] * n,
        "BillingCurrency": [r.get("currency", "USD") for r in rows],
        "BillingPeriodEnd": [d.replace(day=28) for d in day],
        "BillingPeriodStart": [d.replace(day=1) for d in day],
        "ChargeCategory": [r.get("charge", "Usage") for r in rows],
        "ChargeClass": [None] * n,
        "ChargeDescription": [r.get("product", "") for r in rows],
        "ChargeFrequency": ["Usage-Based"] * n,
        "ChargePeriodEnd": [d + dt.timedelta(days=1) for d in day],
        "ChargePeriodStart": day,
        "ConsumedQuantity": [1.0] * n,
        "ConsumedUnit": ["1K"] * n,
        "EffectiveCost": cost,
        "ListCost": cost,
        "PricingUnit": ["1K Tokens"] * n,
        "ProviderName": ["Microsoft"] * n,
        "PublisherName": ["Microsoft"] * n,
        "RegionId": ["eastus"] * n,
        "ResourceId": [r.get("resource", "") for r in rows],
        "ResourceType": ["Cognitive Services account"] * n,
        "ServiceCategory": ["AI and Machine Learning"] * n,
        "ServiceName": ["Azure OpenAI Service"] * n,
        "SubAccountId": sub,
        "SubAccountName": ["llm-prod"] * n,
        "Tags": [json.dumps(r.get("tags", {})) for r in rows],
        "x_BilledCostInUsd": cost,
        "x_PublisherCategory": [
            "Vendor" if "paygo" in r.get("meter", "") else "Cloud Provider" for r in rows
        ],
        "x_ResourceType": ["microsoft.cognitiveservices/accounts"] * n,
        "x_SkuMeterCategory": [r.get("category", "") for r in rows],
        "x_SkuMeterName": [r.get("meter", "") for r in rows],
        "x_SkuMeterSubcategory": [r.get("subcategory", "") for r in rows],
    }
    if v12:
        cols["SkuMeter"] = cols["x_SkuMeterName"]
    types = {
        "BillingPeriodEnd": pa.timestamp("ms", tz="UTC"),
        "BillingPeriodStart": pa.timestamp("ms", tz="UTC"),
        "ChargePeriodEnd": pa.timestamp("ms", tz="UTC"),
        "ChargePeriodStart": pa.timestamp("ms", tz="UTC"),
        "ChargeClass": pa.string(),
    }
    return pa.table({k: pa.array(v, type=types.get(k)) for k, v in cols.items()})


def az_actual_table(rows):
    n = len(rows)
    day = [az_day(r) for r in rows]
    cols = {
        "BillingAccountId": ["1234"] * n,
        "BillingAccountName": ["Contoso"] * n,
        "BillingPeriodStartDate": [d.replace(day=1).strftime("%m/%d/%Y") for d in day],
        "BillingPeriodEndDate": [d.replace(day=28).strftime("%m/%d/%Y") for d in day],
        "BillingProfileId": ["1234"] * n,
        "AccountName": ["llm"] * n,
        "SubscriptionId": [r["subscription"] for r in rows],
        "SubscriptionName": ["llm-prod"] * n,
        "Date": [d.strftime("%m/%d/%Y") for d in day],
        "Product": [r.get("product", "") for r in rows],
        "MeterId": ["00000000-0000-0000-0000-000000000000"] * n,
        "MeterCategory": [r.get("category", "") for r in rows],
        "MeterSubCategory": [r.get("subcategory", "") for r in rows],
        "MeterRegion": ["US East"] * n,
        "MeterName": [r.get("meter", "") for r in rows],
        "Quantity": [1.0] * n,
        "EffectivePrice": [float(r["cost"]) for r in rows],
        "CostInBillingCurrency": [float(r["cost"]) for r in rows],
        "UnitOfMeasure": ["1K"] * n,
        "ResourceLocation": ["eastus"] * n,
        "ConsumedService": ["Microsoft.CognitiveServices"] * n,
        "ResourceId": [r.get("resource", "") for r in rows],
        "AdditionalInfo": [""] * n,
        "Tags": [", ".join(f'"{k}": "{v}"' for k, v in r.get("tags", {}).items()) for r in rows],
        "ChargeType": [r.get("charge", "Usage") for r in rows],
        "PublisherType": ["Marketplace" if "paygo" in r.get("meter", "") else "Azure" for r in rows],
        "PublisherName": ["Microsoft"] * n,
        "ProductName": [r.get("product", "") for r in rows],
        "BillingCurrencyCode": [r.get("currency", "USD") for r in rows],
        "PricingModel": ["OnDemand"] * n,
    }
    return pa.table(cols)


def az_csv_bytes(table, layout):
    """CSV as Cost Management writes it: FOCUS 1.0 times without seconds."""
    out = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            fmt = "%Y-%m-%dT%H:%MZ" if layout == "focus" else "%Y-%m-%dT%H:%M:%SZ"
            out[name] = [v.strftime(fmt) if v is not None else "" for v in col.to_pylist()]
        else:
            out[name] = ["" if v is None else str(v) for v in col.to_pylist()]
    buf = io.BytesIO()
    pacsv.write_csv(pa.table(out), buf)
    return buf.getvalue()


def write_azure(spec):
    layout = spec["layout"]
    fmt = spec["file_format"]
    ext = {"parquet": "snappy.parquet", "csv.gz": "csv.gz", "csv": "csv"}[fmt]
    for run in spec["runs"]:
        y, m = (int(x) for x in run["period"].split("-"))
        first = dt.date(y, m, 1)
        last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        submitted = ts(run.get("submitted", f"{run['period']}-05T06:00:00Z"))
        rel = "/".join([spec["root"], spec["export"], f"{first:%Y%m%d}-{last:%Y%m%d}",
                        f"{submitted:%Y%m%d%H%M}", run["run_id"]])
        folder = os.path.join(spec["dir"], *rel.split("/"))
        os.makedirs(folder, exist_ok=True)
        names = []
        for i, rows in enumerate(run["files"]):
            name = f"part_{i}_0001.{ext}"
            names.append(name)
            path = os.path.join(folder, name)
            if i in run.get("corrupt", []):
                with open(path, "wb") as f:
                    f.write(b"PAR1 this is neither parquet nor csv \x00\x01" * 10)
                continue
            if layout == "actual":
                table = az_actual_table(rows)
            elif layout == "amortized-mca":
                table = az_actual_table(rows)
                table = table.rename_columns([AZ_MCA_NAMES.get(c, c) for c in table.column_names])
            else:
                table = az_focus_table(rows, layout == "focus-1.2")
            for c in run.get("drop_columns", []):
                table = table.drop_columns([c])
            if fmt == "parquet":
                pq.write_table(table, path, compression="snappy", row_group_size=4096)
            else:
                body = az_csv_bytes(table, layout)
                with open(path, "wb") as f:
                    f.write(gzip.compress(body) if fmt == "csv.gz" else body)
        names += run.get("missing_files", [])
        if run.get("legacy"):
            manifest = {
                "manifestVersion": "2021-01-01",
                "dataFormat": "csv",
                "blobCount": len(names),
                "blobs": [{"blobName": f"{rel}/{n}", "headerRowCount": 1} for n in names],
            }
            mname = "_manifest.json"
        else:
            manifest = {
                "blobCount": len(names),
                "exportConfig": {
                    "exportName": spec["export"],
                    "resourceId": spec.get("scope", "/subscriptions/x")
                    + "/providers/Microsoft.CostManagement/exports/" + spec["export"],
                    "dataVersion": AZ_VERSIONS[layout],
                    "apiVersion": "2023-07-01-preview",
                    "type": run.get("type", AZ_TYPES[layout]),
                    "timeFrame": "MonthToDate",
                    "granularity": "Daily",
                },
                "deliveryConfig": {
                    "partitionData": True,
                    "dataOverwriteBehavior": "CreateNewReport",
                    "fileFormat": "Parquet" if fmt == "parquet" else "Csv",
                    "containerUri": "/subscriptions/x/resourceGroups/rg/providers/"
                    "Microsoft.Storage/storageAccounts/acct",
                    "rootFolderPath": spec["root"],
                },
                "runInfo": {
                    "executionType": "Scheduled",
                    "submittedTime": submitted.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
                    "runId": run["run_id"],
                    "startDate": f"{first:%Y-%m-%d}T00:00:00",
                    "endDate": f"{last:%Y-%m-%d}T00:00:00",
                },
                "blobs": [{"blobName": f"{rel}/{n}", "byteCount": 1} for n in names],
            }
            mname = "manifest.json"
        with open(os.path.join(folder, mname), "w") as f:
            json.dump(manifest, f)


# Azurite's well-known development account (Azurite README, "Default storage account").
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")


def azurite_upload(url, container, local):
    """Creates `container` on the Azurite at `url` (http://host:port) and copies every file
    under `local` into it, blob names relative to `local`: data blobs first and manifests last,
    as Cost Management writes a run."""
    import pyarrow.fs as pafs

    authority = url.split("://", 1)[1].rstrip("/")
    az = pafs.AzureFileSystem(
        account_name=AZURITE_ACCOUNT, account_key=AZURITE_KEY,
        blob_storage_authority=authority, dfs_storage_authority=authority,
        blob_storage_scheme="http", dfs_storage_scheme="http")
    az.create_dir(container)
    files = []
    for d, _, names in os.walk(local):
        for n in names:
            files.append(os.path.relpath(os.path.join(d, n), local))
    files.sort(key=lambda f: (f.endswith("manifest.json"), f))
    for f in files:
        with open(os.path.join(local, f), "rb") as src, \
                az.open_output_stream(f"{container}/{f}", compression=None) as dst:
            dst.write(src.read())


# --- Google Cloud: the Cloud Billing export written to Cloud Storage by EXPORT DATA ---
#
# SPEC: {"cloud": "gcp", "dir": "/tmp/x", "prefix": "billing/gcp-standard",
#        "layout": "standard" | "detailed" | "focus",
#        "runs": [{"run": "20261102T060000Z", "complete": true, "files": [[ROW, ...], ...],
#                  "corrupt": [file index, ...], "drop_columns": {"file index": ["credits"]}}]}
# ROW: {"start": "2026-11-03T05:00:00Z", "project": "proj-a", "service": "Vertex AI",
#       "sku": "Gemini 2.5 Pro Text Input - Predictions", "cost": 1.5, "currency": "USD",
#       "credits": [-0.5], "labels": {"team": "support"}, "cost_type": "regular"}
#
# Each file's rows go to `<dir>/<prefix>/invoice_month=YYYYMM/run=<run>/part-<12 digits>.parquet`
# by their usage month; a complete run also gets `manifest-000000000000.json` there, as the
# scheduled query of docs/billing-reconciliation.md writes them. Columns, nesting and types follow "Structure of
# Standard data export" and "Structure of Detailed data export"
# (https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage,
# .../detailed-usage), "Structure of FOCUS data export" (.../focus-export) and Google's FOCUS
# BigQuery view template (credits folded into BilledCost, the project in x_Project), as BigQuery
# writes them to Parquet: RECORD -> group (struct), REPEATED RECORD -> list of structs, TIMESTAMP ->
# timestamp[us, UTC], NUMERIC -> decimal(38, 9) (BigQuery "Parquet export details").

KV = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
GCP_TS = pa.timestamp("us", tz="UTC")


def gcp_ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def gcp_standard_table(rows, detailed=False):
    start = [gcp_ts(r["start"]) for r in rows]
    kv = lambda d: [{"key": k, "value": v} for k, v in d.items()]
    cols = [
        ("billing_account_id", pa.string(), ["010101-F0FFF0-61C528"] * len(rows)),
        ("service", pa.struct([("id", pa.string()), ("description", pa.string())]),
         [{"id": "C7E2-9256-1C43", "description": r.get("service", "Vertex AI")} for r in rows]),
        ("sku", pa.struct([("id", pa.string()), ("description", pa.string())]),
         [{"id": "A1B2-C3D4-E5F6", "description": r.get("sku", "")} for r in rows]),
        ("usage_start_time", GCP_TS, start),
        ("usage_end_time", GCP_TS, [s + dt.timedelta(hours=1) for s in start]),
        ("project", pa.struct([
            ("id", pa.string()), ("number", pa.string()), ("name", pa.string()),
            ("labels", KV), ("ancestry_numbers", pa.string()),
            ("ancestors", pa.list_(pa.struct([("resource_name", pa.string()),
                                              ("display_name", pa.string())])))]),
         [None if r.get("project") is None else {
             "id": r["project"], "number": "123456789012", "name": r["project"],
             "labels": kv(r.get("project_labels", {})), "ancestry_numbers": "/1234/",
             "ancestors": [{"resource_name": "organizations/1234", "display_name": "org"}]}
          for r in rows]),
        ("labels", KV, [kv(r.get("labels", {})) for r in rows]),
        ("system_labels", KV, [[] for _ in rows]),
        ("location", pa.struct([("location", pa.string()), ("country", pa.string()),
                                ("region", pa.string()), ("zone", pa.string())]),
         [{"location": "us-central1", "country": "US", "region": "us-central1", "zone": None}
          for _ in rows]),
        ("export_time", GCP_TS, [s + dt.timedelta(hours=5) for s in start]),
        ("cost", pa.float64(), [float(r["cost"]) for r in rows]),
        ("currency", pa.string(), [r.get("currency", "USD") for r in rows]),
        ("currency_conversion_rate", pa.float64(), [1.0] * len(rows)),
        ("usage", pa.struct([("amount", pa.float64()), ("unit", pa.string()),
                             ("amount_in_pricing_units", pa.float64()),
                             ("pricing_unit", pa.string())]),
         [{"amount": 1e6, "unit": "count", "amount_in_pricing_units": 1.0,
           "pricing_unit": "count"} for _ in rows]),
        ("credits", pa.list_(pa.struct([("name", pa.string()), ("amount", pa.float64()),
                                        ("full_name", pa.string()), ("id", pa.string()),
                                        ("type", pa.string())])),
         [[{"name": "Free tier", "amount": float(a), "full_name": None, "id": "free",
            "type": "FREE_TIER"} for a in r.get("credits", [])] for r in rows]),
        ("invoice", pa.struct([("month", pa.string()), ("publisher_type", pa.string())]),
         [{"month": s.strftime("%Y%m"), "publisher_type": "Google"} for s in start]),
        ("cost_type", pa.string(), [r.get("cost_type", "regular") for r in rows]),
        ("adjustment_info", pa.struct([("id", pa.string()), ("description", pa.string()),
                                       ("mode", pa.string()), ("type", pa.string())]),
         [None] * len(rows)),
        ("cost_at_list", pa.float64(), [float(r["cost"]) for r in rows]),
        ("transaction_type", pa.string(), ["GOOGLE"] * len(rows)),
        ("seller_name", pa.string(), ["Google"] * len(rows)),
    ]
    if detailed:
        cols.append(("resource", pa.struct([("name", pa.string()), ("global_name", pa.string())]),
                     [{"name": "projects/x/locations/us-central1/publishers/google/models/m",
                       "global_name": None} for _ in rows]))
    return pa.table({n: pa.array(v, type=t) for n, t, v in cols})


def gcp_focus_table(rows):
    """FOCUS rows as Google's FOCUS view shapes them: BilledCost = cost + the credits,
    ChargeCategory `usage`/`tax`, SubAccountId the billing account, the project in x_Project."""
    start = [gcp_ts(r["start"]) for r in rows]
    net = [float(r["cost"]) + sum(r.get("credits", [])) for r in rows]
    money = lambda v: [decimal.Decimal(str(x)).quantize(decimal.Decimal("1e-9")) for x in v]
    kv = lambda d: [{"key": k, "value": v} for k, v in d.items()]
    cols = [
        ("BilledCost", pa.decimal128(38, 9), money(net)),
        ("BillingAccountId", pa.string(), ["010101-F0FFF0-61C528"] * len(rows)),
        ("BillingCurrency", pa.string(), [r.get("currency", "USD") for r in rows]),
        ("BillingPeriodStart", GCP_TS, [s.replace(day=1, hour=0) for s in start]),
        ("ChargeCategory", pa.string(),
         ["tax" if r.get("cost_type") == "tax" else "usage" for r in rows]),
        ("ChargeClass", pa.string(), [None] * len(rows)),
        ("ChargeDescription", pa.string(), [r.get("sku", "") for r in rows]),
        ("ChargePeriodStart", GCP_TS, start),
        ("ChargePeriodEnd", GCP_TS, [s + dt.timedelta(hours=1) for s in start]),
        ("EffectiveCost", pa.decimal128(38, 9), money(net)),
        ("ListCost", pa.decimal128(38, 9), money(float(r["cost"]) for r in rows)),
        ("ProviderName", pa.string(), ["Google Cloud"] * len(rows)),
        ("PublisherName", pa.string(), ["Google Cloud"] * len(rows)),
        ("ServiceCategory", pa.string(), ["AI and Machine Learning"] * len(rows)),
        ("ServiceName", pa.string(), [r.get("service", "Vertex AI") for r in rows]),
        ("SkuId", pa.string(), ["A1B2-C3D4-E5F6"] * len(rows)),
        ("SubAccountId", pa.string(), ["010101-F0FFF0-61C528"] * len(rows)),
        ("Tags", KV, [kv(r.get("labels", {})) for r in rows]),
        ("x_Credits", pa.list_(pa.struct([("Name", pa.string()), ("Amount", pa.decimal128(38, 9))])),
         [[{"Name": "Free tier", "Amount": decimal.Decimal(str(a))} for a in r.get("credits", [])]
          for r in rows]),
        ("x_CostType", pa.string(), [r.get("cost_type", "regular") for r in rows]),
        ("x_Project", pa.struct([("id", pa.string()), ("number", pa.string()),
                                 ("name", pa.string())]),
         [None if r.get("project") is None else
          {"id": r["project"], "number": "123456789012", "name": r["project"]} for r in rows]),
        ("x_ServiceId", pa.string(), ["C7E2-9256-1C43"] * len(rows)),
    ]
    return pa.table({n: pa.array(v, type=t) for n, t, v in cols})


def write_gcp(spec):
    root = os.path.join(spec["dir"], spec["prefix"])
    layout = spec.get("layout", "standard")
    for run in spec["runs"]:
        folders = set()
        for i, rows in enumerate(run["files"]):
            by_month = {}
            for r in rows:
                by_month.setdefault(gcp_ts(r["start"]).strftime("%Y%m"), []).append(r)
            for month, month_rows in by_month.items():
                folder = os.path.join(root, f"invoice_month={month}", f"run={run['run']}")
                os.makedirs(folder, exist_ok=True)
                folders.add(folder)
                path = os.path.join(folder, f"part-{i:012d}.parquet")
                if i in run.get("corrupt", []):
                    with open(path, "wb") as f:
                        f.write(b"PAR1 not what EXPORT DATA writes \x00\x01" * 10)
                    continue
                if layout == "focus":
                    table = gcp_focus_table(month_rows)
                else:
                    table = gcp_standard_table(month_rows, detailed=layout == "detailed")
                for c in run.get("drop_columns", {}).get(str(i), []):
                    table = table.drop_columns([c])
                pq.write_table(table, path, compression="snappy", row_group_size=4096)
        if run.get("complete", True):
            for folder in folders:
                month = folder.split("invoice_month=")[1][:6]
                with open(os.path.join(folder, "manifest-000000000000.json"), "w") as f:
                    f.write(json.dumps({"invoice_month": month, "run": run["run"]}) + "\n")


def gcp_bench(out, rows, files):
    """A standard-table export of `rows` rows in `files` files of one complete run (1 in 20
    rows Vertex AI, the rest Compute Engine and Cloud Storage): a block of 100,000 rows, repeated."""
    rnd = random.Random(7)
    block = 100_000
    skus = ["Gemini 2.5 Pro Text Input - Predictions", "Gemini 2.5 Flash Text Output - Predictions",
            "Gemini 2.5 Pro Input Text Caching"]
    chunk = []
    for i in range(block):
        vertex = rnd.random() < 0.05
        chunk.append({
            "start": f"2026-11-{1 + (i * 30) // block:02d}T{i % 24:02d}:00:00Z",
            "project": f"proj-{rnd.randrange(20)}",
            "service": "Vertex AI" if vertex else rnd.choice(["Compute Engine", "Cloud Storage"]),
            "sku": rnd.choice(skus) if vertex else "N1 Predefined Instance Core running in Americas",
            "cost": round(rnd.random(), 6),
            "credits": [-0.01] if rnd.random() < 0.3 else [],
            "labels": {"team": rnd.choice(["search", "support"])},
        })
    table = gcp_standard_table(chunk, detailed=True)
    big = pa.concat_tables([table] * max(1, (rows // files) // block))
    folder = os.path.join(out, "gcp-bench", "invoice_month=202611", "run=20261201T000000Z")
    os.makedirs(folder, exist_ok=True)
    for f in range(files):
        pq.write_table(big, os.path.join(folder, f"part-{f:012d}.parquet"),
                       compression="snappy", row_group_size=128 * 1024)
    with open(os.path.join(folder, "manifest-000000000000.json"), "w") as fh:
        fh.write(json.dumps({"invoice_month": "202611"}) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "--bench":
        bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "--azurite-upload":
        azurite_upload(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "--gcp-bench":
        gcp_bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        with open(sys.argv[1]) as f:
            spec = json.load(f)
        writers = {"azure": write_azure, "gcp": write_gcp}
        writers.get(spec.get("cloud"), write)(spec)
