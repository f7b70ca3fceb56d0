//! Reading one Parquet file of a Google Cloud Billing export as `EXPORT DATA` writes it: the
//! table's RECORDs stay nested (`service.description`, `project.id`) and its REPEATED RECORDs
//! are lists of structs (`credits[].amount`, `labels[].key`/`.value`). Only the leaves the
//! gateway needs are fetched and decoded (a Parquet leaf projection), 8,192 rows at a time.
//! An error names the file and the column or reason, and the file then counts for nothing.
//!
//! BigQuery writes a RECORD as a Parquet group and a REPEATED field as a repeated group
//! ("Parquet export details", https://cloud.google.com/bigquery/docs/exporting-data#parquet_export_details);
//! Arrow reads both the two- and the three-level list encodings as a list of structs.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, GenericListArray, RecordBatch, StructArray};
use futures::StreamExt;
use object_store::path::Path;
use object_store::ObjectStore;
use parquet::arrow::ProjectionMask;

use super::columns::{resolve, Col};
use super::config::Format;
use super::ledger::{Fields, Sums};
use super::parquet_source;
use super::read::short;

/// A column: a top-level column, or a field of a RECORD (or of a REPEATED RECORD's items).
type Leaf = (&'static str, Option<&'static str>);

struct Layout {
    start: Leaf,
    /// The project ID: the first of these the file has.
    account: &'static [Leaf],
    cost: Leaf,
    currency: Leaf,
    service: Leaf,
    /// The SKU's description: the first of these the file has.
    sku: &'static [Leaf],
    charge: Leaf,
    /// Credits (negative amounts) the bill adds to `cost`.
    credits: Option<Leaf>,
    /// Key/value lists (or maps, or JSON objects) searched in order for the tenant label.
    labels: &'static [Leaf],
}

/// Standard and detailed usage cost tables: billed cost is `cost` plus the credits' amounts,
/// as the Cloud Billing reports and the export's own example queries count it
/// (https://cloud.google.com/billing/docs/how-to/bq-examples: `SUM(cost) + SUM(IFNULL((SELECT
/// SUM(c.amount) FROM UNNEST(credits) c), 0))`). The tenant label is looked up in the usage's
/// `labels` first, then in `project.labels`.
const STANDARD: Layout = Layout {
    start: ("usage_start_time", None),
    account: &[("project", Some("id"))],
    cost: ("cost", None),
    currency: ("currency", None),
    service: ("service", Some("description")),
    sku: &[("sku", Some("description"))],
    charge: ("cost_type", None),
    credits: Some(("credits", Some("amount"))),
    labels: &[("labels", None), ("project", Some("labels"))],
};

/// The FOCUS export: `BilledCost` already is what the invoice bills, credits included
/// (`cost` + `SUM(credits.amount)` in Google's FOCUS view); `SubAccountId` is a billing
/// account, the project is the `x_Project` RECORD, so the account is `x_Project.id` when the
/// export has it (Google's FOCUS BigQuery view template; "Structure of FOCUS data export").
const FOCUS: Layout = Layout {
    start: ("ChargePeriodStart", None),
    account: &[("x_Project", Some("id")), ("SubAccountId", None)],
    cost: ("BilledCost", None),
    currency: ("BillingCurrency", None),
    service: ("ServiceName", None),
    sku: &[("x_SkuDescription", None), ("ChargeDescription", None)],
    charge: ("ChargeCategory", None),
    credits: None,
    labels: &[("Tags", None)],
};

const BATCH_ROWS: usize = 8192;

fn name(l: Leaf) -> String {
    match l.1 {
        Some(f) => format!("{}.{f}", l.0),
        None => l.0.to_string(),
    }
}

/// Whether a Parquet leaf (its path from the root) belongs to `l`.
fn holds(parts: &[String], l: Leaf) -> bool {
    parts.first().is_some_and(|r| r == l.0) && l.1.is_none_or(|f| parts[1..].iter().any(|p| p == f))
}

