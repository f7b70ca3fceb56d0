//! Bedrock Provisioned Throughput: the throughputs of one account and region from Bedrock's
//! ListProvisionedModelThroughputs (cached with a TTL, through its own guard), and the hourly
//! capacity they are billed for.
//!
//! "You're billed hourly for a Provisioned Throughput that you purchase ... Billing continues
//! until you delete the Provisioned Throughput" (Bedrock user guide, "Increase model invocation
//! capacity with Provisioned Throughput"); the price is per model unit and hour and depends on
//! the model and the commitment term (none, one month, six months). Requests to a provisioned
//! model name its ARN, which CloudWatch reports as the `ModelId`: those tokens are counted, and
//! priced by the hour, never per token.
//!
//! API reference, ListProvisionedModelThroughputs: `GET /provisioned-model-throughputs`,
//! answer `{"provisionedModelSummaries": [ProvisionedModelSummary], "nextToken"}`; a summary
//! has `provisionedModelArn`, `provisionedModelName`, `modelArn`, `foundationModelArn`,
//! `modelUnits`, `desiredModelUnits`, `status` (`Creating | InService | Updating | Failed`),
//! `commitmentDuration` (`OneMonth | SixMonths`, absent for no commitment), `creationTime`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_bedrock::types::{CommitmentDuration, ProvisionedModelStatus};
use common::error::SourceError;
use common::guard::{Guard, GuardError};

use crate::error::from_sdk;
use crate::listing::Listing;
use crate::models::{classify, ModelRef};
use common::base::lock;

/// One Provisioned Throughput as the exporter uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Throughput {
    pub arn: String,
    pub name: String,
    /// The foundation model it serves (a custom model is billed as its base model).
    pub model: String,
    /// Model units billed now; 0 while it is not serving (Creating, Failed).
    pub units: u32,
    pub term: Term,
    /// Unix seconds.
    pub created: i64,
}

/// The commitment term, which sets the hourly rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    NoCommitment,
    OneMonth,
    SixMonths,
}

impl Term {
    /// As written in the capacity catalog's keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Term::NoCommitment => "no-commitment",
            Term::OneMonth => "1-month-commitment",
            Term::SixMonths => "6-month-commitment",
        }
    }
}

/// The catalog keys that may hold the hourly rate of one model unit of `model` in `region` on
/// `term`, most specific first: `<region>/<term>/<model>`, then `<term>/<model>`.
pub fn capacity_price_keys(region: &str, term: Term, model: &str) -> Vec<String> {
    vec![
        format!("{region}/{}/{model}", term.as_str()),
        format!("{}/{model}", term.as_str()),
    ]
}

/// Model units billed for a throughput in `status`: the allocated units while it serves
/// (InService, and Updating, which keeps serving on its current units); none while it is
/// being created or has failed. An unknown status is counted as serving: billing "continues
/// until you delete" it.
fn billed_units(status: &ProvisionedModelStatus, units: i32) -> u32 {
    match status {
        ProvisionedModelStatus::Creating | ProvisionedModelStatus::Failed => 0,
        _ => units.max(0) as u32,
    }
}

/// Throughputs by ARN.
pub type Throughputs = HashMap<String, Throughput>;

pub struct ThroughputLister {
    client: aws_sdk_bedrock::Client,
    guard: Arc<Guard>,
    cache: Listing<Throughputs>,
    /// When the last listing failed: a failure (e.g. AccessDenied before the IAM policy has
    /// `bedrock:ListProvisionedModelThroughputs`) is not asked again for `RETRY_AFTER`.
    failed_at: Mutex<Option<Instant>>,
}

/// How long a failed listing is not asked again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Pages of one listing before it is given up (1,000 throughputs a page at most).
const MAX_PAGES: usize = 100;

impl ThroughputLister {
    pub fn new(
        client: aws_sdk_bedrock::Client,
        guard: Arc<Guard>,
        cache: Listing<Throughputs>,
    ) -> Self {
        ThroughputLister {
            client,
            guard,
            cache,
            failed_at: Mutex::new(None),
        }
    }

    /// Every Provisioned Throughput of the scope (cached for the TTL); `None` while a failed
    /// listing is not asked again.
    pub async fn list(&self) -> Option<Result<Arc<Throughputs>, GuardError<SourceError>>> {
        let recently_failed = lock(&self.failed_at).is_some_and(|at| at.elapsed() < RETRY_AFTER);
        if recently_failed {
            return None;
        }
        let listed = self.cache.get(|| self.list_uncached()).await;
        *lock(&self.failed_at) = listed.is_err().then(Instant::now);
        Some(listed)
    }

