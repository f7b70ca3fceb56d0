//! S3 credentials for billing exports from the AWS SDK's standard chain (aws-config's default
//! credentials chain), found as the AWS exporter and the AWS CLI find them: environment
//! variables, the shared `config` and `credentials` files (`AWS_PROFILE`, `AWS_CONFIG_FILE`,
//! `AWS_SHARED_CREDENTIALS_FILE`; static keys, IAM Identity Center (SSO), `credential_process`,
//! `role_arn` with a source profile), web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` and
//! `AWS_ROLE_ARN`), ECS container credentials and EC2 instance metadata (IMDS).
//! object_store's own chain reads no profile; this one is handed to it as its
//! `CredentialProvider`.
//! Order and sources: https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::provider::ProvideCredentials;
use object_store::aws::AwsCredential;
use object_store::CredentialProvider;

/// Credentials without an expiry (static keys in a profile or the environment) are read
/// again after this long, so a rotated credentials file is picked up.
const STATIC_FOR: Duration = Duration::from_secs(15 * 60);

/// Temporary credentials are replaced this long before they expire.
const EARLY: Duration = Duration::from_secs(5 * 60);

/// The chain is built on first use (building it is async: it reads the profile files).
#[derive(Default)]
pub struct AwsChain {
    chain: tokio::sync::OnceCell<DefaultCredentialsChain>,
    /// The last credentials and when to ask the chain again.
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Instant)>>,
}

impl std::fmt::Debug for AwsChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsChain(the AWS SDK's default credentials chain)")
    }
}

/// When credentials that expire at `expiry` (None: never) are to be replaced.
fn refresh_at(now: Instant, wall: SystemTime, expiry: Option<SystemTime>) -> Instant {
    match expiry {
        None => now + STATIC_FOR,
        Some(t) => {
            let left = t.duration_since(wall).unwrap_or_default();
            now + left.saturating_sub(EARLY).min(STATIC_FOR)
        }
    }
}

/// The error and its causes on one line (the chain's errors name the provider and the
/// reason, never a key).
fn chain_message(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    let mut depth = 0;
    while let Some(c) = cause {
        if depth == 8 {
            break;
        }
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
        depth += 1;
    }
    out
}

#[async_trait::async_trait]
impl CredentialProvider for AwsChain {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some((c, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(c.clone());
            }
        }
        let chain = self
            .chain
            .get_or_init(|| DefaultCredentialsChain::builder().build())
            .await;
        let creds = chain
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: format!(
                    "no AWS credentials from the standard chain (environment, profile, SSO, web identity, container, instance metadata): {}",
                    chain_message(&e)
                )
                .into(),
            })?;
        let c = Arc::new(AwsCredential {
            key_id: creds.access_key_id().to_string(),
            secret_key: creds.secret_access_key().to_string(),
            token: creds.session_token().map(str::to_string),
        });
        let until = refresh_at(Instant::now(), SystemTime::now(), creds.expiry());
        *cached = Some((c.clone(), until));
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_credentials_are_replaced_before_they_expire() {
        let now = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(refresh_at(now, wall, None), now + STATIC_FOR);
        let in_an_hour = wall + Duration::from_secs(3600);
        assert_eq!(refresh_at(now, wall, Some(in_an_hour)), now + STATIC_FOR);
        let in_ten_min = wall + Duration::from_secs(600);
        assert_eq!(
            refresh_at(now, wall, Some(in_ten_min)),
            now + Duration::from_secs(300)
        );
        // Expiring within the margin, or already expired: asked again at the next request.
        assert_eq!(
            refresh_at(now, wall, Some(wall + Duration::from_secs(60))),
            now
        );
        assert_eq!(
            refresh_at(now, wall, Some(wall - Duration::from_secs(60))),
            now
        );
    }

    #[test]
    fn its_debug_form_shows_no_credential() {
        assert!(!format!("{:?}", AwsChain::default()).contains("key"));
    }
}