pub async fn read_file(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    format: Format,
    tenant_tag: Option<&str>,
) -> Result<Sums, String> {
    let layout = match format {
        Format::GcpFocus => &FOCUS,
        _ => &STANDARD,
    };
    if !path.as_ref().to_ascii_lowercase().ends_with(".parquet") {
        return Err(format!("{path}: not a .parquet file"));
    }
    let builder = parquet_source::open(store, path).await?;
    let leaves: Vec<Vec<String>> = builder
        .parquet_schema()
        .columns()
        .iter()
        .map(|c| c.path().parts().to_vec())
        .collect();
    let has = |l: Leaf| leaves.iter().any(|p| holds(p, l));
    let first = |ls: &[Leaf]| -> Result<Leaf, String> {
        ls.iter().copied().find(|l| has(*l)).ok_or_else(|| {
            let names: Vec<String> = ls.iter().map(|l| name(*l)).collect();
            format!("{path}: column {} is missing", names.join(" or "))
        })
    };
    let sku = first(layout.sku)?;
    let account = first(layout.account)?;
    let mut wanted: Vec<Leaf> = vec![sku, account];
    let required = [
        Some(layout.start),
        Some(layout.cost),
        Some(layout.currency),
        Some(layout.service),
        layout.credits,
    ];
    for l in required.into_iter().flatten() {
        if !has(l) {
            return Err(format!("{path}: column {} is missing", name(l)));
        }
        wanted.push(l);
    }
    wanted.push(layout.charge);
    if tenant_tag.is_some() {
        wanted.extend(layout.labels.iter().copied());
    }
    let indices: Vec<usize> = leaves
        .iter()
        .enumerate()
        .filter(|(_, p)| wanted.iter().any(|l| holds(p, *l)))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::leaves(builder.parquet_schema(), indices);
    let mut stream = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| format!("{path}: {}", short(&e.to_string())))?;
    let mut sums = Sums::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| format!("{path}: {}", short(&e.to_string())))?;
        add_batch(&batch, layout, [sku, account], tenant_tag, &mut sums)
            .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(sums)
}

fn add_batch(
    batch: &RecordBatch,
    layout: &Layout,
    [sku, account]: [Leaf; 2],
    tenant_tag: Option<&str>,
    sums: &mut Sums,
) -> Result<(), String> {
    let start = Scalar::of(batch, layout.start)?;
    let account = Scalar::of(batch, account)?;
    let cost = Scalar::of(batch, layout.cost)?;
    let currency = Scalar::of(batch, layout.currency)?;
    let service = Scalar::of(batch, layout.service)?;
    let sku = Scalar::of(batch, sku)?;
    let charge = Scalar::of(batch, layout.charge)?;
    let credits = match layout.credits {
        Some(l) => Some(Items::of(batch, l)?),
        None => None,
    };
    let labels = match tenant_tag {
        Some(_) => layout
            .labels
            .iter()
            .map(|l| Labels::of(batch, *l))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    for i in 0..batch.num_rows() {
        sums.rows_read += 1;
        let fields = Fields {
            service: service.str(i).unwrap_or(""),
            usage_type: sku.str(i).unwrap_or(""),
            charge: charge.str(i).unwrap_or(""),
            ..Default::default()
        };
        let Some(mapped) = super::gcp::map(&fields) else {
            continue;
        };
        let credit: f64 = credits.as_ref().map_or(0.0, |c| c.sum(i));
        sums.add(
            start.valid(i).then(|| start.col.day(i)).flatten(),
            account.str(i).unwrap_or(""),
            cost.f64(i).map(|c| c + credit),
            currency.str(i).unwrap_or(""),
            mapped,
            || {
                let t = tenant_tag?;
                labels.iter().find_map(|l| l.get(i, t))
            },
        );
    }
    Ok(())
}

/// A scalar column, or a field of a RECORD (null where the RECORD is).
struct Scalar<'a> {
    parent: Option<&'a StructArray>,
    col: Col<'a>,
}

impl<'a> Scalar<'a> {
    fn of(batch: &'a RecordBatch, l: Leaf) -> Result<Scalar<'a>, String> {
        let Some(root) = batch.column_by_name(l.0) else {
            return Ok(Scalar {
                parent: None,
                col: Col::Missing,
            });
        };
        match l.1 {
            None => Ok(Scalar {
                parent: None,
                col: resolve(&name(l), root)?,
            }),
            Some(f) => {
                let s = record(root, l)?;
                let child = s
                    .column_by_name(f)
                    .ok_or_else(|| format!("column {} is missing", name(l)))?;
                Ok(Scalar {
                    parent: Some(s),
                    col: resolve(&name(l), child)?,
                })
            }
        }
    }

    fn valid(&self, i: usize) -> bool {
        self.parent.is_none_or(|p| p.is_valid(i))
    }

    fn str(&self, i: usize) -> Option<&'a str> {
        self.valid(i).then(|| self.col.str(i)).flatten()
    }