    async fn list_uncached(&self) -> Result<Throughputs, GuardError<SourceError>> {
        let mut out = HashMap::new();
        let mut next: Option<String> = None;
        for _page in 0..MAX_PAGES {
            let token = next.clone();
            let page = self
                .guard
                .call(|| {
                    let req = self
                        .client
                        .list_provisioned_model_throughputs()
                        .set_next_token(token.clone());
                    async move { req.send().await.map_err(from_sdk) }
                })
                .await?;
            for p in page.provisioned_model_summaries() {
                let model = [p.foundation_model_arn(), p.model_arn()]
                    .into_iter()
                    .find_map(|arn| match classify(arn) {
                        ModelRef::Model(m) if !m.starts_with("arn:") => Some(m),
                        _ => None,
                    })
                    .unwrap_or_else(|| p.model_arn().to_string());
                let term = match p.commitment_duration() {
                    None => Term::NoCommitment,
                    Some(CommitmentDuration::OneMonth) => Term::OneMonth,
                    Some(CommitmentDuration::SixMonths) => Term::SixMonths,
                    Some(other) => {
                        tracing::warn!(throughput = %p.provisioned_model_name(), commitment = %other.as_str(), "unknown commitment term: priced at the no-commitment rate");
                        Term::NoCommitment
                    }
                };
                let t = Throughput {
                    arn: p.provisioned_model_arn().to_string(),
                    name: p.provisioned_model_name().to_string(),
                    model,
                    units: billed_units(p.status(), p.model_units()),
                    term,
                    created: p.creation_time().secs(),
                };
                out.insert(t.arn.clone(), t);
            }
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                return Ok(out);
            }
        }
        Err(GuardError::Failed {
            api: "ListProvisionedModelThroughputs".into(),
            source: SourceError::new(
                common::error::FailureKind::InvalidAnswer,
                format!("still a NextToken after {MAX_PAGES} pages"),
            ),
        })
    }
}

/// The model-unit hours one throughput is billed for in each period of `[start, end)` (period
/// starts, `period` seconds each): `units x period / 3600` for every period from the one it
/// was created in.
pub fn unit_hours(t: &Throughput, start: i64, end: i64, period: i64) -> Vec<(i64, f64)> {
    if t.units == 0 || period <= 0 {
        return Vec::new();
    }
    let first = common::source::align_down(t.created, period).max(start);
    let value = f64::from(t.units) * period as f64 / 3600.0;
    (first..end)
        .step_by(period as usize)
        .map(|p| (p, value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throughput(units: u32, created: i64) -> Throughput {
        Throughput {
            arn: "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc".into(),
            name: "pt".into(),
            model: "anthropic.claude-v2:1".into(),
            units,
            term: Term::OneMonth,
            created,
        }
    }

    #[test]
    fn each_minute_in_service_is_units_times_a_sixtieth_of_an_hour() {
        // 3 model units for the minutes 600..780: 3 x 60 / 3600 = 0.05 unit-hours each.
        let got = unit_hours(&throughput(3, 0), 600, 780, 60);
        assert_eq!(got, vec![(600, 0.05), (660, 0.05), (720, 0.05)]);
        // Created at 650: from the minute it was created in.
        let got = unit_hours(&throughput(2, 650), 600, 780, 60);
        assert_eq!(got.first().map(|x| x.0), Some(600));
        let got = unit_hours(&throughput(2, 700), 600, 780, 60);
        assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), vec![660, 720]);
        assert!(unit_hours(&throughput(0, 0), 600, 780, 60).is_empty());
    }

    #[test]
    fn only_a_serving_throughput_is_billed() {
        assert_eq!(billed_units(&ProvisionedModelStatus::InService, 4), 4);
        assert_eq!(billed_units(&ProvisionedModelStatus::Updating, 4), 4);
        assert_eq!(billed_units(&ProvisionedModelStatus::Creating, 4), 0);
        assert_eq!(billed_units(&ProvisionedModelStatus::Failed, 4), 0);
    }

    #[test]
    fn rates_are_looked_up_by_region_term_and_model() {
        assert_eq!(
            capacity_price_keys("us-east-1", Term::SixMonths, "anthropic.claude-v2:1"),
            vec![
                "us-east-1/6-month-commitment/anthropic.claude-v2:1".to_string(),
                "6-month-commitment/anthropic.claude-v2:1".to_string()
            ]
        );
    }
}
