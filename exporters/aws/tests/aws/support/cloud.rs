//! Talking to LocalStack's CloudWatch as a test: put Bedrock datapoints.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

const NS: &str = "AWS/Bedrock";

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn cloudwatch_in(url: &str, region: &str) -> aws_sdk_cloudwatch::Client {
    let config = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

/// Puts datapoints (metric, ModelId, Unix seconds, value) into AWS/Bedrock.
pub fn put(
    rt: &tokio::runtime::Runtime,
    cw: &aws_sdk_cloudwatch::Client,
    points: &[(&str, &str, i64, f64)],
) {
    for chunk in points.chunks(100) {
        let data: Vec<MetricDatum> = chunk
            .iter()
            .map(|(metric, model, t, v)| {
                MetricDatum::builder()
                    .metric_name(*metric)
                    .dimensions(Dimension::builder().name("ModelId").value(*model).build())
                    .timestamp(DateTime::from_secs(*t))
                    .value(*v)
                    .unit(
                        if metric.contains("Latency") || metric.contains("FirstToken") {
                            StandardUnit::Milliseconds
                        } else {
                            StandardUnit::Count
                        },
                    )
                    .build()
            })
            .collect();
        rt.block_on(
            cw.put_metric_data()
                .namespace(NS)
                .set_metric_data(Some(data))
                .send(),
        )
        .expect("PutMetricData to LocalStack");
    }
}

/// A CloudWatch client of LocalStack in us-east-1.
pub fn cloudwatch(url: &str) -> aws_sdk_cloudwatch::Client {
    cloudwatch_in(url, "us-east-1")
}

/// One AWS/BedrockMantle datapoint: (metric, Project, Model, Unix seconds, value).
pub type MantlePoint<'a> = (&'a str, Option<&'a str>, Option<&'a str>, i64, f64);

/// Puts datapoints into AWS/BedrockMantle: (metric, Project, Model, Unix seconds, value), a
/// dimension left out when None (the Account, Project and Model levels of the same traffic).
pub fn put_mantle(
    rt: &tokio::runtime::Runtime,
    cw: &aws_sdk_cloudwatch::Client,
    points: &[MantlePoint],
) {
    for chunk in points.chunks(100) {
        let data: Vec<MetricDatum> = chunk
            .iter()
            .map(|(metric, project, model, t, v)| {
                let mut dims = Vec::new();
                if let Some(p) = project {
                    dims.push(Dimension::builder().name("Project").value(*p).build());
                }
                if let Some(m) = model {
                    dims.push(Dimension::builder().name("Model").value(*m).build());
                }
                MetricDatum::builder()
                    .metric_name(*metric)
                    .set_dimensions(Some(dims))
                    .timestamp(DateTime::from_secs(*t))
                    .value(*v)
                    .unit(StandardUnit::Count)
                    .build()
            })
            .collect();
        rt.block_on(
            cw.put_metric_data()
                .namespace("AWS/BedrockMantle")
                .set_metric_data(Some(data))
                .send(),
        )
        .expect("PutMetricData to LocalStack");
    }
}

/// One AWS/Bedrock datapoint per service tier: (metric, ModelId, ServiceTier,
/// ResolvedServiceTier, Unix seconds, value), a tier dimension left out when None.
pub type TierPoint<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, i64, f64);

/// Puts datapoints into AWS/Bedrock under the `ModelId` + service-tier dimension sets.
pub fn put_tiers(
    rt: &tokio::runtime::Runtime,
    cw: &aws_sdk_cloudwatch::Client,
    points: &[TierPoint],
) {
    for chunk in points.chunks(100) {
        let data: Vec<MetricDatum> = chunk
            .iter()
            .map(|(metric, model, requested, served, t, v)| {
                let mut dims = vec![Dimension::builder().name("ModelId").value(*model).build()];
                if let Some(r) = requested {
                    dims.push(Dimension::builder().name("ServiceTier").value(*r).build());
                }
                if let Some(s) = served {
                    dims.push(
                        Dimension::builder()
                            .name("ResolvedServiceTier")
                            .value(*s)
                            .build(),
                    );
                }
                MetricDatum::builder()
                    .metric_name(*metric)
                    .set_dimensions(Some(dims))
                    .timestamp(DateTime::from_secs(*t))
                    .value(*v)
                    .unit(StandardUnit::Count)
                    .build()
            })
            .collect();
        rt.block_on(
            cw.put_metric_data()
                .namespace(NS)
                .set_metric_data(Some(data))
                .send(),
        )
        .expect("PutMetricData to LocalStack");
    }
}
