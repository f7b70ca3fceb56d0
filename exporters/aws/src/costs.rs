//! What polling CloudWatch costs a month, by the rules the exporter follows: every metric of a
//! model in use every `poll_interval`, the request metrics of an idle model every
//! `aws.idle_probe_interval`, at GetMetricData's price per metric requested. The tables
//! of docs/polling-costs.md are these figures; a test checks them.

use crate::metrics_api::USD_PER_METRIC_REQUESTED;

/// A fleet of one size, polled one way.
#[derive(Clone, Copy, Debug)]
pub struct Fleet {
    /// Accounts × regions polled.
    pub scopes: u32,
    /// Models listed in each scope.
    pub models: u32,
    /// Share of models in use (traffic in the open window), 0 to 1.
    pub in_use: f64,
    /// Metrics a model in use is asked for each poll (14: 8 counters, 2 latency metrics at 3
    /// statistics each).
    pub metrics: u32,
    /// Metrics an idle model's probe asks for (4: `Invocations`, client and server errors,
    /// throttles).
    pub probe_metrics: u32,
}

/// USD a month (30 days) when every model is asked every metric every `interval` seconds.
pub fn every_metric(f: Fleet, interval: i64) -> f64 {
    let polls = common::budget::SECONDS_PER_MONTH / interval as f64;
    f64::from(f.scopes * f.models * f.metrics) * polls * USD_PER_METRIC_REQUESTED
}

/// USD a month with idle models probed every `probe` seconds and models in use fetched in
/// full every `poll` seconds.
pub fn idle_probed(f: Fleet, poll: i64, probe: i64) -> f64 {
    let month = common::budget::SECONDS_PER_MONTH;
    let models = f64::from(f.scopes * f.models);
    let busy = models * f.in_use * f64::from(f.metrics) * month / poll as f64;
    let idle = models * (1.0 - f.in_use) * f64::from(f.probe_metrics) * month / probe as f64;
    (busy + idle) * USD_PER_METRIC_REQUESTED
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::{Ask, Pace, Watch};

    const FLEET: Fleet = Fleet {
        scopes: 1,
        models: 10,
        in_use: 0.0,
        metrics: 14,
        probe_metrics: 4,
    };

    /// Metrics requested per poll over an hour of 15 s polls, by the exporter's own rules, for
    /// 10 models of which `busy` have traffic every minute.
    fn simulated_per_poll(busy: usize) -> f64 {
        let pace = Pace::at(15, 60, 300, 1.0);
        let mut watch = Watch::default();
        let (mut requested, mut polls) = (0u64, 0u64);
        for tick in 0..240i64 {
            let now = 1_790_000_000 + tick * 15;
            let open_from = now - 600;
            for m in 0..10 {
                let model = format!("m{m}");
                let traffic = (m < busy).then_some(now / 60 * 60);
                match watch.ask(&model, now, open_from, pace) {
                    Ask::Full => {
                        requested += u64::from(FLEET.metrics);
                        watch.fetched(&model, now, traffic);
                    }
                    Ask::Probe => {
                        requested += u64::from(FLEET.probe_metrics);
                        if watch.probed(&model, now, traffic) {
                            requested += u64::from(FLEET.metrics);
                            watch.fetched(&model, now, traffic);
                        }
                    }
                    Ask::Nothing => {}
                }
            }
            polls += 1;
        }
        requested as f64 / polls as f64
    }

    #[test]
    fn the_formula_is_what_the_exporter_requests() {
        for (busy, share) in [(0, 0.0), (1, 0.1), (5, 0.5), (10, 1.0)] {
            let per_poll = simulated_per_poll(busy);
            let f = Fleet {
                in_use: share,
                ..FLEET
            };
            let formula = idle_probed(f, 15, 60)
                / USD_PER_METRIC_REQUESTED
                / (common::budget::SECONDS_PER_MONTH / 15.0);
            eprintln!(
                "{busy} of 10 in use: {per_poll:.2} metrics per poll (formula {formula:.2}, every metric {})",
                FLEET.models * FLEET.metrics
            );
            // The first poll probes every model at once (+1 probe each over the hour).
            assert!(
                (per_poll - formula).abs() <= formula * 0.03 + 0.2,
                "{busy} in use: simulated {per_poll}, formula {formula}"
            );
        }
        // One model in ten in use: at most a quarter of every metric every poll.
        let all = f64::from(FLEET.models * FLEET.metrics);
        assert!(simulated_per_poll(1) <= all / 4.0);
    }

    /// The AWS table of docs/polling-costs.md: (scopes, models, share in use) and its three dollar figures.
    #[test]
    fn the_readme_table_is_the_formula() {
        let readme = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/polling-costs.md"
        ))
        .unwrap();
        let section = readme
            .split("<!-- aws-cost-table -->")
            .nth(1)
            .expect("the AWS cost table of docs/polling-costs.md")
            .trim_start()
            .split("\n\n")
            .next()
            .unwrap();
        let dollars = |cell: &str| -> f64 {
            cell.trim()
                .trim_start_matches('$')
                .replace(',', "")
                .parse()
                .unwrap_or_else(|_| panic!("{cell:?}"))
        };
        let mut rows = 0;
        for line in section
            .lines()
            .filter(|l| l.starts_with("| ") && !l.contains("---"))
        {
            let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
            let Ok(scopes) = cells[0].trim().parse::<u32>() else {
                continue;
            };
            let f = Fleet {
                scopes,
                models: cells[1].trim().parse().unwrap(),
                in_use: cells[2]
                    .trim()
                    .trim_end_matches(" %")
                    .parse::<f64>()
                    .unwrap()
                    / 100.0,
                ..FLEET
            };
            let want = [
                every_metric(f, 15),
                idle_probed(f, 15, 60),
                every_metric(f, 300),
            ];
            for (i, w) in want.iter().enumerate() {
                let got = dollars(cells[3 + i]);
                assert!(
                    (got - w).abs() < 0.006,
                    "{line}: column {} is {got}, formula {w:.2}",
                    4 + i
                );
            }
            rows += 1;
        }
        assert_eq!(rows, 24, "3 fleet sizes x 2 model counts x 4 shares");
    }
}
