//! The pages of one GetMetricData chunk, merged by query Id, and whether every query
//! completed. MetricDataResult.StatusCode (CloudWatch API reference): `Complete`,
//! `InternalError`, `PartialData` ("NextToken is not returned if you are performing a math
//! expression"), `Forbidden`; a query's status is its last page's.

use std::collections::HashMap;

use aws_sdk_cloudwatch::types::{MessageData, MetricDataResult, StatusCode};
use common::error::FailureKind;

/// Datapoints per query, in the order of the queries given: (Unix seconds, value).
pub type Series = Vec<Vec<(i64, f64)>>;

/// The pages of one GetMetricData chunk, merged by query Id.
#[derive(Default)]
pub struct Merged {
    points: HashMap<String, Vec<(i64, f64)>>,
    /// Each query's last StatusCode and messages.
    status: HashMap<String, (Option<StatusCode>, String)>,
    /// Messages about the whole call ("as much of the operation as possible is still
    /// executed": some data may be missing).
    call_messages: Vec<String>,
}

fn messages(m: &[MessageData]) -> String {
    m.iter()
        .map(|m| match (m.code(), m.value()) {
            (Some(c), Some(v)) => format!("{c}: {v}"),
            (Some(s), None) | (None, Some(s)) => s.to_string(),
            (None, None) => String::new(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Merged {
    /// The kind of failure of query `id` that did not complete: `Forbidden` (the caller may
    /// not read the metric) is denied; the other statuses, a missing answer and a message
    /// about the call mean data may be missing.
    pub fn failure_kind(&self, id: &str) -> FailureKind {
        match self.status.get(id) {
            Some((Some(StatusCode::Forbidden), _)) => FailureKind::Denied,
            _ => FailureKind::Incomplete,
        }
    }

    /// Merges one page (every page repeats every Id, each with its next datapoints; a query's
    /// status is the last page's).
    pub fn page(&mut self, results: &[MetricDataResult], call_messages: &[MessageData]) {
        for r in results {
            let Some(id) = r.id() else { continue };
            self.points.entry(id.to_string()).or_default().extend(
                r.timestamps()
                    .iter()
                    .zip(r.values())
                    .map(|(t, v)| (t.secs(), *v)),
            );
            self.status.insert(
                id.to_string(),
                (r.status_code().cloned(), messages(r.messages())),
            );
        }
        if !call_messages.is_empty() {
            self.call_messages.push(messages(call_messages));
        }
    }

    /// After the last page (no NextToken): the datapoints of `ids` in order, or the index of
    /// the first query that did not complete and why. `Complete` (or no status, which the
    /// API allows) is complete; `PartialData` with no NextToken left, `InternalError`,
    /// `Forbidden`, an unknown status, a query missing from the answer or a message about the
    /// whole call are not: the scope's poll fails and the window is fetched again.
    pub fn finish(&mut self, ids: impl Iterator<Item = String>) -> Result<Series, (usize, String)> {
        let mut out = Vec::new();
        for (i, id) in ids.enumerate() {
            let why = match self.status.get(&id) {
                None => Some("no result for this query".to_string()),
                Some((None | Some(StatusCode::Complete), _)) => None,
                Some((Some(StatusCode::PartialData), m)) => Some(format!(
                    "PartialData and no NextToken to fetch the rest {m}"
                )),
                Some((Some(code), m)) => Some(format!("{} {m}", code.as_str())),
            };
            if let Some(why) = why {
                return Err((i, why.trim_end().to_string()));
            }
            if let Some(m) = self.call_messages.first() {
                return Err((i, format!("the call returned a message: {m}")));
            }
            out.push(self.points.remove(&id).unwrap_or_default());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::primitives::DateTime;

    fn result(id: &str, points: &[(i64, f64)], status: StatusCode) -> MetricDataResult {
        MetricDataResult::builder()
            .id(id)
            .set_timestamps(Some(
                points
                    .iter()
                    .map(|(t, _)| DateTime::from_secs(*t))
                    .collect(),
            ))
            .set_values(Some(points.iter().map(|(_, v)| *v).collect()))
            .status_code(status)
            .build()
    }

    fn ids(n: usize) -> impl Iterator<Item = String> {
        (0..n).map(|i| format!("q{i}"))
    }

    fn message(code: &str, value: &str) -> MessageData {
        MessageData::builder().code(code).value(value).build()
    }

    #[test]
    fn pages_are_merged_by_query_id() {
        let mut merged = Merged::default();
        // Page 1: both queries partial; page 2: the rest, in another order.
        merged.page(
            &[
                result("q0", &[(60, 1.0)], StatusCode::PartialData),
                result("q1", &[(60, 5.0)], StatusCode::PartialData),
            ],
            &[],
        );
        merged.page(
            &[
                result("q1", &[(120, 6.0)], StatusCode::Complete),
                result("q0", &[(120, 2.0), (180, 3.0)], StatusCode::Complete),
            ],
            &[],
        );
        let out = merged.finish(ids(2)).unwrap();
        assert_eq!(out[0], vec![(60, 1.0), (120, 2.0), (180, 3.0)]);
        assert_eq!(out[1], vec![(60, 5.0), (120, 6.0)]);
    }

    #[test]
    fn a_query_that_ends_in_error_fails_with_the_clouds_message() {
        let mut merged = Merged::default();
        let forbidden = MetricDataResult::builder()
            .id("q1")
            .status_code(StatusCode::Forbidden)
            .messages(message("Forbidden", "not authorized"))
            .build();
        merged.page(
            &[result("q0", &[(60, 1.0)], StatusCode::Complete), forbidden],
            &[],
        );
        let (i, why) = merged.finish(ids(2)).unwrap_err();
        assert_eq!(i, 1);
        assert!(
            why.contains("Forbidden") && why.contains("not authorized"),
            "{why}"
        );

        let mut merged = Merged::default();
        merged.page(&[result("q0", &[], StatusCode::InternalError)], &[]);
        let (_, why) = merged.finish(ids(1)).unwrap_err();
        assert!(why.contains("InternalError"), "{why}");

        // InternalError followed by a complete page (retried with NextToken) is fine.
        let mut merged = Merged::default();
        merged.page(&[result("q0", &[], StatusCode::InternalError)], &[]);
        merged.page(&[result("q0", &[(60, 1.0)], StatusCode::Complete)], &[]);
        assert_eq!(merged.finish(ids(1)).unwrap()[0], vec![(60, 1.0)]);
    }

    #[test]
    fn partial_data_on_the_last_page_is_not_complete() {
        // The caller calls finish() only when no NextToken came back: PartialData then means
        // datapoints are missing that no further page will bring (MetricDataResult.StatusCode:
        // "NextToken is not returned if you are performing a math expression").
        let mut merged = Merged::default();
        merged.page(&[result("q0", &[(60, 1.0)], StatusCode::PartialData)], &[]);
        let (i, why) = merged.finish(ids(1)).unwrap_err();
        assert_eq!(i, 0);
        assert!(why.contains("PartialData"), "{why}");
    }

    #[test]
    fn a_missing_query_or_a_message_about_the_call_is_not_complete() {
        let mut merged = Merged::default();
        merged.page(&[result("q0", &[(60, 1.0)], StatusCode::Complete)], &[]);
        assert_eq!(merged.finish(ids(2)).unwrap_err().0, 1, "q1 never answered");

        let mut merged = Merged::default();
        merged.page(
            &[result("q0", &[(60, 1.0)], StatusCode::Complete)],
            &[message(
                "MaxMetricsExceeded",
                "Maximum number of allowed metrics exceeded",
            )],
        );
        let (_, why) = merged.finish(ids(1)).unwrap_err();
        assert!(
            why.contains("Maximum number of allowed metrics exceeded"),
            "{why}"
        );
    }

    #[test]
    fn no_status_code_is_complete() {
        // StatusCode is optional in the API reference.
        let mut merged = Merged::default();
        let r = MetricDataResult::builder()
            .id("q0")
            .timestamps(DateTime::from_secs(60))
            .values(2.0)
            .build();
        merged.page(&[r], &[]);
        assert_eq!(merged.finish(ids(1)).unwrap()[0], vec![(60, 2.0)]);
    }

    #[test]
    fn a_forbidden_query_is_denied_and_the_others_incomplete() {
        let mut merged = Merged::default();
        let forbidden = MetricDataResult::builder()
            .id("q1")
            .status_code(StatusCode::Forbidden)
            .build();
        merged.page(
            &[result("q0", &[], StatusCode::PartialData), forbidden],
            &[],
        );
        assert_eq!(merged.failure_kind("q1"), FailureKind::Denied);
        assert_eq!(merged.failure_kind("q0"), FailureKind::Incomplete);
        assert_eq!(merged.failure_kind("q9"), FailureKind::Incomplete);
    }
}
