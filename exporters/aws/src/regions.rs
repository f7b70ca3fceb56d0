//! AWS region names, checked before any call: a misspelt or invented region (`us-east-9`,
//! Azure's `eastus`) would otherwise pass `--config.check` and then fail every poll with a
//! DNS error. The SDK keeps its partition table (`partitions.json`) private
//! (`endpoint_lib::partition` is `pub(crate)` in aws-sdk-cloudwatch 1.140.0), and its
//! endpoint resolver maps any name to the `aws` partition, so the regions are listed here,
//! copied from that table (aws-sdk-cloudwatch 1.140.0, `src/endpoint_lib.rs`; AWS's list:
//! https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html).
//! The pseudo-regions `aws-global` etc. are left out: CloudWatch has no such endpoint.

/// Every region of the `aws`, `aws-cn`, `aws-us-gov`, `aws-eusc` and ISO partitions.
pub const KNOWN: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "cn-north-1",
    "cn-northwest-1",
    "eusc-de-east-1",
    "us-iso-east-1",
    "us-iso-west-1",
    "us-isob-east-1",
    "us-isob-west-1",
    "eu-isoe-west-1",
    "us-isof-east-1",
    "us-isof-south-1",
    "us-gov-east-1",
    "us-gov-west-1",
];

/// `Err` with the reason when `region` is not a region of this list.
pub fn check(region: &str) -> Result<(), String> {
    if KNOWN.contains(&region) {
        return Ok(());
    }
    Err(format!(
        "{:?} is not an AWS region like us-east-1 (this release knows the regions of the AWS SDK's table at its release; a region launched since needs a newer release)",
        common::config::shorten(region, 80)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_regions_pass_and_invented_or_foreign_ones_are_named() {
        for r in ["us-east-1", "eu-central-2", "cn-north-1", "us-gov-west-1"] {
            assert_eq!(check(r), Ok(()), "{r}");
        }
        let e = check("us-east-9").unwrap_err();
        assert!(e.contains("\"us-east-9\" is not an AWS region"), "{e}");
        assert!(check("eastus")
            .unwrap_err()
            .contains("\"eastus\" is not an AWS region"));
        assert!(check("aws-global").is_err());
        assert!(check(&"x".repeat(1_000_000)).unwrap_err().len() < 300);
    }
}
