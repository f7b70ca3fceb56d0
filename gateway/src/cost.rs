//! What one query may cost Prometheus, checked on the parsed query before it is sent: the
//! longest range a selector or subquery reads and how many evaluation steps its subqueries
//! make. `sum_over_time(vector(1)[10y:1s])` is 315 million steps; it is refused here with
//! the reason rather than left to time out in a Prometheus every tenant shares.

use std::time::Duration;

use promql_parser::parser::{self, Expr};
use promql_parser::util::duration::display_duration;

use crate::config::QueryLimits;

/// A subquery without a step is evaluated at Prometheus' global evaluation interval, which
/// the gateway cannot see: counted as 15 s, the interval of this repository's configs.
pub const DEFAULT_SUBQUERY_STEP: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    #[error("range [{got}] is longer than this key's limit of {max}: ask for a shorter window")]
    RangeTooLong { got: String, max: String },
    #[error("the subqueries make {steps} evaluation steps, more than this key's limit of {max}: give a coarser step, e.g. [7d:5m]")]
    TooManySteps { steps: u64, max: u64 },
    #[error("a [range] inside a subquery is read again at each of its steps: {points} points, more than this key's limit of {max}: shorten the range or coarsen the step")]
    TooManyPoints { points: u64, max: u64 },
}

/// Inside a subquery, a range is read again at every step: counted in points of 15 s, its
/// total may be this many times `max_steps` (`max_over_time(rate(x[5m])[1d:1m])` is 28,800;
/// `rate(x[93d])` at 10,800 steps is 5.8 billion).
pub const POINTS_PER_STEP: u64 = 1000;

/// Checks a query the gateway is about to send (already scoped, so already parsed once and
/// bounded in depth by `guard`).
pub fn check(query: &str, limits: &QueryLimits) -> Result<(), CostError> {
    match parser::parse(query) {
        Ok(expr) => walk(&expr, 1, limits),
        // Not reachable for a scoped query; the parser's own error is reported elsewhere.
        Err(_) => Ok(()),
    }
}

fn range(d: Duration, limits: &QueryLimits) -> Result<(), CostError> {
    if d > limits.max_range {
        return Err(CostError::RangeTooLong {
            got: display_duration(&d),
            max: display_duration(&limits.max_range),
        });
    }
    Ok(())
}

/// `outer`: evaluation steps of the subqueries around `expr` (each step evaluates it anew).
fn walk(expr: &Expr, outer: u64, limits: &QueryLimits) -> Result<(), CostError> {
    match expr {
        Expr::MatrixSelector(ms) => {
            range(ms.range, limits)?;
            let own = u64::try_from(ms.range.as_millis() / DEFAULT_SUBQUERY_STEP.as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            let points = own.saturating_mul(outer);
            let max = limits.max_steps.saturating_mul(POINTS_PER_STEP);
            if outer > 1 && points > max {
                return Err(CostError::TooManyPoints { points, max });
            }
            Ok(())
        }
        Expr::Subquery(s) => {
            range(s.range, limits)?;
            let step = s
                .step
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_SUBQUERY_STEP);
            let own = s.range.as_millis().div_ceil(step.as_millis()).max(1);
            let steps = u64::try_from(own).unwrap_or(u64::MAX).saturating_mul(outer);
            if steps > limits.max_steps {
                return Err(CostError::TooManySteps {
                    steps,
                    max: limits.max_steps,
                });
            }
            walk(&s.expr, steps, limits)
        }
        Expr::Aggregate(a) => {
            walk(&a.expr, outer, limits)?;
            a.param.as_ref().map_or(Ok(()), |p| walk(p, outer, limits))
        }
        Expr::Unary(u) => walk(&u.expr, outer, limits),
        Expr::Binary(b) => {
            walk(&b.lhs, outer, limits)?;
            walk(&b.rhs, outer, limits)
        }
        Expr::Paren(p) => walk(&p.expr, outer, limits),
        Expr::Call(c) => c.args.args.iter().try_for_each(|a| walk(a, outer, limits)),
        Expr::VectorSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> QueryLimits {
        QueryLimits {
            timeout: Duration::from_secs(5),
            max_range: Duration::from_secs(93 * 86400),
            max_steps: 11_000,
            max_concurrent: 4,
        }
    }

    #[test]
    fn expensive_queries_are_refused_with_the_reason() {
        let l = limits();
        let e = check("sum_over_time(vector(1)[10y:1s])", &l).unwrap_err();
        assert!(matches!(e, CostError::RangeTooLong { .. }), "{e}");
        let e = check("sum_over_time(vector(1)[30d:1s])", &l).unwrap_err();
        assert!(e.to_string().contains("2592000 evaluation steps"), "{e}");
        let e = check("max_over_time(sum_over_time(vector(1)[1d:1m])[1d:1m])", &l).unwrap_err();
        assert_eq!(
            e,
            CostError::TooManySteps {
                steps: 1440 * 1440,
                max: 11_000
            }
        );
        assert!(check("rate(x[94d])", &l).is_err());
        assert!(check("x or rate(y[1y])", &l).is_err());
        assert!(check("max_over_time(x[7d:])", &l).is_err(), "7d at 15 s");
        let e = check("max_over_time(sum(rate(x[93d]))[1d:8s])", &l).unwrap_err();
        assert!(matches!(e, CostError::TooManyPoints { .. }), "{e}");
    }

    #[test]
    fn ordinary_queries_pass() {
        let l = limits();
        for q in [
            "sum by (model) (increase(llm_estimated_cost_usd_total[93d]))",
            "max_over_time(sum(rate(x[5m]))[1d:1m])",
            "avg_over_time(increase(x[1h])[7d:1h])",
            "rate(x[93d])",
            "max_over_time(x[1d:])",
            "sum(increase(x[86400s]))",
            "x",
        ] {
            assert_eq!(check(q, &l), Ok(()), "{q}");
        }
    }
}
