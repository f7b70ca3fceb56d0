//! Reading one export file as a stream: Parquet through Arrow (only the columns a layout
//! needs, batch by batch, never the whole file in memory) and CSV, plain or gzip, record by
//! record. Every row of the layout's services is summed into a file's `Sums`; an error names
//! the file and the column or reason, and the file then counts for nothing.

use std::borrow::Cow;
use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path;
use object_store::ObjectStore;
use parquet::arrow::ProjectionMask;

use super::columns::{day_of_text, json_get, resolve, Col};
use super::csv_source;
use super::ledger::{Fields, Mapped, Sums};
use super::parquet_source;

/// Which columns of a layout hold what, and how its rows map to models.
pub struct Shape {
    pub start: &'static str,
    pub account: &'static str,
    pub cost: &'static str,
    pub currency: &'static str,
    pub service: &'static str,
    pub usage_type: &'static str,
    pub service_code: Option<&'static str>,
    /// A column, or a key of a map column.
    pub product: Option<(&'static str, Option<&'static str>)>,
    pub resource: Option<&'static str>,
    pub charge: Option<&'static str>,
    /// The map column holding tags (or labels).
    pub tags: Option<&'static str>,
    pub mapper: fn(&Fields) -> Option<Mapped>,
}

impl Shape {
    fn required(&self) -> [&'static str; 6] {
        [
            self.start,
            self.account,
            self.cost,
            self.currency,
            self.service,
            self.usage_type,
        ]
    }