    fn f64(&self, i: usize) -> Option<f64> {
        self.valid(i).then(|| self.col.f64(i)).flatten()
    }
}

fn record(a: &ArrayRef, l: Leaf) -> Result<&StructArray, String> {
    a.as_struct_opt()
        .ok_or_else(|| format!("column {}: type {} is not a RECORD", l.0, a.data_type()))
}

fn list<'a>(a: &'a ArrayRef, what: &str) -> Result<&'a GenericListArray<i32>, String> {
    a.as_list_opt::<i32>().ok_or_else(|| {
        format!(
            "column {what}: type {} is not a REPEATED RECORD",
            a.data_type()
        )
    })
}

/// A field of a REPEATED RECORD's items, summed per row (`credits[].amount`).
struct Items<'a> {
    list: &'a GenericListArray<i32>,
    parent: Option<&'a StructArray>,
    field: Col<'a>,
}

impl<'a> Items<'a> {
    fn of(batch: &'a RecordBatch, l: Leaf) -> Result<Items<'a>, String> {
        let root = batch
            .column_by_name(l.0)
            .ok_or_else(|| format!("column {} is missing", name(l)))?;
        let list = list(root, l.0)?;
        let items = record(list.values(), l)?;
        let f = l.1.unwrap_or("");
        let child = items
            .column_by_name(f)
            .ok_or_else(|| format!("column {} is missing", name(l)))?;
        Ok(Items {
            list,
            parent: Some(items),
            field: resolve(&name(l), child)?,
        })
    }

    fn sum(&self, i: usize) -> f64 {
        if self.list.is_null(i) {
            return 0.0;
        }
        let o = self.list.value_offsets();
        (o[i] as usize..o[i + 1] as usize)
            .filter(|&j| self.parent.is_none_or(|p| p.is_valid(j)))
            .filter_map(|j| self.field.f64(j))
            .sum()
    }
}

/// Labels as a REPEATED RECORD of `key`/`value` (the billing tables), a map, or JSON text.
enum Labels<'a> {
    Missing,
    Pairs {
        list: &'a GenericListArray<i32>,
        items: &'a StructArray,
        key: Col<'a>,
        value: Col<'a>,
    },
    Other(Scalar<'a>),
}

impl<'a> Labels<'a> {
    fn of(batch: &'a RecordBatch, l: Leaf) -> Result<Labels<'a>, String> {
        let Some(root) = batch.column_by_name(l.0) else {
            return Ok(Labels::Missing);
        };
        let (parent, array) = match l.1 {
            None => (None, root),
            Some(f) => {
                let s = record(root, l)?;
                match s.column_by_name(f) {
                    Some(c) => (Some(s), c),
                    None => return Ok(Labels::Missing),
                }
            }
        };
        if let Some(list) = array.as_list_opt::<i32>() {
            let items = record(list.values(), l)?;
            let col = |k: &str| -> Result<Col<'a>, String> {
                match items.column_by_name(k) {
                    Some(c) => resolve(&format!("{}.{k}", name(l)), c),
                    None => Err(format!("column {}: items have no {k}", name(l))),
                }
            };
            return Ok(Labels::Pairs {
                list,
                items,
                key: col("key")?,
                value: col("value")?,
            });
        }
        Ok(Labels::Other(Scalar {
            parent,
            col: resolve(&name(l), array)?,
        }))
    }

    fn get(&self, i: usize, key: &str) -> Option<String> {
        match self {
            Labels::Missing => None,
            Labels::Pairs {
                list,
                items,
                key: k,
                value,
            } => {
                if list.is_null(i) {
                    return None;
                }
                let o = list.value_offsets();
                (o[i] as usize..o[i + 1] as usize)
                    .filter(|&j| items.is_valid(j))
                    .find(|&j| k.str(j) == Some(key))
                    .and_then(|j| value.str(j))
                    .map(String::from)
            }
            Labels::Other(s) => s
                .valid(i)
                .then(|| s.col.get(i, key))
                .flatten()
                .map(|v| v.into_owned()),
        }
    }
}

#[cfg(test)]
#[path = "gcp_read_tests.rs"]
mod tests;
