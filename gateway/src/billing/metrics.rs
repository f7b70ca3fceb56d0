//! The billing families of the gateway's /metrics: no tenant names, only clouds, accounts,
//! models and export names (from the config).

use prometheus::{GaugeVec, Opts};

use super::ledger::ExportStatus;
use crate::config::Cloud;

pub const RATIO: &str = "llm_billing_effective_rate_ratio";
pub const COMPLETE: &str = "llm_billing_last_complete_day_timestamp_seconds";
pub const READ: &str = "llm_billing_export_last_read_timestamp_seconds";
pub const ERRORS: &str = "llm_billing_export_errors";
pub const DAY: &str = "llm_billing_last_complete_day_usd";
pub const MONTH: &str = "llm_billing_month_to_date_usd";

pub struct BillingMetrics {
    /// Billed / estimated over the last complete days, by cloud, account and model.
    pub ratio: GaugeVec,
    /// The last complete day's USD by cloud and `side` (`billed`, `estimated`).
    pub day: GaugeVec,
    /// This month by cloud and `side`: `billed` through the last complete day, `estimated`
    /// since then; their sum is the calibrated month to date.
    pub month: GaugeVec,
    complete: GaugeVec,
    read: GaugeVec,
    errors: GaugeVec,
}

impl BillingMetrics {
    pub fn new(registry: &crate::metrics::Metrics) -> BillingMetrics {
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(g.clone()));
            g
        };
        BillingMetrics {
            ratio: gauge(
                RATIO,
                "Billed USD / estimated USD over the last complete billing days (7 by default), by cloud, account and model.",
                &["cloud", "account", "model"],
            ),
            day: gauge(
                DAY,
                "USD of the cloud's last complete billing day: billed (the export) and estimated (the exporters), by side.",
                &["cloud", "side"],
            ),
            month: gauge(
                MONTH,
                "This UTC month: billed USD through the last complete billing day (side=billed) and estimated USD since then (side=estimated).",
                &["cloud", "side"],
            ),
            complete: gauge(
                COMPLETE,
                "End of the last UTC day the cloud's billing exports hold completely (Unix seconds).",
                &["cloud"],
            ),
            read: gauge(
                READ,
                "When the export was last read successfully (Unix seconds).",
                &["export", "cloud"],
            ),
            errors: gauge(
                ERRORS,
                "Files, manifests or listings of the export that could not be read at its last read, and overlapping exports whose rows were left out.",
                &["export", "cloud"],
            ),
        }
    }

    pub fn publish(&self, export: &str, cloud: Cloud, s: &ExportStatus) {
        if let Some(t) = s.last_read {
            self.read
                .with_label_values(&[export, cloud.as_str()])
                .set(t);
        }
        self.errors
            .with_label_values(&[export, cloud.as_str()])
            .set(s.errors.len() as f64);
    }

    pub fn set_complete(&self, cloud: Cloud, day: Option<chrono::NaiveDate>) {
        if let Some(end) = day
            .and_then(|d| d.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            self.complete
                .with_label_values(&[cloud.as_str()])
                .set(end.and_utc().timestamp() as f64);
        }
    }
}
