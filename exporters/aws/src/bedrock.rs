//! Resolves application inference profiles (which CloudWatch reports as the `ModelId`) to the
//! model they serve, through Bedrock's ListInferenceProfiles (cached with a TTL, and listed
//! again at once, at most once a minute, when a profile is not in the cached listing: one
//! created after it was cached). The profile's name becomes the `deployment` label.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_bedrock::types::InferenceProfileType;
use common::guard::{Guard, GuardError};

use crate::error::AwsError;
use crate::listing::Listing;
use crate::models::{classify, ModelRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// The model as priced (normalized, geo prefix kept).
    pub model: String,
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
    pub async fn resolve(&self, id_or_arn: &str) -> Result<Option<Profile>, GuardError<AwsError>> {
        let profiles = self.cache.get(|| self.list()).await?;
        if let Some(p) = profiles.get(id_or_arn) {
            return Ok(Some(p.clone()));
        }
        match self.cache.refresh_now(|| self.list()).await {
            Some(listed) => Ok(listed?.get(id_or_arn).cloned()),
            None => Ok(None),
        }
    }

    async fn list(&self) -> Result<HashMap<String, Profile>, GuardError<AwsError>> {
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
                    async move { req.send().await.map_err(AwsError::from) }
                })
                .await?;
            for p in page.inference_profile_summaries() {
                // A profile copied from a cross-Region profile lists one ARN per Region, all of
                // the same model; the first names it.
                let Some(model) = p
                    .models()
                    .iter()
                    .filter_map(|m| m.model_arn())
                    .map(classify)
                    .find_map(|r| match r {
                        ModelRef::Model(m) => Some(m),
                        ModelRef::ApplicationProfile(_) => None,
                    })
                else {
                    continue;
                };
                let profile = Profile {
                    name: p.inference_profile_name().to_string(),
                    model,
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
