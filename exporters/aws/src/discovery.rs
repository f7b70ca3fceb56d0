//! Resolves application inference profiles (which CloudWatch reports as the `ModelId`) to the
//! model they serve, through Bedrock's ListInferenceProfiles (cached with a TTL, and listed
//! again at once, at most once a minute, when a profile is not in the cached listing: one
//! created after it was cached). The profile's name becomes the `deployment` label.
//!
//! A profile created from a cross-Region (system-defined) inference profile (`modelSource`
//! `copyFrom` a `us.`/`eu.`/`apac.`/`global.`... profile) "will route requests to the Regions
//! defined in the cross Region inference profile" (Bedrock user guide, "Create an application
//! inference profile") and is billed at that profile's rate. The listing does not name the
//! source profile: its `models` list the foundation-model ARN of every Region it routes to,
//! and those Regions tell the geography.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_bedrock::types::InferenceProfileType;
use common::error::SourceError;
use common::guard::{Guard, GuardError};

use crate::error::from_sdk;
use crate::listing::Listing;
use crate::models::{classify, ModelRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// The model as priced: the foundation model, with the geo prefix of the cross-Region
    /// profile it was copied from (`us.anthropic...`).
    pub model: String,
    /// The foundation model without a geo prefix (the price used when the catalog has no
    /// entry for the geo model).
    pub base_model: String,
}

/// The geo prefix of the cross-Region profile whose Regions are `regions`, or None for one
/// Region (a profile copied from a foundation model). The prefixes are the system-defined
/// profile ids' (Bedrock user guide, "Supported Regions and models for inference profiles"):
/// Regions of more than one geography can only come from a `global.` profile.
pub fn geo_prefix(regions: &[&str]) -> Option<&'static str> {
    let mut distinct: Vec<&str> = regions.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 2 {
        return None;
    }
    let all = |f: &dyn Fn(&str) -> bool| distinct.iter().all(|r| f(r));
    let in_set = |set: &'static [&'static str]| move |r: &str| set.contains(&r);
    Some(if all(&|r| r.starts_with("us-gov-")) {
        "us-gov."
    } else if all(&|r| r.starts_with("us-")) {
        "us."
    } else if all(&|r| r.starts_with("eu-")) {
        "eu."
    } else if all(&|r| r.starts_with("ca-")) {
        "ca."
    } else if all(&in_set(&["ap-northeast-1", "ap-northeast-3"])) {
        "jp."
    } else if all(&in_set(&["ap-southeast-2", "ap-southeast-4"])) {
        "au."
    } else if all(&|r| r.starts_with("ap-")) {
        "apac."
    } else {
        "global."
    })
}

/// The Region of `arn:PARTITION:bedrock:REGION:...`.
fn region_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// Profiles by id and by ARN.
type Profiles = HashMap<String, Profile>;

pub struct ProfileResolver {
    client: aws_sdk_bedrock::Client,
    guard: Arc<Guard>,
    cache: Listing<Profiles>,
}

impl ProfileResolver {
    pub fn new(
        client: aws_sdk_bedrock::Client,
        guard: Arc<Guard>,
        cache: Listing<Profiles>,
    ) -> Self {
        ProfileResolver {
            client,
            guard,
            cache,
        }
    }

    /// The profile behind an application inference profile id or ARN. `Ok(None)` when Bedrock
    /// does not know it (a deleted profile, or one created since the last listing that a
    /// listing in the last minute did not show either).
    pub async fn resolve(
        &self,
        id_or_arn: &str,
    ) -> Result<Option<Profile>, GuardError<SourceError>> {
        let profiles = self.cache.get(|| self.list()).await?;
        if let Some(p) = profiles.get(id_or_arn) {
            return Ok(Some(p.clone()));
        }
        match self.cache.refresh_now(|| self.list()).await {
            Some(listed) => Ok(listed?.get(id_or_arn).cloned()),
            None => Ok(None),
        }
    }

    async fn list(&self) -> Result<HashMap<String, Profile>, GuardError<SourceError>> {
        let mut out = HashMap::new();
        let mut next: Option<String> = None;
        loop {
            let token = next.clone();
            let page = self
                .guard
                .call(|| {
                    let req = self
                        .client
                        .list_inference_profiles()
                        .type_equals(InferenceProfileType::Application)
                        .set_next_token(token.clone());
                    async move { req.send().await.map_err(from_sdk) }
                })
                .await?;
            for p in page.inference_profile_summaries() {
                let arns: Vec<&str> = p.models().iter().filter_map(|m| m.model_arn()).collect();
                // A profile copied from a cross-Region profile lists one ARN per Region, all of
                // the same model; the first names it.
                let Some(base_model) = arns.iter().map(|a| classify(a)).find_map(|r| match r {
                    ModelRef::Model(m) => Some(m),
                    ModelRef::ApplicationProfile(_) | ModelRef::Provisioned(_) => None,
                }) else {
                    continue;
                };
                let regions: Vec<&str> = arns.iter().filter_map(|a| region_of_arn(a)).collect();
                let model = match geo_prefix(&regions) {
                    Some(geo) => format!("{geo}{base_model}"),
                    None => base_model.clone(),
                };
                let profile = Profile {
                    name: p.inference_profile_name().to_string(),
                    model,
                    base_model,
                };
                out.insert(p.inference_profile_id().to_string(), profile.clone());
                out.insert(p.inference_profile_arn().to_string(), profile);
            }
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_regions_of_a_copied_profile_tell_its_geography() {
        assert_eq!(
            geo_prefix(&["us-east-1"]),
            None,
            "one Region: a foundation model"
        );
        assert_eq!(geo_prefix(&["us-east-1", "us-east-1"]), None);
        assert_eq!(
            geo_prefix(&["us-east-1", "us-east-2", "us-west-2"]),
            Some("us.")
        );
        assert_eq!(
            geo_prefix(&["eu-central-1", "eu-west-1", "eu-west-3"]),
            Some("eu.")
        );
        assert_eq!(
            geo_prefix(&["ap-northeast-1", "ap-northeast-3"]),
            Some("jp.")
        );
        assert_eq!(
            geo_prefix(&["ap-southeast-2", "ap-southeast-4"]),
            Some("au.")
        );
        assert_eq!(
            geo_prefix(&["ap-northeast-1", "ap-south-1", "ap-southeast-2"]),
            Some("apac.")
        );
        assert_eq!(
            geo_prefix(&["us-gov-east-1", "us-gov-west-1"]),
            Some("us-gov.")
        );
        assert_eq!(
            geo_prefix(&["us-east-1", "eu-west-1", "ap-northeast-1"]),
            Some("global.")
        );
        assert_eq!(
            region_of_arn("arn:aws:bedrock:us-east-2::foundation-model/anthropic.x-v1:0"),
            Some("us-east-2")
        );
    }
}
