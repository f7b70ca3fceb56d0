//! The bill beside the estimate: the gateway reads each cloud's billing export from object
//! storage, keeps billed USD per UTC day, account, model and tenant, and answers from it
//! (`answers::reconciliation`). Each export is read again every `refresh`; a billing period
//! whose version has not changed is not read again.

mod aws;
mod aws_credentials;
mod aws_delivery;
mod azure;
mod azure_delivery;
mod azure_overlap;
mod azure_read;
mod columns;
pub mod config;
mod csv_source;
mod gcp;
mod gcp_delivery;
mod gcp_read;
pub mod ledger;
mod metrics;
pub mod model_key;
mod objects;
mod parquet_source;
pub mod ratio;
mod read;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;
use common::base;
use futures::StreamExt;

use crate::config::Cloud;
pub use config::{ExportConfig, Format};
use ledger::{ExportStatus, Period, Sums};
pub use metrics::BillingMetrics;
use objects::Location;
use read::Shape;

/// Files of one export read at the same time.
const FILES_IN_FLIGHT: usize = 2;

/// The layout a (cloud, format) is read with; None for layouts not read yet.
pub fn shape_for(cloud: Cloud, format: Format) -> Option<&'static Shape> {
    match (cloud, format) {
        (Cloud::Aws, Format::Cur2) => Some(&aws::CUR2),
        (Cloud::Aws, Format::Focus) => Some(&aws::FOCUS),
        (Cloud::Azure, Format::Focus) => Some(&azure::FOCUS),
        (Cloud::Azure, Format::Actual | Format::Amortized) => Some(&azure::ACTUAL),
        (Cloud::Gcp, Format::GcpStandard) => Some(&gcp::STANDARD),
        (Cloud::Gcp, Format::GcpFocus) => Some(&gcp::FOCUS),
        _ => None,
    }
}

struct Export {
    config: ExportConfig,
    name: String,
    shape: &'static Shape,
    location: Location,
    state: RwLock<State>,
    /// Held while the export is read: one read at a time.
    reading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    periods: BTreeMap<String, Period>,
    /// (period, account) not counted: another export of an overlapping scope bills them.
    dropped: BTreeSet<(String, String)>,
    last_read: Option<f64>,
    /// Why the last read failed as a whole (listing, no manifest), manifests not used and
    /// exports of overlapping scopes.
    error: Option<String>,
}

/// One billed cell an answer may show.
#[derive(Debug, Clone)]
pub struct Billed {
    pub day: NaiveDate,
    pub cloud: Cloud,
    pub account: String,
    pub model: String,
    pub cost: f64,
    pub billed_as: Vec<String>,
}

pub struct Billing {
    exports: Vec<Export>,
    pub metrics: BillingMetrics,
    /// Told after every read of an export (the ratio is computed again).
    pub refreshed: tokio::sync::Notify,
}

