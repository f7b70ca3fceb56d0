//! Reading one blob of an Azure export as a stream, like `read.rs` does for AWS: Parquet
//! through Arrow (only the needed columns, batch by batch) and CSV, plain or gzip, record by
//! record. Columns are found by any of a layout's names, without regard to case (EA writes
//! PascalCase, MCA camelCase); days may be RFC 3339, `2026-11-01T00:00Z` (FOCUS 1.0, no
//! seconds) or `11/01/2026` (the actual and amortized CSV).

use std::borrow::Cow;
use std::sync::Arc;

use chrono::NaiveDate;
use futures::StreamExt;
use object_store::path::Path;
use object_store::ObjectStore;
use parquet::arrow::ProjectionMask;

use super::azure::{account_of, map, Layout};
use super::columns::{day_of_text, json_get, resolve, Col};
use super::csv_source;
use super::ledger::{Fields, Sums};
use super::parquet_source;
use super::read::{kind_of, short, Kind};

/// Rows per Arrow batch: bounds memory per blob read.
const BATCH_ROWS: usize = 8192;

/// The fields in the order the reader asks for them; the first six are required (without the
/// meter category no row could be told to be a model's).
fn fields(l: &Layout) -> [&'static [&'static str]; 11] {
    [
        l.day,
        l.account,
        l.cost,
        l.currency,
        l.meter,
        l.category,
        l.subcategory,
        l.product,
        l.resource,
        l.charge,
        l.tags,
    ]
}
const REQUIRED: usize = 6;

/// The index of the first of `names` among `headers`, without regard to case.
fn find<'h>(headers: impl Iterator<Item = &'h str> + Clone, names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| {
        headers
            .clone()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(n))
    })
}

fn missing(path: &Path, names: &[&str]) -> String {
    match names {
        [first, rest @ ..] if !rest.is_empty() => {
            format!("{path}: column {first} (or {}) is missing", rest.join(", "))
        }
        _ => format!("{path}: column {} is missing", names.join("")),
    }
}

/// Resolves every field's column: required ones must be there.
fn columns<'h>(
    path: &Path,
    headers: impl Iterator<Item = &'h str> + Clone,
    l: &Layout,
) -> Result<[Option<usize>; 11], String> {
    let mut out = [None; 11];
    for (i, names) in fields(l).iter().enumerate() {
        out[i] = find(headers.clone(), names);
        if i < REQUIRED && out[i].is_none() {
            return Err(missing(path, names));
        }
    }
    Ok(out)
}

/// `11/01/2026` (the cost details CSV) as well as the RFC 3339 forms.
fn day_of(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    day_of_text(s)
        .or_else(|| NaiveDate::parse_from_str(s.split_whitespace().next()?, "%m/%d/%Y").ok())
}

/// A tag's value from a JSON object, or from the cost details' unbraced `"k": "v","k2": "v2"`.
fn tag_of(text: &str, key: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        None
    } else if t.starts_with('{') {
        json_get(t, key)
    } else {
        json_get(&format!("{{{t}}}"), key)
    }
}

pub async fn read_file(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    layout: &'static Layout,
    tenant_tag: Option<&str>,
) -> Result<Sums, String> {
    match kind_of(path.as_ref()) {
        Some(Kind::Parquet) => read_parquet(store, path, layout, tenant_tag).await,
        Some(Kind::Csv { gzip }) => read_csv(store, path, gzip, layout, tenant_tag).await,
        None => Err(format!("{path}: not a .parquet, .csv or .csv.gz blob")),
    }
}

