//! AWS-side test support: LocalStack, and the exporter started with no ambient AWS set-up.
#![allow(dead_code)]

pub use testkit::*;

pub mod cloud;
pub mod drill_cloud;
pub mod proxy;

#[allow(unused_imports)]
pub use cloud::*;

/// The AWS exporter with test credentials and nothing from the machine's AWS configuration.
pub fn start_exporter(args: &[&str], env: &[(&str, &str)]) -> Exporter {
    let remove = [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_CLOUDWATCH",
        "AWS_ENDPOINT_URL_BEDROCK",
        "AWS_ENDPOINT_URL_STS",
    ];
    let mut all = vec![
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        ),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret-never-logged"),
        ("AWS_REGION", "us-east-1"),
    ];
    all.extend_from_slice(env);
    Exporter::start(env!("CARGO_BIN_EXE_llm-exporter-aws"), args, &remove, &all)
}

pub use testkit::localstack::LocalStack;

/// LocalStack with CloudWatch and STS (see [`testkit::localstack`]).
pub fn start_localstack() -> LocalStack {
    LocalStack::start("cloudwatch,sts", "cloudwatch")
}