impl Billing {
    pub fn new(
        configs: &[ExportConfig],
        registry: &crate::metrics::Metrics,
    ) -> Result<Billing, String> {
        let mut exports = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let shape = shape_for(c.cloud, c.format).ok_or_else(|| {
                format!(
                    "field `billing[{i}].format`: {} exports of {} are not read by this gateway yet",
                    c.format.as_str(),
                    c.cloud
                )
            })?;
            let location = objects::open(c.cloud, &c.url)
                .map_err(|m| format!("field `billing[{i}].url`: {m}"))?;
            exports.push(Export {
                config: c.clone(),
                name: c.name(),
                shape,
                location,
                state: RwLock::new(State::default()),
                reading: tokio::sync::Mutex::new(()),
            });
        }
        Ok(Billing {
            exports,
            metrics: BillingMetrics::new(registry),
            refreshed: tokio::sync::Notify::new(),
        })
    }

    /// Reads the exports never read yet (an answer asked before the first background read
    /// finished, or a process without one: `mcp --stdio`).
    pub async fn ensure_read(&self) {
        for i in 0..self.exports.len() {
            if !self.was_read(i) {
                let _reading = self.exports[i].reading.lock().await;
                if !self.was_read(i) {
                    self.read(i).await;
                }
            }
        }
    }

    fn was_read(&self, i: usize) -> bool {
        let st = base::read(&self.exports[i].state);
        st.last_read.is_some() || st.error.is_some()
    }

    /// Reads export `i` again: each period whose newest version changed.
    pub async fn refresh(&self, i: usize) {
        let _reading = self.exports[i].reading.lock().await;
        self.read(i).await;
        self.refreshed.notify_waiters();
    }

    async fn read(&self, i: usize) {
        let e = &self.exports[i];
        let started = std::time::Instant::now();
        let root = &e.location.root;
        let store = e.location.store.clone();
        let listed = match e.config.cloud {
            Cloud::Azure => {
                let dataset = azure::layout(e.config.format).dataset;
                azure_delivery::newest_runs(store.as_ref(), root, dataset).await
            }
            Cloud::Gcp => gcp_delivery::newest_versions(store.as_ref(), root)
                .await
                .map(|(v, e)| (v, Vec::new(), e)),
            _ => aws_delivery::newest_versions(store.as_ref(), root)
                .await
                .map(|(v, e)| (v, Vec::new(), e)),
        };
        let (versions, claims, mut manifest_errors) = match listed {
            Ok(v) => v,
            Err(err) => {
                tracing::warn!(export = %e.name, error = %err, "billing export not read");
                let mut st = base::write(&e.state);
                st.error = Some(err);
                drop(st);
                self.publish(i);
                return;
            }
        };
        let mut fresh = BTreeMap::new();
        for v in versions {
            let known = {
                let mut st = base::write(&e.state);
                match st.periods.remove(&v.period) {
                    Some(p) if p.version == v.id => Some(p),
                    _ => None,
                }
            };
            let period = match known {
                Some(p) => p,
                None => self.read_version(e, &v).await,
            };
            fresh.insert(v.period.clone(), period);
        }
        let overlap = azure_overlap::overlaps(&claims, &fresh);
        manifest_errors.extend(overlap.notes);
        let mut st = base::write(&e.state);
        st.periods = fresh;
        st.dropped = overlap.dropped;
        st.last_read = Some(crate::gateway::now());
        st.error = if manifest_errors.is_empty() {
            None
        } else {
            Some(manifest_errors.join("; "))
        };
        let rows: u64 = st.periods.values().map(|p| p.sums.rows_read).sum();
        drop(st);
        tracing::info!(export = %e.name, rows, seconds = started.elapsed().as_secs_f64(), "billing export read");
        self.publish(i);
    }

    async fn read_version(&self, e: &Export, v: &aws_delivery::Version) -> Period {
        let jobs: Vec<_> = v
            .files
            .iter()
            .map(|f| {
                let store = e.location.store.clone();
                let tag = e.config.tenant_tag.clone();
                let shape = e.shape;
                let (cloud, format) = (e.config.cloud, e.config.format);
                let f = f.clone();
                async move {
                    let r = match cloud {
                        Cloud::Azure => {
                            let layout = azure::layout(format);
                            azure_read::read_file(store, &f, layout, tag.as_deref()).await
                        }
                        Cloud::Gcp => gcp_read::read_file(store, &f, format, tag.as_deref()).await,
                        _ => read::read_file(store, &f, shape, tag.as_deref()).await,
                    };
                    (f.to_string(), r)
                }
            })
            .collect();
        let results: Vec<(String, Result<Sums, String>)> = futures::stream::iter(jobs)
            .buffered(FILES_IN_FLIGHT)
            .collect()
            .await;
        let mut period = Period {
            version: v.id.clone(),
            ..Default::default()
        };
        for (file, r) in results {
            match r {
                Ok(s) => {
                    for (cur, n) in &s.other_currency {
                        period.errors.push(format!(
                            "{file}: column {}: {n} LLM rows in {cur}, not USD: not counted",
                            e.shape.currency
                        ));
                    }
                    period.sums.merge(s);
                    period.files_read += 1;
                }
                Err(err) => {
                    tracing::warn!(export = %e.name, error = %err, "billing file not read");
                    period.errors.push(err);
                }
            }
        }
        period
    }

    fn publish(&self, i: usize) {
        let e = &self.exports[i];
        let status = self.status_of(e);
        self.metrics.publish(&e.name, e.config.cloud, &status);
        let clouds: Vec<Cloud> = Cloud::ALL
            .into_iter()
            .filter(|c| self.exports.iter().any(|x| x.config.cloud == *c))
            .collect();
        for c in clouds {
            self.metrics.set_complete(c, self.complete_through(c));
        }
    }

    fn status_of(&self, e: &Export) -> ExportStatus {
        let st = base::read(&e.state);
        let last_day = st.periods.values().filter_map(|p| p.sums.last_day).max();
        let mut errors: Vec<String> = st.error.iter().cloned().collect();
        for p in st.periods.values() {
            errors.extend(p.errors.iter().cloned());
        }
        ExportStatus {
            name: e.name.clone(),
            cloud: e.config.cloud,
            format: e.config.format.as_str(),
            last_day: last_day.map(|d| d.to_string()),
            complete_through: last_day.and_then(|d| d.pred_opt()).map(|d| d.to_string()),
            last_read: st.last_read,
            periods: st.periods.keys().cloned().collect(),
            errors,
        }
    }

    pub fn statuses(&self) -> Vec<ExportStatus> {
        self.exports.iter().map(|e| self.status_of(e)).collect()
    }

    /// The last day every export of `cloud` holds completely.
    pub fn complete_through(&self, cloud: Cloud) -> Option<NaiveDate> {
        self.exports
            .iter()
            .filter(|e| e.config.cloud == cloud)
            .map(|e| {
                let st = base::read(&e.state);
                st.periods
                    .values()
                    .filter_map(|p| p.sums.last_day)
                    .max()
                    .and_then(|d| d.pred_opt())
            })
            .min()
            .flatten()
    }

    /// Names of exports of `clouds` whose rows cannot be attributed to a tenant.
    pub fn untagged(&self, clouds: &[Cloud]) -> Vec<String> {
        self.exports
            .iter()
            .filter(|e| clouds.contains(&e.config.cloud) && e.config.tenant_tag.is_none())
            .map(|e| e.name.clone())
            .collect()
    }

    /// Billed cells of `clouds` from `from` to `to` (inclusive); `tenant` Some: only rows
    /// whose tenant tag names it.
    pub fn billed(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        clouds: &[Cloud],
        tenant: Option<&str>,
    ) -> Vec<Billed> {
        let mut merged: BTreeMap<(NaiveDate, Cloud, String, String), Billed> = BTreeMap::new();
        for e in self
            .exports
            .iter()
            .filter(|e| clouds.contains(&e.config.cloud))
        {
            if tenant.is_some() && e.config.tenant_tag.is_none() {
                continue;
            }
            let st = base::read(&e.state);
            for (key, p) in st.periods.iter() {
                let dropped: BTreeSet<&str> = st
                    .dropped
                    .iter()
                    .filter(|(period, _)| period == key)
                    .map(|(_, account)| account.as_str())
                    .collect();
                for (k, c) in p.sums.cells.iter() {
                    if k.day < from || k.day > to || dropped.contains(k.account.as_str()) {
                        continue;
                    }
                    if tenant.is_some() && k.tenant.as_deref() != tenant {
                        continue;
                    }
                    let b = merged
                        .entry((k.day, e.config.cloud, k.account.clone(), k.model.clone()))
                        .or_insert_with(|| Billed {
                            day: k.day,
                            cloud: e.config.cloud,
                            account: k.account.clone(),
                            model: k.model.clone(),
                            cost: 0.0,
                            billed_as: Vec::new(),
                        });
                    b.cost += c.cost;
                    for a in &c.billed_as {
                        if !b.billed_as.contains(a) {
                            b.billed_as.push(a.clone());
                        }
                    }
                }
            }
        }
        merged.into_values().collect()
    }

    /// Reads every export now and then every `refresh`, in the background: on a thread and
    /// runtime of their own, so decoding a large export never holds up the answers.
    pub fn spawn(self: &Arc<Self>) {
        if self.exports.is_empty() {
            return;
        }
        let me = self.clone();
        let started = std::thread::Builder::new()
            .name("billing".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "billing exports are not read: no runtime");
                        return;
                    }
                };
                rt.block_on(futures::future::join_all((0..me.exports.len()).map(|i| {
                    let me = me.clone();
                    async move {
                        let every = me.exports[i].config.refresh;
                        loop {
                            me.refresh(i).await;
                            tokio::time::sleep(every).await;
                        }
                    }
                })));
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "billing exports are not read: no thread");
        }
    }
}
