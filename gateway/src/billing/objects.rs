//! An export's URL as an object store and a folder in it, with each cloud's standard
//! credential chain (for S3 the AWS SDK's chain, profiles and SSO included:
//! `aws_credentials`; object_store's `from_env` builders for the rest: for Azure `AZURE_*`
//! variables, workload and managed identity; for Cloud Storage `GOOGLE_*` variables and
//! application default credentials). No credential is ever written in the URL.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreScheme};
use reqwest::Url;

use crate::config::Cloud;

pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub root: Path,
}

fn parse(cloud: Cloud, url: &str) -> Result<(Url, ObjectStoreScheme, Path), String> {
    let u = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    // `abfs[s]://<container>@<account>.dfs.core.windows.net/<path>`: the user part is the
    // container (object_store's Hadoop-driver form), not a credential.
    let container_at_account = matches!(u.scheme(), "abfs" | "abfss" | "az")
        && u.password().is_none()
        && u.host_str().is_some_and(|h| {
            h.ends_with(".dfs.core.windows.net") || h.ends_with(".blob.core.windows.net")
        });
    if (!u.username().is_empty() && !container_at_account)
        || u.password().is_some()
        || u.query().is_some()
    {
        return Err(
            "must not carry credentials or a query (SAS token): they come from the environment"
                .into(),
        );
    }
    let (scheme, path) = ObjectStoreScheme::parse(&u)
        .map_err(|_| "not an object store URL (s3://, az://, https://<account>.blob.core.windows.net/, gs://, file:///)".to_string())?;
    let allowed = match cloud {
        Cloud::Aws => matches!(scheme, ObjectStoreScheme::AmazonS3),
        Cloud::Azure => matches!(scheme, ObjectStoreScheme::MicrosoftAzure),
        Cloud::Gcp => matches!(scheme, ObjectStoreScheme::GoogleCloudStorage),
    } || matches!(scheme, ObjectStoreScheme::Local);
    if !allowed {
        let want = match cloud {
            Cloud::Aws => "s3://bucket/prefix/export-name/",
            Cloud::Azure => {
                "az://container/path/ (account from AZURE_STORAGE_ACCOUNT_NAME), https://<account>.blob.core.windows.net/container/path/ or abfss://container@<account>.dfs.core.windows.net/path/"
            }
            Cloud::Gcp => "gs://bucket/prefix/",
        };
        return Err(format!(
            "a {cloud} export is read from {want} (or file:///path/)"
        ));
    }
    let path = Path::parse(path).map_err(|e| format!("bad path: {e}"))?;
    Ok((u, scheme, path))
}

/// For `check-config`: the URL's shape, without touching the network.
pub fn check_url(cloud: Cloud, url: &str) -> Result<(), String> {
    parse(cloud, url).map(|_| ())
}

/// The store and the export's folder in it.
pub fn open(cloud: Cloud, url: &str) -> Result<Location, String> {
    let (u, scheme, root) = parse(cloud, url)?;
    let text = u.as_str();
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::Local => Arc::new(LocalFileSystem::new()),
        ObjectStoreScheme::AmazonS3 => Arc::new(
            AmazonS3Builder::from_env()
                .with_url(text)
                .with_credentials(Arc::new(super::aws_credentials::AwsChain::default()))
                .build()
                .map_err(|e| e.to_string())?,
        ),
        ObjectStoreScheme::MicrosoftAzure => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(text)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        ObjectStoreScheme::GoogleCloudStorage => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(text)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        _ => return Err("unsupported object store".into()),
    };
    Ok(Location { store, root })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_per_cloud() {
        assert!(check_url(Cloud::Aws, "s3://bucket/cur/exp/").is_ok());
        assert!(check_url(Cloud::Aws, "file:///var/lib/cur/exp/").is_ok());
        assert!(check_url(Cloud::Azure, "az://exports/focus/").is_ok());
        assert!(check_url(
            Cloud::Azure,
            "https://acct.blob.core.windows.net/exports/focus/"
        )
        .is_ok());
        assert!(check_url(Cloud::Gcp, "gs://bucket/billing/").is_ok());
        for ok in [
            "azure://exports/focus/",
            "abfss://exports@acct.dfs.core.windows.net/focus/",
            "abfs://exports/focus/",
        ] {
            assert!(check_url(Cloud::Azure, ok).is_ok(), "{ok}");
        }
        assert!(check_url(Cloud::Azure, "abfss://user:pw@acct.dfs.core.windows.net/x/").is_err());
        assert!(check_url(Cloud::Azure, "s3://bucket/x/").is_err());
        for (cloud, bad) in [
            (Cloud::Aws, "gs://bucket/x/"),
            (Cloud::Aws, "s3 bucket"),
            (
                Cloud::Azure,
                "https://acct.blob.core.windows.net/c/p?sig=secret",
            ),
            (Cloud::Aws, "s3://key:secret@bucket/p/"),
            (Cloud::Gcp, "http://example.com/x"),
        ] {
            let e = check_url(cloud, bad).unwrap_err();
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
