//! Tenant isolation: every query the gateway sends upstream is parsed, and every vector and
//! matrix selector in its AST (inside functions, aggregations, binary operations, subqueries)
//! gets the tenant matcher; any `tenant` matcher the caller wrote is removed first, so no
//! `tenant!="x"`, `tenant=~".*"` or `{__name__=~".+"}` can widen what a selector sees. The
//! same walk adds a `cloud` matcher for an upstream that holds several clouds. This is what
//! prom-label-proxy does, on the parsed query rather than on its text.

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::{self, Expr, VectorSelector};

/// The label the exporters put tenants in.
pub const TENANT_LABEL: &str = "tenant";

/// Which tenant's series a query may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantFilter {
    /// Only series with `tenant="<name>"`.
    Tenant(String),
    /// Only series without a tenant (the exporters' own health); fixed gateway queries only.
    Untenanted,
    /// No tenant matcher: the admin key without a `tenant_id`.
    Any,
}

impl TenantFilter {
    pub fn from_scope(tenant: Option<&str>) -> TenantFilter {
        match tenant {
            Some(t) => TenantFilter::Tenant(t.to_string()),
            None => TenantFilter::Any,
        }
    }

    /// Whether a result series' labels are allowed through (defence in depth: a
    /// `label_replace` can relabel the caller's own series as another tenant's).
    pub fn allows(&self, tenant_label: Option<&str>) -> bool {
        match self {
            TenantFilter::Tenant(t) => tenant_label.is_none_or(|l| l == t),
            TenantFilter::Untenanted => tenant_label.is_none_or(str::is_empty),
            TenantFilter::Any => true,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    #[error("invalid PromQL: {0}")]
    Parse(String),
    #[error("the PromQL function {0}() is not allowed through the gateway")]
    Forbidden(String),
    #[error("{0}")]
    Guard(#[from] crate::guard::GuardError),
}

/// Functions that read series other than their selector arguments' (Prometheus 3's `info`
/// joins `target_info` implicitly), refused rather than trusted.
const FORBIDDEN_FUNCTIONS: &[&str] = &["info"];

/// Parses `query`, scopes every selector and prints it back (with a `cloud` matcher).
#[cfg(test)]
pub fn scope_query(
    query: &str,
    tenant: &TenantFilter,
    cloud: Option<crate::config::Cloud>,
) -> Result<String, ScopeError> {
    let cloud = cloud.map(|c| Matcher::new(MatchOp::Equal, "cloud", c.as_str()));
    scope_query_with(query, tenant, cloud)
}

/// Like `scope_query`, with any matcher (or none) telling the upstream's clouds apart.
pub fn scope_query_with(
    query: &str,
    tenant: &TenantFilter,
    cloud: Option<Matcher>,
) -> Result<String, ScopeError> {
    // Bounded before parsing: the parser and every walk after it recurse per nesting level.
    crate::guard::check(query)?;
    let mut expr = parser::parse(query).map_err(ScopeError::Parse)?;
    let mut extra = Vec::new();
    match tenant {
        TenantFilter::Tenant(t) => extra.push(Matcher::new(MatchOp::Equal, TENANT_LABEL, t)),
        TenantFilter::Untenanted => extra.push(Matcher::new(MatchOp::Equal, TENANT_LABEL, "")),
        TenantFilter::Any => {}
    }
    extra.extend(cloud);
    walk(&mut expr, &extra)?;
    let printed = expr.to_string();
    verify(&printed, &extra)?;
    Ok(printed)
}

/// Parses the printed query again and checks that every selector carries exactly our
/// matchers on our labels: a guard against a printer that would write something other than
/// the AST we scoped. Fails closed.
fn verify(printed: &str, extra: &[Matcher]) -> Result<(), ScopeError> {
    let expr = parser::parse(printed).map_err(ScopeError::Parse)?;
    let mut selectors = Vec::new();
    collect(&expr, &mut selectors);
    for vs in selectors {
        let groups: Vec<&Vec<Matcher>> = if vs.matchers.or_matchers.is_empty() {
            vec![&vs.matchers.matchers]
        } else {
            vs.matchers.or_matchers.iter().collect()
        };
        for group in groups {
            for want in extra {
                let on_label: Vec<&Matcher> =
                    group.iter().filter(|m| m.name == want.name).collect();
                let exact = on_label.len() == 1 && on_label[0].to_string() == want.to_string();
                if !exact {
                    return Err(ScopeError::Parse(format!(
                        "internal error: a selector lost its {} matcher",
                        want.name
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Every vector selector of an expression (matrix selectors' included).
pub fn collect<'e>(expr: &'e Expr, out: &mut Vec<&'e VectorSelector>) {
    match expr {
        Expr::VectorSelector(vs) => out.push(vs),
        Expr::MatrixSelector(ms) => out.push(&ms.vs),
        Expr::Aggregate(x) => {
            collect(&x.expr, out);
            if let Some(p) = &x.param {
                collect(p, out);
            }
        }
        Expr::Unary(x) => collect(&x.expr, out),
        Expr::Binary(x) => {
            collect(&x.lhs, out);
            collect(&x.rhs, out);
        }
        Expr::Paren(x) => collect(&x.expr, out),
        Expr::Subquery(x) => collect(&x.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|e| collect(e, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn walk(expr: &mut Expr, extra: &[Matcher]) -> Result<(), ScopeError> {
    match expr {
        Expr::VectorSelector(vs) => inject(vs, extra),
        Expr::MatrixSelector(ms) => inject(&mut ms.vs, extra),
        Expr::Aggregate(a) => {
            walk(&mut a.expr, extra)?;
            if let Some(p) = a.param.as_mut() {
                walk(p, extra)?;
            }
        }
        Expr::Unary(u) => walk(&mut u.expr, extra)?,
        Expr::Binary(b) => {
            walk(&mut b.lhs, extra)?;
            walk(&mut b.rhs, extra)?;
        }
        Expr::Paren(p) => walk(&mut p.expr, extra)?,
        Expr::Subquery(s) => walk(&mut s.expr, extra)?,
        Expr::Call(c) => {
            if FORBIDDEN_FUNCTIONS.contains(&c.func.name) {
                return Err(ScopeError::Forbidden(c.func.name.to_string()));
            }
            for arg in c.args.args.iter_mut() {
                walk(arg, extra)?;
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::Extension(_) => return Err(ScopeError::Forbidden("extension".into())),
    }
    Ok(())
}

/// Replaces the selector's matchers on the labels we set (every `tenant` and `cloud`
/// matcher the caller wrote) with ours, in the plain list and in every `or` group.
fn inject(vs: &mut VectorSelector, extra: &[Matcher]) {
    let ours: Vec<&str> = extra.iter().map(|m| m.name.as_str()).collect();
    let fix = |group: &mut Vec<Matcher>| {
        group.retain(|m| !ours.contains(&m.name.as_str()));
        group.extend(extra.iter().cloned());
    };
    fix(&mut vs.matchers.matchers);
    for group in vs.matchers.or_matchers.iter_mut() {
        fix(group);
    }
}

/// A selector built by the gateway itself: `name{label=~"value"}` with a regex matcher
/// (the value is the caller's, so it goes into the AST, never into the text).
pub fn selector_with_regex(name: &str, label: &str, regex: &str) -> Result<String, ScopeError> {
    // Check the regex the way Prometheus will use it (fully anchored, RE2 syntax).
    let probe = format!("{name}{{{label}=~\"\"}}");
    let mut expr = parser::parse(&probe).map_err(ScopeError::Parse)?;
    let op = Matcher::new_matcher(
        promql_parser::parser::token::T_EQL_REGEX,
        label.to_string(),
        regex.to_string(),
    )
    .map_err(ScopeError::Parse)?;
    if let Expr::VectorSelector(vs) = &mut expr {
        vs.matchers = Matchers::new(vec![op]);
    }
    Ok(expr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cloud;

    fn a() -> TenantFilter {
        TenantFilter::Tenant("a".into())
    }

    /// Every selector in the scoped query has exactly one tenant matcher, `tenant="a"`.
    fn assert_only_a(query: &str) -> String {
        let scoped = scope_query(query, &a(), None).unwrap_or_else(|e| panic!("{query}: {e}"));
        let expr = parser::parse(&scoped).unwrap_or_else(|e| panic!("{scoped}: {e}"));
        let mut selectors = Vec::new();
        collect(&expr, &mut selectors);
        assert!(!selectors.is_empty(), "{scoped}");
        for vs in selectors {
            let groups: Vec<&Vec<Matcher>> = if vs.matchers.or_matchers.is_empty() {
                vec![&vs.matchers.matchers]
            } else {
                vs.matchers.or_matchers.iter().collect()
            };
            for g in groups {
                let tenant: Vec<_> = g.iter().filter(|m| m.name == TENANT_LABEL).collect();
                assert_eq!(tenant.len(), 1, "{query} -> {scoped}");
                assert!(matches!(tenant[0].op, MatchOp::Equal), "{scoped}");
                assert_eq!(tenant[0].value, "a", "{scoped}");
            }
        }
        scoped
    }

    #[test]
    fn plain_selectors_get_the_tenant() {
        assert_eq!(
            assert_only_a("llm_tokens_total"),
            "llm_tokens_total{tenant=\"a\"}"
        );
        assert_only_a("sum by (model) (rate(llm_tokens_total{cloud=\"aws\"}[5m]))");
    }

    #[test]
    fn name_regex_escape_is_scoped() {
        assert_eq!(
            assert_only_a("{__name__=~\".+\"}"),
            "{__name__=~\".+\",tenant=\"a\"}"
        );
        assert_only_a("count({__name__=~\"llm.*\", tenant=\"b\"})");
    }

    #[test]
    fn or_with_another_selector_is_scoped_on_both_sides() {
        let s = assert_only_a("llm_tokens_total or llm_estimated_cost_usd_total{tenant=\"b\"}");
        assert!(!s.contains("\"b\""), "{s}");
        assert_only_a("sum(llm_tokens_total) or on() vector(1) or {tenant=\"b\"}");
    }

    #[test]
    fn negative_and_regex_tenant_matchers_are_replaced() {
        for q in [
            "llm_tokens_total{tenant!=\"a\"}",
            "llm_tokens_total{tenant=~\".*\"}",
            "llm_tokens_total{tenant=~\"a|b\"}",
            "llm_tokens_total{tenant!~\"a\"}",
            "llm_tokens_total{tenant=\"a\", tenant=\"b\"}",
            "llm_tokens_total{tenant=~\"(?i)B\"}",
        ] {
            let s = assert_only_a(q);
            assert!(!s.contains("!") && !s.contains("=~"), "{q} -> {s}");
        }
    }

    #[test]
    fn subqueries_and_functions_are_scoped() {
        assert_only_a("max_over_time(sum(rate(llm_tokens_total{tenant=\"b\"}[1m]))[10m:1m])");
        assert_only_a(
            "label_replace(llm_tokens_total{tenant=\"b\"}, \"tenant\", \"a\", \"tenant\", \".*\")",
        );
        assert_only_a("topk(3, sum by (model) (increase(llm_estimated_cost_usd_total[1h])))");
        assert_only_a(
            "llm_tokens_total offset 5m * on (model) group_left llm_model_price_usd_per_token",
        );
        assert_only_a("-(llm_tokens_total @ 1700000000)");
        assert_only_a("quantile_over_time(0.9, llm_invocation_latency_seconds[1h:])");
        assert_only_a("absent(nonexistent{tenant=~\".+\"})");
        assert_only_a("count_values(\"v\", llm_budget_usd)");
    }

    #[test]
    fn or_matcher_groups_each_get_the_tenant() {
        // PromQL 3 `{a="1" or b="2"}`: every alternative is scoped.
        if let Ok(s) = scope_query("{model=\"x\" or tenant=\"b\"}", &a(), None) {
            assert!(!s.contains("\"b\""), "{s}");
            assert_only_a("{model=\"x\" or tenant=\"b\"}");
        }
    }

    #[test]
    fn untenanted_and_cloud_matchers() {
        assert_eq!(
            scope_query("up", &TenantFilter::Untenanted, Some(Cloud::Gcp)).unwrap(),
            "up{cloud=\"gcp\",tenant=\"\"}"
        );
        assert_eq!(
            scope_query("x{cloud=\"aws\"}", &TenantFilter::Any, Some(Cloud::Gcp)).unwrap(),
            "x{cloud=\"gcp\"}"
        );
        assert_eq!(scope_query("x", &TenantFilter::Any, None).unwrap(), "x");
    }

    #[test]
    fn bad_queries_are_errors_not_panics() {
        for q in [
            "",
            "sum(",
            "x{",
            "x[5m",
            "info(up)",
            "}{",
            "\"unterminated",
            "x{a=~\"(\"}",
        ] {
            assert!(scope_query(q, &a(), None).is_err(), "{q}");
        }
    }

    #[test]
    fn string_values_survive_printing() {
        let s = assert_only_a("llm_tokens_total{model=\"a\\\"b\"}");
        assert!(s.contains("a\\\"b"), "{s}");
        let r = selector_with_regex("llm_tokens_total", "model", "gemini.*\"} or x{").unwrap();
        let s = scope_query(&r, &a(), None).unwrap();
        let e = parser::parse(&s).unwrap();
        assert!(matches!(e, Expr::VectorSelector(_)), "{s}");
        assert!(selector_with_regex("x", "model", "(").is_err());
    }

    #[test]
    fn result_filter() {
        assert!(a().allows(Some("a")) && a().allows(None) && !a().allows(Some("b")));
        assert!(
            TenantFilter::Untenanted.allows(None) && !TenantFilter::Untenanted.allows(Some("a"))
        );
    }
}