async fn read_parquet(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    layout: &'static Layout,
    tenant_tag: Option<&str>,
) -> Result<Sums, String> {
    let builder = parquet_source::open(store, path).await?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let cols = columns(path, names.iter().copied(), layout)?;
    let roots: Vec<usize> = cols.iter().flatten().copied().collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let mut stream = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| format!("{path}: {}", short(&e.to_string())))?;
    let mut sums = Sums::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| format!("{path}: {}", short(&e.to_string())))?;
        let bs = batch.schema();
        let mut c: Vec<Col<'_>> = Vec::with_capacity(11);
        for (i, idx) in cols.iter().enumerate() {
            let name = idx.map(|k| names[k]);
            let col = match name.and_then(|n| bs.index_of(n).ok().map(|j| (n, j))) {
                Some((n, j)) => resolve(n, batch.column(j)).map_err(|e| format!("{path}: {e}"))?,
                None if i < REQUIRED => return Err(missing(path, fields(layout)[i])),
                None => Col::Missing,
            };
            c.push(col);
        }
        let [day, account, cost, currency, meter, category, sub, product, resource, charge, tags] =
            &c[..]
        else {
            return Err(format!("{path}: internal: column list"));
        };
        for i in 0..batch.num_rows() {
            sums.rows_read += 1;
            let f = Fields {
                service: category.str(i).unwrap_or(""),
                service_code: sub.str(i).unwrap_or(""),
                product: Cow::Borrowed(product.str(i).unwrap_or("")),
                usage_type: meter.str(i).unwrap_or(""),
                resource: resource.str(i).unwrap_or(""),
                charge: charge.str(i).unwrap_or(""),
            };
            let Some(mapped) = map(&f) else {
                continue;
            };
            let d = match day {
                Col::Str(_) => day.str(i).and_then(day_of),
                other => other.day(i),
            };
            sums.add(
                d,
                &account_of(account.str(i).unwrap_or("")),
                cost.f64(i),
                currency.str(i).unwrap_or(""),
                mapped,
                || {
                    let key = tenant_tag?;
                    match tags {
                        Col::Map(_) => tags.get(i, key).map(|v| v.into_owned()),
                        _ => tag_of(tags.str(i)?, key),
                    }
                },
            );
        }
    }
    Ok(sums)
}

async fn read_csv(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    gzip: bool,
    layout: &'static Layout,
    tenant_tag: Option<&str>,
) -> Result<Sums, String> {
    let name = path.clone();
    let tenant_tag = tenant_tag.map(String::from);
    csv_source::read_rows(store, path, gzip, move |headers| {
        let cols = columns(&name, headers.iter(), layout)?;
        Ok(move |rec: &csv::StringRecord, sums: &mut Sums| {
            let get = |k: usize| cols[k].and_then(|i| rec.get(i)).unwrap_or("");
            let f = Fields {
                service: get(5),
                service_code: get(6),
                product: Cow::Borrowed(get(7)),
                usage_type: get(4),
                resource: get(8),
                charge: get(9),
            };
            let Some(mapped) = map(&f) else {
                return;
            };
            let cost_text = get(2).trim();
            sums.add(
                day_of(get(0)),
                &account_of(get(1)),
                if cost_text.is_empty() {
                    None
                } else {
                    cost_text.parse().ok()
                },
                get(3),
                mapped,
                || tenant_tag.as_deref().and_then(|t| tag_of(get(10), t)),
            );
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_tags_as_azure_writes_them() {
        let d = |s| day_of(s).map(|d| d.to_string());
        assert_eq!(d("11/03/2026").as_deref(), Some("2026-11-03"));
        assert_eq!(d("2026-11-03T00:00Z").as_deref(), Some("2026-11-03"));
        assert_eq!(d("2026-11-03T00:00:00Z").as_deref(), Some("2026-11-03"));
        assert_eq!(d("soon"), None);
        assert_eq!(
            tag_of(r#""team": "support","env": "prod""#, "team").as_deref(),
            Some("support")
        );
        assert_eq!(tag_of(r#"{"team":"x"}"#, "team").as_deref(), Some("x"));
        assert_eq!(tag_of("", "team"), None);
    }

    #[test]
    fn columns_are_found_whatever_their_case() {
        let l = &super::super::azure::ACTUAL_LAYOUT;
        let mca = [
            "date",
            "SubscriptionId",
            "costInBillingCurrency",
            "billingCurrency",
            "meterName",
            "meterCategory",
        ];
        let c = columns(&Path::from("p.csv"), mca.iter().copied(), l).unwrap();
        assert_eq!(
            &c[..6],
            &[Some(0), Some(1), Some(2), Some(3), Some(4), Some(5)]
        );
        let e = columns(&Path::from("p.csv"), mca[..3].iter().copied(), l).unwrap_err();
        assert!(
            e.contains("p.csv") && e.contains("column BillingCurrencyCode"),
            "{e}"
        );
    }
}
