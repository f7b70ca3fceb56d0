//! Exports of overlapping scopes under one configured source: each subscription's month is
//! billed from one export only.
//!
//! Cost Management exports a billing account, billing profile, management group, subscription
//! or resource group; an export of a wider scope holds every row of the subscriptions under
//! it, so a billing-account export and a subscription export of the same subscription hold
//! the same charges. Microsoft's FinOps hubs do not reconcile them ("Don't configure
//! overlapping export scopes, as this will result in duplicate cost data": FinOps toolkit,
//! "Configure scopes", <https://learn.microsoft.com/cloud-computing/finops/toolkit/hubs/configure-scopes>).
//! The manifest names the export's scope (`exportConfig.resourceId`,
//! `/<scope>/providers/Microsoft.CostManagement/exports/<name>`), but a billing account's
//! scope does not say which subscriptions it holds: the rows do. So, per month and
//! subscription, the export whose run was submitted last (then whose manifest was written
//! last) is read and the other exports' rows of that subscription and month are not counted;
//! a later run holds at least the days of an earlier one of the same month.

use std::collections::{BTreeMap, BTreeSet};

use super::ledger::Period;

/// One export's run of one month: the overlap rule is given the newest run of each.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The key of the run's period in the export's ledger.
    pub period: String,
    /// `2026-11`.
    pub month: String,
    /// The export: its `exportConfig.resourceId`, else its name.
    pub export: String,
    /// Submitted time, manifest write time (ms), manifest path: the largest wins.
    pub order: (String, i64, String),
}

/// What the overlap rule keeps out, and what the answer says about it.
#[derive(Debug, Default, PartialEq)]
pub struct Overlap {
    /// (period key, subscription) whose rows are not counted.
    pub dropped: BTreeSet<(String, String)>,
    pub notes: Vec<String>,
}

/// Subscriptions named in one note at most.
const NAMED: usize = 5;

/// The rule over the periods as read: the subscriptions each run's rows hold.
pub fn overlaps(claims: &[Claim], periods: &BTreeMap<String, Period>) -> Overlap {
    let held: Vec<(&Claim, BTreeSet<&str>)> = claims
        .iter()
        .map(|c| {
            let accounts = periods
                .get(&c.period)
                .map(|p| p.sums.cells.keys().map(|k| k.account.as_str()).collect())
                .unwrap_or_default();
            (c, accounts)
        })
        .collect();
    resolve(&held)
}

/// For each month and subscription held by several runs, the run submitted last keeps it.
pub fn resolve(held: &[(&Claim, BTreeSet<&str>)]) -> Overlap {
    let mut holders: BTreeMap<(&str, &str), Vec<&Claim>> = BTreeMap::new();
    for (claim, accounts) in held {
        for a in accounts {
            holders.entry((&claim.month, a)).or_default().push(claim);
        }
    }
    let mut out = Overlap::default();
    // (month, kept export, dropped export) -> subscriptions.
    let mut pairs: BTreeMap<(&str, &str, &str), Vec<&str>> = BTreeMap::new();
    for ((month, account), claims) in holders {
        let Some(winner) = claims.iter().max_by(|a, b| a.order.cmp(&b.order)) else {
            continue;
        };
        for c in claims.iter().filter(|c| c.period != winner.period) {
            out.dropped.insert((c.period.clone(), account.to_string()));
            pairs
                .entry((month, &winner.export, &c.export))
                .or_default()
                .push(account);
        }
    }
    for ((month, kept, dropped), subs) in pairs {
        let named: Vec<&str> = subs
            .iter()
            .take(NAMED)
            .map(|s| if s.is_empty() { "(none)" } else { s })
            .collect();
        let more = subs.len().saturating_sub(NAMED);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        out.notes.push(format!(
            "{month}: exports {kept} and {dropped} both hold subscription {}{more}: counted once, from {kept} (its run was submitted last); {dropped}'s rows of it are not counted",
            named.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(period: &str, export: &str, submitted: &str) -> Claim {
        Claim {
            period: period.to_string(),
            month: period[..7].to_string(),
            export: export.to_string(),
            order: (submitted.to_string(), 0, period.to_string()),
        }
    }

    #[test]
    fn each_subscription_month_counts_from_the_run_submitted_last() {
        let ba = "/providers/Microsoft.Billing/billingAccounts/123/providers/Microsoft.CostManagement/exports/all";
        let s1 = "/subscriptions/s1/providers/Microsoft.CostManagement/exports/s1";
        let s3 = "/subscriptions/s3/providers/Microsoft.CostManagement/exports/s3";
        let wide = claim("2026-11 all", ba, "2026-11-09T06:00:00Z");
        let narrow = claim("2026-11 s1", s1, "2026-11-08T06:00:00Z");
        let other = claim("2026-11 s3", s3, "2026-11-10T06:00:00Z");
        // October: only the subscription export ran; it keeps its month.
        let october = claim("2026-10 s1", s1, "2026-11-01T06:00:00Z");
        let held = vec![
            (&wide, BTreeSet::from(["s1", "s2"])),
            (&narrow, BTreeSet::from(["s1"])),
            (&other, BTreeSet::from(["s3"])),
            (&october, BTreeSet::from(["s1"])),
        ];
        let o = resolve(&held);
        assert_eq!(
            o.dropped,
            BTreeSet::from([("2026-11 s1".to_string(), "s1".to_string())])
        );
        assert_eq!(o.notes.len(), 1, "{:?}", o.notes);
        let n = &o.notes[0];
        assert!(
            n.starts_with("2026-11: exports ") && n.contains(ba) && n.contains(s1),
            "{n}"
        );
        assert!(
            n.contains("subscription s1:") && n.contains(&format!("from {ba}")),
            "{n}"
        );

        // The subscription export runs later: it keeps s1, the billing account keeps s2.
        let narrow = claim("2026-11 s1", s1, "2026-11-10T06:00:00Z");
        let held = vec![
            (&wide, BTreeSet::from(["s1", "s2"])),
            (&narrow, BTreeSet::from(["s1"])),
        ];
        assert_eq!(
            resolve(&held).dropped,
            BTreeSet::from([("2026-11 all".to_string(), "s1".to_string())])
        );

        // Disjoint subscriptions all count.
        let held = vec![
            (&wide, BTreeSet::from(["s2"])),
            (&narrow, BTreeSet::from(["s1"])),
        ];
        assert_eq!(resolve(&held), Overlap::default());
    }

    #[test]
    fn equal_submitted_times_are_broken_by_the_manifest() {
        let mut a = claim("2026-11 a", "a", "2026-11-09T06:00:00Z");
        let mut b = claim("2026-11 b", "b", "2026-11-09T06:00:00Z");
        a.order.1 = 5;
        b.order.1 = 7;
        let held = vec![(&a, BTreeSet::from(["s"])), (&b, BTreeSet::from(["s"]))];
        let o = resolve(&held);
        assert_eq!(
            o.dropped,
            BTreeSet::from([("2026-11 a".to_string(), "s".to_string())])
        );
        // Many subscriptions: a few are named, the rest counted.
        let many: BTreeSet<&str> = ["s1", "s2", "s3", "s4", "s5", "s6", "s7"].into();
        let held = vec![(&a, many.clone()), (&b, many)];
        let o = resolve(&held);
        assert_eq!(o.dropped.len(), 7);
        assert!(o.notes[0].contains("s5 and 2 more"), "{:?}", o.notes);
    }
}
