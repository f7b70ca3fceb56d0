//! Which files of an AWS Data Export to read: the newest complete version of each billing
//! period, as its manifest lists them.
//!
//! Layout (AWS Data Exports user guide, "Understanding export delivery",
//! https://docs.aws.amazon.com/cur/latest/userguide/dataexports-export-delivery.html):
//! data under `<prefix>/<export-name>/data/<partition>/`, the partition of CUR 2.0 being
//! `BILLING_PERIOD=YYYY-MM`; the manifest at
//! `<prefix>/<export-name>/metadata/<partition>/<export-name>-Manifest.json`, delivered only
//! after all data files and rewritten on each refresh; with "create new export file" each
//! delivery is a new version under its `executionId`. The manifest's `dataFiles` lists the
//! full S3 URIs of the data files ("Data Exports manifest file reference",
//! https://docs.aws.amazon.com/cur/latest/userguide/dataexports-manifest.html). The gateway's
//! URL is the export's own folder, `s3://<bucket>/<prefix>/<export-name>/`.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde::Deserialize;

use super::read::short;

/// One delivered version of one billing period.
#[derive(Debug, Clone)]
pub struct Version {
    /// `2026-11`.
    pub period: String,
    /// The manifest path and its modification time: changes when AWS delivers again.
    pub id: String,
    pub files: Vec<Path>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    data_files: Vec<String>,
}

/// `BILLING_PERIOD=2026-11` (or any `KEY=YYYY-MM` partition) -> `2026-11`.
fn period_of(path: &Path) -> Option<String> {
    path.parts().find_map(|p| {
        let (_, v) = p.as_ref().split_once('=')?;
        let ok = v.len() == 7
            && v.as_bytes()[4] == b'-'
            && v.chars()
                .enumerate()
                .all(|(i, c)| i == 4 || c.is_ascii_digit());
        ok.then(|| v.to_string())
    })
}

/// The newest manifest of each period under `<root>/metadata/`.
pub async fn newest_versions(
    store: &dyn ObjectStore,
    root: &Path,
) -> Result<(Vec<Version>, Vec<String>), String> {
    let metadata = root.clone().join("metadata");
    let listed: Vec<ObjectMeta> = store
        .list(Some(&metadata))
        .try_collect()
        .await
        .map_err(|e| format!("listing {metadata}/: {}", short(&e.to_string())))?;
    let mut newest: BTreeMap<String, ObjectMeta> = BTreeMap::new();
    for m in listed {
        if !m.location.as_ref().ends_with("Manifest.json") {
            continue;
        }
        let Some(period) = period_of(&m.location) else {
            continue;
        };
        let newer = newest.get(&period).is_none_or(|o| {
            (m.last_modified, m.location.as_ref()) > (o.last_modified, o.location.as_ref())
        });
        if newer {
            newest.insert(period, m);
        }
    }
    if newest.is_empty() {
        return Err(format!(
            "no manifest under {metadata}/: the export has delivered nothing yet, or the url is not the export's folder (s3://bucket/prefix/export-name/)"
        ));
    }
    let mut versions = Vec::new();
    let mut errors = Vec::new();
    for (period, meta) in newest {
        match read_manifest(store, root, &meta.location).await {
            Ok(files) => versions.push(Version {
                period,
                id: format!(
                    "{}@{}",
                    meta.location,
                    meta.last_modified.timestamp_millis()
                ),
                files,
            }),
            Err(e) => errors.push(e),
        }
    }
    Ok((versions, errors))
}

async fn read_manifest(
    store: &dyn ObjectStore,
    root: &Path,
    manifest: &Path,
) -> Result<Vec<Path>, String> {
    let bytes = store
        .get(manifest)
        .await
        .map_err(|e| format!("{manifest}: {}", short(&e.to_string())))?
        .bytes()
        .await
        .map_err(|e| format!("{manifest}: {}", short(&e.to_string())))?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{manifest}: not a Data Exports manifest: {e}"))?;
    if m.data_files.is_empty() {
        return Err(format!("{manifest}: dataFiles is empty"));
    }
    m.data_files
        .iter()
        .map(|uri| {
            data_path(root, uri).ok_or_else(|| {
                format!(
                    "{manifest}: dataFiles entry {:?} is not under data/",
                    short(uri)
                )
            })
        })
        .collect()
}

/// A manifest's `s3://bucket/prefix/export/data/...` URI as a path of this store: the part
/// from `data/` on, under the configured export folder (so a copy elsewhere, or an
/// emulator's bucket, reads the same manifest).
fn data_path(root: &Path, uri: &str) -> Option<Path> {
    let key = uri.split_once("://").map_or(uri, |(_, r)| r);
    let idx = key.find("/data/")?;
    let tail = &key[idx + 1..];
    let mut p = root.clone();
    for part in tail.split('/').filter(|s| !s.is_empty()) {
        p = p.join(part);
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_data_paths() {
        let p = Path::from("cur/exp/metadata/BILLING_PERIOD=2026-11/exp-Manifest.json");
        assert_eq!(period_of(&p).as_deref(), Some("2026-11"));
        assert_eq!(
            period_of(&Path::from("cur/exp/metadata/x/exp-Manifest.json")),
            None
        );
        let root = Path::from("copy/exp");
        assert_eq!(
            data_path(
                &root,
                "s3://bucket/cur/exp/data/BILLING_PERIOD=2026-11/exp-00001.snappy.parquet"
            )
            .unwrap()
            .as_ref(),
            "copy/exp/data/BILLING_PERIOD=2026-11/exp-00001.snappy.parquet"
        );
        assert_eq!(data_path(&root, "s3://bucket/elsewhere.parquet"), None);
    }
}
