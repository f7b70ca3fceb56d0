//! The `billing:` entries of the gateway config: one per billing export the gateway reads.

use std::time::Duration;

use serde::Deserialize;

use crate::config::Cloud;

/// The layouts the gateway reads, named after the clouds' own documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Format {
    /// AWS Data Exports "FOCUS 1.0 with AWS columns".
    #[serde(rename = "focus")]
    Focus,
    /// AWS Data Exports "Standard data export" (CUR 2.0).
    #[serde(rename = "cur2")]
    Cur2,
    /// Azure Cost Management export "Cost and usage details (actual)".
    #[serde(rename = "actual")]
    Actual,
    /// Azure Cost Management export "Cost and usage details (amortized)".
    #[serde(rename = "amortized")]
    Amortized,
    /// Google Cloud Billing "standard usage cost" table, written to Cloud Storage as Parquet.
    #[serde(rename = "gcp-standard")]
    GcpStandard,
    /// Google Cloud Billing FOCUS view, written to Cloud Storage as Parquet.
    #[serde(rename = "gcp-focus")]
    GcpFocus,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Focus => "focus",
            Format::Cur2 => "cur2",
            Format::Actual => "actual",
            Format::Amortized => "amortized",
            Format::GcpStandard => "gcp-standard",
            Format::GcpFocus => "gcp-focus",
        }
    }

    /// The clouds that write this layout.
    fn clouds(self) -> &'static [Cloud] {
        match self {
            Format::Focus => &[Cloud::Aws, Cloud::Azure],
            Format::Cur2 => &[Cloud::Aws],
            Format::Actual | Format::Amortized => &[Cloud::Azure],
            Format::GcpStandard | Format::GcpFocus => &[Cloud::Gcp],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// A name for logs, metrics and answers; default: `<cloud>-<format>`.
    #[serde(default)]
    pub name: Option<String>,
    pub cloud: Cloud,
    pub format: Format,
    /// Where the export is delivered: `s3://bucket/prefix/export-name/`,
    /// `az://container/path/` or `https://<account>.blob.core.windows.net/container/path/`,
    /// `gs://bucket/prefix/`, or `file:///path/` for a local copy.
    pub url: String,
    /// How often the export is read again (the clouds refresh a few times a day).
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh: Duration,
    /// The cost-allocation tag (AWS), tag (Azure) or label (GCP) key whose value names the
    /// tenant, exactly as the key appears in the export's tags column. Without it, no row of
    /// this export is attributed to a tenant.
    #[serde(default)]
    pub tenant_tag: Option<String>,
}

fn default_refresh() -> Duration {
    Duration::from_secs(3600)
}

impl ExportConfig {
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.cloud, self.format.as_str()))
    }
}

/// The `billing:` list: errors name the field (`billing[1].url`).
pub fn validate(exports: &[ExportConfig]) -> Result<(), String> {
    let mut names = std::collections::BTreeSet::new();
    for (i, e) in exports.iter().enumerate() {
        let field = |f: &str| format!("field `billing[{i}].{f}`");
        if !e.format.clouds().contains(&e.cloud) {
            let ok: Vec<&str> = e.format.clouds().iter().map(|c| c.as_str()).collect();
            return Err(format!(
                "{}: {} is a layout of {}, not of {}",
                field("format"),
                e.format.as_str(),
                ok.join(" and "),
                e.cloud
            ));
        }
        if super::shape_for(e.cloud, e.format).is_none() {
            return Err(format!(
                "{}: {} exports of {} are not read by this gateway yet",
                field("format"),
                e.format.as_str(),
                e.cloud
            ));
        }
        super::objects::check_url(e.cloud, &e.url).map_err(|m| format!("{}: {m}", field("url")))?;
        if e.refresh < Duration::from_secs(60) {
            return Err(format!("{}: at least 1m", field("refresh")));
        }
        if e.tenant_tag.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(format!("{}: empty", field("tenant_tag")));
        }
        let name = e.name();
        if name.is_empty() || name.chars().any(|c| c.is_control()) {
            return Err(format!("{}: must be a printable name", field("name")));
        }
        if !names.insert(name.clone()) {
            return Err(format!("{}: two exports are named {name:?}", field("name")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const UP: &str = "upstreams: [{cloud: aws, url: 'http://p:9090'}]\n";

    #[test]
    fn a_billing_list_parses_with_defaults() {
        let c = Config::parse(&format!(
            "{UP}billing:\n  - {{cloud: aws, format: cur2, url: 's3://bkt/cur/llm/', tenant_tag: user_team}}\n  - {{cloud: aws, format: focus, url: 'file:///var/lib/focus/', refresh: 3h}}\n"
        ))
        .unwrap();
        assert_eq!(c.billing.len(), 2);
        assert_eq!(c.billing[0].name(), "aws-cur2");
        assert_eq!(c.billing[0].refresh, std::time::Duration::from_secs(3600));
        assert_eq!(
            c.billing[1].refresh,
            std::time::Duration::from_secs(3 * 3600)
        );
    }

    #[test]
    fn billing_errors_name_the_field() {
        for (entry, field) in [
            ("{cloud: aws, format: cur2}", "billing[0]"),
            (
                "{cloud: aws, format: cur3, url: 's3://b/p/'}",
                "billing[0].format",
            ),
            (
                "{cloud: mars, format: cur2, url: 's3://b/p/'}",
                "billing[0].cloud",
            ),
            (
                "{cloud: gcp, format: cur2, url: 's3://b/p/'}",
                "billing[0].format",
            ),
            (
                "{cloud: aws, format: cur2, url: 'gs://b/p/'}",
                "billing[0].url",
            ),
            (
                "{cloud: aws, format: cur2, url: 'not a url'}",
                "billing[0].url",
            ),
            (
                "{cloud: aws, format: cur2, url: 's3://b/p/', refresh: 5s}",
                "billing[0].refresh",
            ),
            (
                "{cloud: aws, format: cur2, url: 's3://b/p/', refresh: soon}",
                "billing[0].refresh",
            ),
            (
                "{cloud: aws, format: cur2, url: 's3://b/p/', tenant_tag: ''}",
                "billing[0].tenant_tag",
            ),
            (
                "{cloud: aws, format: cur2, url: 's3://b/p/', extra: 1}",
                "billing[0]",
            ),
        ] {
            let err = Config::parse(&format!("{UP}billing: [{entry}]\n")).unwrap_err();
            assert!(err.contains(&format!("`{field}")), "{entry}: {err}");
        }
        let twice = "billing: [{cloud: aws, format: cur2, url: 's3://b/p/'}, {cloud: aws, format: cur2, url: 's3://b/q/'}]\n";
        let err = Config::parse(&format!("{UP}{twice}")).unwrap_err();
        assert!(err.contains("`billing[1].name`"), "{err}");
    }
}