    fn optional(&self) -> Vec<&'static str> {
        [
            self.service_code,
            self.product.map(|p| p.0),
            self.resource,
            self.charge,
            self.tags,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Rows per Arrow batch: bounds memory per file read.
const BATCH_ROWS: usize = 8192;

pub enum Kind {
    Parquet,
    Csv { gzip: bool },
}

/// The file kind by its name: `.parquet`, `.csv.gz` / `.gz`, `.csv`.
pub fn kind_of(path: &str) -> Option<Kind> {
    let p = path.to_ascii_lowercase();
    if p.ends_with(".parquet") {
        Some(Kind::Parquet)
    } else if p.ends_with(".gz") {
        Some(Kind::Csv { gzip: true })
    } else if p.ends_with(".csv") {
        Some(Kind::Csv { gzip: false })
    } else {
        None
    }
}

pub async fn read_file(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    shape: &'static Shape,
    tenant_tag: Option<&str>,
) -> Result<Sums, String> {
    match kind_of(path.as_ref()) {
        Some(Kind::Parquet) => read_parquet(store, path, shape, tenant_tag).await,
        Some(Kind::Csv { gzip }) => read_csv(store, path, gzip, shape, tenant_tag).await,
        None => Err(format!("{path}: not a .parquet, .csv or .csv.gz file")),
    }
}

async fn read_parquet(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    shape: &'static Shape,
    tenant_tag: Option<&str>,
) -> Result<Sums, String> {
    let builder = parquet_source::open(store, path).await?;
    let schema = builder.schema().clone();
    let mut roots = Vec::new();
    for name in shape.required() {
        let i = schema
            .index_of(name)
            .map_err(|_| format!("{path}: column {name} is missing"))?;
        roots.push(i);
    }
    for name in shape.optional() {
        if let Ok(i) = schema.index_of(name) {
            roots.push(i);
        }
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let mut stream = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| format!("{path}: {}", short(&e.to_string())))?;
    let mut sums = Sums::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| format!("{path}: {}", short(&e.to_string())))?;
        let col = |name: Option<&str>| -> Result<Col<'_>, String> {
            match name.and_then(|n| batch.schema().index_of(n).ok()) {
                Some(i) => {
                    resolve(name.unwrap_or(""), batch.column(i)).map_err(|e| format!("{path}: {e}"))
                }
                None => Ok(Col::Missing),
            }
        };
        let start = col(Some(shape.start))?;
        let account = col(Some(shape.account))?;
        let cost = col(Some(shape.cost))?;
        let currency = col(Some(shape.currency))?;
        let service = col(Some(shape.service))?;
        let usage = col(Some(shape.usage_type))?;
        let service_code = col(shape.service_code)?;
        let product = col(shape.product.map(|p| p.0))?;
        let resource = col(shape.resource)?;
        let charge = col(shape.charge)?;
        let tags = col(shape.tags)?;
        for i in 0..batch.num_rows() {
            sums.rows_read += 1;
            let product_value = match shape.product {
                Some((_, Some(key))) => {
                    if product.mentions(i, "Bedrock") || !matches!(product, Col::Map(_)) {
                        product.get(i, key).unwrap_or_default()
                    } else {
                        Cow::Borrowed("")
                    }
                }
                Some((_, None)) => Cow::Borrowed(product.str(i).unwrap_or("")),
                None => Cow::Borrowed(""),
            };
            let fields = Fields {
                service: service.str(i).unwrap_or(""),
                service_code: service_code.str(i).unwrap_or(""),
                product: product_value,
                usage_type: usage.str(i).unwrap_or(""),
                resource: resource.str(i).unwrap_or(""),
                charge: charge.str(i).unwrap_or(""),
            };
            let Some(mapped) = (shape.mapper)(&fields) else {
                continue;
            };
            sums.add(
                start.day(i),
                account.str(i).unwrap_or(""),
                cost.f64(i),
                currency.str(i).unwrap_or(""),
                mapped,
                || {
                    tenant_tag
                        .and_then(|t| tags.get(i, t))
                        .map(|v| v.into_owned())
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
    shape: &'static Shape,
    tenant_tag: Option<&str>,
) -> Result<Sums, String> {
    let path_name = path.clone();
    let tenant_tag = tenant_tag.map(String::from);
    csv_source::read_rows(store, path, gzip, move |headers| {
        let path = path_name;
        let index = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}') == name)
        };
        let mut req = Vec::new();
        for name in shape.required() {
            req.push(index(name).ok_or_else(|| format!("{path}: column {name} is missing"))?);
        }
        let [start, account, cost, currency, service, usage] = req[..] else {
            return Err(format!("{path}: internal: column list"));
        };
        let service_code = shape.service_code.and_then(index);
        let product = shape.product.and_then(|p| index(p.0).map(|i| (i, p.1)));
        let resource = shape.resource.and_then(index);
        let charge = shape.charge.and_then(index);
        let tags = shape.tags.and_then(index);
        Ok(move |rec: &csv::StringRecord, sums: &mut Sums| {
            let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).unwrap_or("");
            let product_value = match product {
                Some((i, Some(key))) => {
                    let raw = rec.get(i).unwrap_or("");
                    if raw.contains("Bedrock") {
                        Cow::Owned(json_get(raw, key).unwrap_or_default())
                    } else {
                        Cow::Borrowed("")
                    }
                }
                Some((i, None)) => Cow::Borrowed(rec.get(i).unwrap_or("")),
                None => Cow::Borrowed(""),
            };
            let fields = Fields {
                service: get(Some(service)),
                service_code: get(service_code),
                product: product_value,
                usage_type: get(Some(usage)),
                resource: get(resource),
                charge: get(charge),
            };
            let Some(mapped) = (shape.mapper)(&fields) else {
                return;
            };
            let cost_text = get(Some(cost)).trim();
            sums.add(
                day_of_text(get(Some(start))),
                get(Some(account)),
                if cost_text.is_empty() {
                    None
                } else {
                    cost_text.parse().ok()
                },
                get(Some(currency)),
                mapped,
                || tenant_tag.as_deref().and_then(|t| json_get(get(tags), t)),
            );
        })
    })
    .await
}

/// Errors from storage clients can be long (request ids, whole XML bodies): first line,
/// at most 300 characters.
pub fn short(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 300 {
        format!("{}...", line.chars().take(300).collect::<String>())
    } else {
        line.to_string()
    }
}
