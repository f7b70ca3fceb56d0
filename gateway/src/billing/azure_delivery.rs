//! Which blobs of an Azure Cost Management export to read: the newest complete run of each
//! billing month, as its manifest lists them. The folder layout is not relied on.
//!
//! Exports write `{container}/{path}/{export-name}/{date-range}/{export-time}/{guid}/` with the
//! data blobs and, once they are all written, a `manifest.json` (microsoft/finops-toolkit
//! `docs-mslearn/toolkit/hubs/data-processing.md`, "About exports": `exportConfig{exportName,
//! type, dataVersion}`, `deliveryConfig`, `runInfo{runId, submittedTime, startDate, endDate}`,
//! `blobs[{blobName, byteCount}]`, `blobName` the blob's path in the container; "FinOps hubs
//! utilize the manifest file to identify the scope, dataset, month"). Partitioned exports of
//! the earlier API write `_manifest.json` (`manifestVersion` "2021-01-01", `blobs[{blobName,
//! byteCount, dataRowCount}]`, no run information: MicrosoftDocs/azure-docs
//! `articles/cost-management-billing/costs/tutorial-export-acm-data.md`, "Partitioning
//! output"); their month is the `yyyyMMdd-yyyyMMdd` folder. With "overwrite data" each run
//! rewrites the month's files and manifest; without it each run is a new folder: the run
//! submitted last (then the manifest written last) is the month's bill. A run is complete
//! once its manifest is there. Runs are told apart by export (`exportConfig.resourceId`, its
//! scope and name), so one folder may hold the exports of several subscriptions.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde::Deserialize;

use super::aws_delivery::Version;
use super::azure_overlap::Claim;
use super::read::short;

/// Manifests larger than this are not Cost Management manifests.
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    export_config: Option<ExportConfig>,
    #[serde(default)]
    run_info: Option<RunInfo>,
    #[serde(default)]
    blobs: Vec<Blob>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ExportConfig {
    #[serde(default)]
    export_name: Option<String>,
    /// `/<scope>/providers/Microsoft.CostManagement/exports/<name>`: one export of one scope.
    #[serde(default)]
    resource_id: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    data_version: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RunInfo {
    #[serde(default)]
    start_date: Option<String>,
    #[serde(default)]
    submitted_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Blob {
    blob_name: String,
}

fn is_manifest(p: &Path) -> bool {
    matches!(p.filename(), Some("manifest.json" | "_manifest.json"))
}

/// `20261101-20261130` in the manifest's path -> `2026-11`.
fn period_of_folder(path: &Path) -> Option<String> {
    path.parts().find_map(|p| {
        let s = p.as_ref();
        let (a, b) = s.split_once('-')?;
        let ok =
            a.len() == 8 && b.len() == 8 && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit());
        ok.then(|| format!("{}-{}", &a[..4], &a[4..6]))
    })
}

/// `2026-11-01T00:00:00` -> `2026-11`.
fn period_of_date(s: &str) -> Option<String> {
    let p = s.trim().get(..7)?;
    let ok = p.as_bytes()[4] == b'-'
        && p.chars()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit());
    ok.then(|| p.to_string())
}

struct Run {
    /// Which month of which export the run is, and how it orders against the others: the
    /// runs of each month of one export replace each other.
    claim: Claim,
    id: String,
    files: Vec<Path>,
}

