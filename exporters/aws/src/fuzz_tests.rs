//! Fuzzing of what the AWS exporter parses itself: `ModelId` dimension values (model
//! ids, inference profile ids and ARNs) as ListMetrics returns them, metric names, and the
//! whole config (every key and value, the `aws:` section included) as start-up and
//! `--config.check` check it. GetMetricData answers are parsed by the AWS SDK; their merging
//! and what the accumulator rejects are covered against LocalStack (tests/localstack.rs).
//! Promised: no panic; a model label is always taken from the value given, never invented;
//! config errors name the field and stay short. Longer runs: `PROPTEST_CASES=20000 cargo test
//! -p llm-exporter-aws --bins fuzz`.

use common::config::{section, Config, FieldError};
use proptest::prelude::*;
use testkit::fuzz::{check_config, readme_config};

use crate::config::AwsConfig;
use crate::exporter::Aws;
use crate::models::{classify, latency, ModelRef};

/// The size of the huge values in generated cases: far past the 2 KB an error may take, and
/// small enough for 256 cases in seconds (the `*_1_mb_*` tests below use 1 MB once each).
const HUGE: usize = 256 * 1024;

fn hostile_yaml() -> impl Strategy<Value = serde_yaml_ng::Value> {
    use serde_yaml_ng::Value as Y;
    prop_oneof![
        Just(Y::from("1001y")),
        Just(Y::from("0s")),
        Just(Y::from("18446744073709551615s")),
        Just(Y::from(-1)),
        Just(Y::from(u64::MAX)),
        Just(Y::from(f64::NAN)),
        Just(Y::from("")),
        Just(Y::from("x".repeat(HUGE))),
        Just(Y::Sequence(vec![Y::from("x".repeat(HUGE))])),
        Just(Y::Sequence(vec![Y::Mapping(
            [(Y::from("role_arn"), Y::from("x".repeat(HUGE)))]
                .into_iter()
                .collect()
        )])),
        Just(Y::Null),
        Just(Y::from(true)),
        ".{0,12}".prop_map(Y::from),
        any::<i64>().prop_map(Y::from),
    ]
}

/// Model ids as Bedrock writes them, ARNs of every kind, and anything else.
fn model_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{2,8}\\.[a-z0-9.:-]{0,40}",
        "[a-z0-9]{12}",
        "arn:[a-z-]{0,10}:bedrock:[a-z0-9-]{0,12}:[0-9]{0,12}:(foundation-model|inference-profile|application-inference-profile|provisioned-model|[a-z-]{0,12})/[a-zA-Z0-9.:/-]{0,40}",
        "arn:.{0,40}",
        ".{0,60}",
    ]
}

proptest! {
    #[test]
    fn fuzz_aws_model_ids(id in model_id()) {
        match classify(&id) {
            ModelRef::Model(m) => {
                prop_assert!(id.ends_with(&m), "{id} -> {m}: a model label comes from the value");
                if !id.starts_with("arn:") {
                    prop_assert_eq!(&m, &id);
                }
            }
            ModelRef::ApplicationProfile(p) | ModelRef::Provisioned(p) => prop_assert_eq!(&p, &id),
        }
        let _ = latency(&id);
    }

    #[test]
    fn fuzz_aws_config_every_field(n in any::<usize>(), value in hostile_yaml()) {
        check_config::<Aws>(&testkit::fuzz::with_field_value(readme_config(), n, value))?;
    }
}

proptest! {
    // Few distinct hostile keys over a few dozen positions: 64 cases cover them.
    #![proptest_config(testkit::fuzz::cases(64))]

    #[test]
    fn fuzz_aws_config_every_key(n in any::<usize>(), key in testkit::fuzz::hostile_key()) {
        check_config::<Aws>(&testkit::fuzz::with_field_key(readme_config(), n, key))?;
    }
}

/// Found by `fuzz_aws_config_every_field`: a megabyte latency statistic or role ARN came back
/// whole in the error (and on stderr).
#[test]
fn fuzz_aws_a_1_mb_stat_or_role_is_quoted_short() {
    let huge = "x".repeat(1_000_000);
    let aws = AwsConfig {
        latency_stats: vec![huge.clone()],
        ..AwsConfig::default()
    };
    let FieldError { message, .. } = aws.validate().unwrap_err();
    assert!(message.len() < 300, "{} bytes", message.len());
    let text = format!("aws:\n  accounts:\n    - role_arn: {huge}\n");
    let config = Config::parse(&text, "c").unwrap();
    let aws: AwsConfig = section(&config, "aws").unwrap();
    let FieldError { field, message } = aws.validate().unwrap_err();
    assert_eq!(field, "aws.accounts[0].role_arn");
    assert!(message.len() < 300, "{} bytes", message.len());
}
