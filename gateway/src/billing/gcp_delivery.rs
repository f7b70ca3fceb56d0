//! Which files of a Google Cloud Billing export to read: the newest complete run of each
//! invoice month.
//!
//! The Cloud Billing export lives in BigQuery; a scheduled query copies it to Cloud Storage
//! with `EXPORT DATA` (https://cloud.google.com/bigquery/docs/reference/standard-sql/export-statements),
//! one statement per invoice month and run, under
//! `<prefix>/invoice_month=YYYYMM/run=<run time, %Y%m%dT%H%M%SZ>/part-*.parquet`, and after the
//! data a one-line `manifest-*.json` in the same folder (the README shows the query).
//! `EXPORT DATA` writes no marker of its own and a failed or running export leaves some of its
//! files behind, so a run counts only once its manifest is there: the statements of a
//! BigQuery script run one after the other and a failed statement ends the script
//! (https://cloud.google.com/bigquery/docs/reference/standard-sql/scripting). Run folders
//! sort by time, so the newest complete run of a month is the last one with a manifest.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use super::aws_delivery::Version;
use super::read::short;

const MONTH_KEY: &str = "invoice_month=";
const RUN_KEY: &str = "run=";
const MANIFEST_PREFIX: &str = "manifest-";

#[derive(Default)]
struct Run {
    files: Vec<Path>,
    manifest: Option<ObjectMeta>,
}

/// `invoice_month=202611` -> `2026-11`.
fn month_of(part: &str) -> Option<String> {
    let v = part.strip_prefix(MONTH_KEY)?;
    let ok = v.len() == 6 && v.chars().all(|c| c.is_ascii_digit());
    ok.then(|| format!("{}-{}", &v[..4], &v[4..]))
}

/// The newest complete run of each invoice month under `root`, and why a month has none.
pub async fn newest_versions(
    store: &dyn ObjectStore,
    root: &Path,
) -> Result<(Vec<Version>, Vec<String>), String> {
    let listed: Vec<ObjectMeta> = store
        .list(Some(root))
        .try_collect()
        .await
        .map_err(|e| format!("listing {root}/: {}", short(&e.to_string())))?;
    let depth = root.parts().count();
    // month -> run -> what the run folder holds
    let mut months: BTreeMap<String, BTreeMap<String, Run>> = BTreeMap::new();
    for m in listed {
        let parts: Vec<String> = m
            .location
            .parts()
            .skip(depth)
            .map(|p| p.as_ref().to_string())
            .collect();
        let [month, run, name] = &parts[..] else {
            continue;
        };
        let (Some(month), Some(run)) = (month_of(month), run.strip_prefix(RUN_KEY)) else {
            continue;
        };
        let r = months
            .entry(month)
            .or_default()
            .entry(run.to_string())
            .or_default();
        let lower = name.to_ascii_lowercase();
        if lower.starts_with(MANIFEST_PREFIX) && lower.ends_with(".json") {
            r.manifest = Some(m);
        } else if lower.ends_with(".parquet") {
            r.files.push(m.location);
        }
    }
    if months.is_empty() {
        return Err(format!(
            "nothing under {root}/ in the layout invoice_month=YYYYMM/run=<time>/: the scheduled query has not run yet, or the url is not its folder"
        ));
    }
    let mut versions = Vec::new();
    let mut errors = Vec::new();
    for (period, runs) in months {
        let complete = runs.into_iter().rev().find(|(_, r)| r.manifest.is_some());
        let Some((run, mut r)) = complete else {
            errors.push(format!(
                "{root}/{MONTH_KEY}{}: no complete run (no {MANIFEST_PREFIX}*.json written after the data): not read",
                period.replace('-', "")
            ));
            continue;
        };
        if r.files.is_empty() {
            errors.push(format!(
                "{root}/{MONTH_KEY}{}/{RUN_KEY}{run}: a manifest but no .parquet file: not read",
                period.replace('-', "")
            ));
            continue;
        }
        r.files.sort();
        let manifest = r
            .manifest
            .as_ref()
            .map_or(0, |m| m.last_modified.timestamp_millis());
        versions.push(Version {
            id: format!("{period}/{run}@{manifest}"),
            period,
            files: r.files,
        });
    }
    Ok((versions, errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

    #[tokio::test]
    async fn the_newest_run_with_a_manifest_is_read() {
        let store = InMemory::new();
        for key in [
            "b/gcp/invoice_month=202610/run=20261101T060000Z/part-000000000000.parquet",
            "b/gcp/invoice_month=202610/run=20261101T060000Z/manifest-000000000000.json",
            "b/gcp/invoice_month=202611/run=20261102T060000Z/part-000000000000.parquet",
            "b/gcp/invoice_month=202611/run=20261102T060000Z/part-000000000001.parquet",
            "b/gcp/invoice_month=202611/run=20261102T060000Z/manifest-000000000000.json",
            // Still being written: no manifest yet.
            "b/gcp/invoice_month=202611/run=20261103T060000Z/part-000000000000.parquet",
            // Failed before its manifest, and nothing complete for that month.
            "b/gcp/invoice_month=202612/run=20261203T060000Z/part-000000000000.parquet",
            "b/gcp/notes.txt",
        ] {
            store
                .put(&Path::from(key), PutPayload::from_static(b"x"))
                .await
                .unwrap();
        }
        let (versions, errors) = newest_versions(&store, &Path::from("b/gcp")).await.unwrap();
        let got: Vec<(String, usize)> = versions
            .iter()
            .map(|v| (v.period.clone(), v.files.len()))
            .collect();
        assert_eq!(got, [("2026-10".into(), 1), ("2026-11".into(), 2)]);
        assert!(versions[1].id.contains("20261102T060000Z"));
        assert!(versions[1]
            .files
            .iter()
            .all(|f| f.as_ref().contains("run=20261102T060000Z")));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("invoice_month=202612"), "{errors:?}");
        let e = newest_versions(&store, &Path::from("elsewhere"))
            .await
            .unwrap_err();
        assert!(e.contains("invoice_month=YYYYMM"), "{e}");
    }
}