/// The newest run of each month and export under `root`, what the overlap rule needs to know
/// of each, and the manifests that could not be used.
pub async fn newest_runs(
    store: &dyn ObjectStore,
    root: &Path,
    dataset: &str,
) -> Result<(Vec<Version>, Vec<Claim>, Vec<String>), String> {
    let listed: Vec<ObjectMeta> = store
        .list(Some(root))
        .try_filter(|m| futures::future::ready(is_manifest(&m.location)))
        .try_collect()
        .await
        .map_err(|e| format!("listing {root}/: {}", short(&e.to_string())))?;
    if listed.is_empty() {
        return Err(format!(
            "no manifest.json or _manifest.json under {root}/: the export has run no time yet, or the url is not the export's folder"
        ));
    }
    let mut newest: BTreeMap<(String, String), Run> = BTreeMap::new();
    let mut errors = Vec::new();
    for meta in listed {
        match read_run(store, &meta, dataset).await {
            Ok(run) => {
                let key = (run.claim.export.clone(), run.claim.period.clone());
                let newer = newest
                    .get(&key)
                    .is_none_or(|o| run.claim.order > o.claim.order);
                if newer {
                    newest.insert(key, run);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    let claims = newest.values().map(|r| r.claim.clone()).collect();
    let versions = newest
        .into_values()
        .map(|r| Version {
            period: r.claim.period,
            id: r.id,
            files: r.files,
        })
        .collect();
    Ok((versions, claims, errors))
}

async fn read_run(
    store: &dyn ObjectStore,
    meta: &ObjectMeta,
    dataset: &str,
) -> Result<Run, String> {
    let path = &meta.location;
    if meta.size > MAX_MANIFEST_BYTES {
        return Err(format!(
            "{path}: {} bytes: not an export manifest",
            meta.size
        ));
    }
    let bytes = store
        .get(path)
        .await
        .map_err(|e| format!("{path}: {}", short(&e.to_string())))?
        .bytes()
        .await
        .map_err(|e| format!("{path}: {}", short(&e.to_string())))?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{path}: not a Cost Management export manifest: {e}"))?;
    let config = m.export_config.unwrap_or_default();
    if let Some(kind) = config.kind.as_deref() {
        if !kind.eq_ignore_ascii_case(dataset) {
            return Err(format!(
                "{path}: exportConfig.type is {kind:?} (dataVersion {:?}), but this entry's format reads {dataset}: not read",
                config.data_version.as_deref().unwrap_or_default()
            ));
        }
    }
    let run = m.run_info.unwrap_or_default();
    let period = run
        .start_date
        .as_deref()
        .and_then(period_of_date)
        .or_else(|| period_of_folder(path))
        .ok_or_else(|| {
            format!("{path}: no runInfo.startDate and no yyyyMMdd-yyyyMMdd folder: its month is unknown")
        })?;
    if m.blobs.is_empty() {
        return Err(format!("{path}: blobs is empty"));
    }
    let dir = Path::from_iter(path.parts().take(path.parts().count().saturating_sub(1)));
    let files = m
        .blobs
        .iter()
        .map(|b| blob_path(&dir, &b.blob_name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{path}: {e}"))?;
    let written = meta.last_modified.timestamp_millis();
    let name = config.export_name.unwrap_or_default();
    Ok(Run {
        // Exports of several scopes may share a folder: each is read, and `azure_overlap`
        // counts a subscription's month from one of them.
        claim: Claim {
            period: if name.is_empty() {
                period.clone()
            } else {
                format!("{period} {name}")
            },
            month: period,
            export: config.resource_id.unwrap_or(name),
            order: (
                run.submitted_time.unwrap_or_default(),
                written,
                path.to_string(),
            ),
        },
        id: format!("{path}@{written}"),
        files,
    })
}

/// A manifest's `blobName` as a path of this store. `blobName` is the blob's path in its
/// container (or, in the legacy example, a bare name beside the manifest); the gateway's URL
/// may name a folder inside the container, or a local copy of it elsewhere: the blob is
/// found where its path meets the manifest's own folder.
fn blob_path(manifest_dir: &Path, blob_name: &str) -> Result<Path, String> {
    let name = match blob_name.split_once("://") {
        // `https://<account>.blob.core.windows.net/<container>/<path>`
        Some((_, rest)) => rest.splitn(3, '/').nth(2).unwrap_or(""),
        None => blob_name,
    };
    let parts: Vec<&str> = name.split('/').filter(|s| !s.is_empty()).collect();
    if parts.is_empty() || parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(format!(
            "blob name {:?} is not a blob path",
            short(blob_name)
        ));
    }
    let dir: Vec<String> = manifest_dir
        .parts()
        .map(|p| p.as_ref().to_string())
        .collect();
    let joined = |prefix: &[String], tail: &[&str]| {
        Path::from_iter(
            prefix
                .iter()
                .map(String::as_str)
                .chain(tail.iter().copied()),
        )
    };
    if parts.len() == 1 {
        return Ok(joined(&dir, &parts));
    }
    // The earliest folder from which the manifest's folder reads as the blob's own path.
    for start in 0..dir.len() {
        let rest = &dir[start..];
        if rest.len() < parts.len() && rest.iter().zip(&parts).all(|(a, b)| a == b) {
            return Ok(joined(&dir[..start], &parts));
        }
    }
    // A blob in another folder of the same export: from where its first folder appears.
    if let Some(start) = dir.iter().position(|d| d == parts[0]) {
        return Ok(joined(&dir[..start], &parts));
    }
    Ok(joined(&[], &parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_from_run_info_or_folder() {
        assert_eq!(
            period_of_date("2026-11-01T00:00:00").as_deref(),
            Some("2026-11")
        );
        assert_eq!(period_of_date("11/01/2026"), None);
        let p = Path::from("costs/llm/20261101-20261130/202611050600/abc/_manifest.json");
        assert_eq!(period_of_folder(&p).as_deref(), Some("2026-11"));
        assert_eq!(
            period_of_folder(&Path::from("costs/llm/x/manifest.json")),
            None
        );
    }

    fn manifest(export: &str, kind: &str, submitted: &str, blob: &str) -> String {
        serde_json::json!({
            "exportConfig": {"exportName": export, "type": kind, "dataVersion": "1.0",
                "resourceId": format!("/subscriptions/s/providers/Microsoft.CostManagement/exports/{export}")},
            "runInfo": {"runId": "r", "submittedTime": submitted, "startDate": "2026-11-01T00:00:00"},
            "blobs": [{"blobName": blob}]})
        .to_string()
    }

    #[tokio::test]
    async fn the_newest_run_of_each_month_and_export_is_read() {
        let store = object_store::memory::InMemory::new();
        let put = |p: &str, body: String| {
            let store = &store;
            let p = Path::from(p);
            async move { store.put(&p, body.into()).await.unwrap() }
        };
        let d = "exports/costs/focus/20261101-20261130";
        put(
            &format!("{d}/202611050600/a/manifest.json"),
            manifest(
                "focus",
                "FocusCost",
                "2026-11-05T06:00:00Z",
                "exports/costs/focus/20261101-20261130/202611050600/a/part_0_0001.parquet",
            ),
        )
        .await;
        // A later run of the same month, written to an earlier-sorting folder.
        put(
            &format!("{d}/000000000000/b/manifest.json"),
            manifest(
                "focus",
                "FocusCost",
                "2026-11-09T06:00:00Z",
                "part_0_0001.parquet",
            ),
        )
        .await;
        // Another subscription's export in the same folder; an amortized export beside it.
        put(
            &format!("{d}/202611050600/c/manifest.json"),
            manifest(
                "focus-sub2",
                "FocusCost",
                "2026-11-02T06:00:00Z",
                "part_0_0001.parquet",
            ),
        )
        .await;
        put(
            &format!("{d}/202611050600/e/manifest.json"),
            manifest(
                "amortized",
                "AmortizedCost",
                "2026-11-09T06:00:00Z",
                "x.csv",
            ),
        )
        .await;
        put(
            "exports/costs/focus/20261001-20261031/r/_manifest.json",
            r#"{"manifestVersion": "2021-01-01", "blobs": [{"blobName": "part_1.csv"}]}"#.into(),
        )
        .await;
        put("exports/costs/focus/x/manifest.json", "not json".into()).await;
        let (runs, claims, errors) =
            newest_runs(&store, &Path::from("exports/costs/focus"), "FocusCost")
                .await
                .unwrap();
        let got: Vec<(String, Vec<String>)> = runs
            .iter()
            .map(|v| {
                (
                    v.period.clone(),
                    v.files.iter().map(|f| f.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "2026-10".to_string(),
                    vec!["exports/costs/focus/20261001-20261031/r/part_1.csv".to_string()]
                ),
                (
                    "2026-11 focus".to_string(),
                    vec![format!("{d}/000000000000/b/part_0_0001.parquet")]
                ),
                (
                    "2026-11 focus-sub2".to_string(),
                    vec![format!("{d}/202611050600/c/part_0_0001.parquet")]
                ),
            ]
        );
        // What the overlap rule sees of each run: its month, export and submitted time.
        let seen: Vec<(&str, &str, &str)> = claims
            .iter()
            .map(|c| (c.period.as_str(), c.month.as_str(), c.order.0.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("2026-10", "2026-10", ""),
                ("2026-11 focus", "2026-11", "2026-11-09T06:00:00Z"),
                ("2026-11 focus-sub2", "2026-11", "2026-11-02T06:00:00Z"),
            ]
        );
        assert!(claims[1].export.ends_with("/exports/focus"), "{claims:?}");
        let errors = errors.join("\n");
        assert!(
            errors.contains("/e/manifest.json") && errors.contains("AmortizedCost"),
            "{errors}"
        );
        assert!(
            errors.contains("x/manifest.json: not a Cost Management export manifest"),
            "{errors}"
        );
        let empty = newest_runs(&store, &Path::from("elsewhere"), "FocusCost").await;
        assert!(empty.unwrap_err().contains("no manifest.json"));
    }

    #[test]
    fn blob_names_meet_the_manifests_folder() {
        let dir = Path::from("costs/llm/20261101-20261130/202611050600/abc");
        let got = |n: &str| blob_path(&dir, n).map(|p| p.to_string());
        let want = "costs/llm/20261101-20261130/202611050600/abc/part_0_0001.csv.gz";
        assert_eq!(
            got("costs/llm/20261101-20261130/202611050600/abc/part_0_0001.csv.gz").unwrap(),
            want
        );
        assert_eq!(got("part_0_0001.csv.gz").unwrap(), want);
        assert_eq!(
            got("https://acct.blob.core.windows.net/exports/costs/llm/20261101-20261130/202611050600/abc/part_0_0001.csv.gz").unwrap(),
            want
        );
        // A local copy: the manifest lies under /tmp/copy, the blob path is the container's.
        let copy = Path::from("tmp/copy/costs/llm/20261101-20261130/202611050600/abc");
        assert_eq!(
            blob_path(
                &copy,
                "costs/llm/20261101-20261130/202611050600/abc/p.parquet"
            )
            .unwrap()
            .to_string(),
            "tmp/copy/costs/llm/20261101-20261130/202611050600/abc/p.parquet"
        );
        assert!(got("../../etc/passwd").is_err());
        assert!(got("").is_err());
    }
}
