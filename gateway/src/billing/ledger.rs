//! What the gateway keeps of a bill: billed USD per UTC day, account, model and tenant, for
//! each billing period of each export, with the files' errors. Nothing else of a row is kept.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

/// The model a billed row was mapped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The model as the bill names it, or `(unmapped)`.
    pub model: String,
    /// What the row was recognised by (usage type, product name, SKU): shown beside the
    /// model so an unmapped row says what it is.
    pub billed_as: String,
}

pub const UNMAPPED: &str = "(unmapped)";

/// At most this many `billed_as` names are kept per cell (memory stays bounded).
const MAX_BILLED_AS: usize = 16;

/// The mapping-relevant columns of one row.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    /// AWS `line_item_product_code`; Azure `ConsumedService`; GCP `service.description`.
    pub service: &'a str,
    /// AWS `product_servicecode` / FOCUS `x_ServiceCode`.
    pub service_code: &'a str,
    /// AWS product name (CUR 2.0 `product.product_name`, FOCUS `ServiceName`).
    pub product: Cow<'a, str>,
    /// AWS usage type; Azure meter name; GCP SKU description.
    pub usage_type: &'a str,
    pub resource: &'a str,
    /// Line item type / ChargeCategory.
    pub charge: &'a str,
}

#[derive(Debug, Default, Clone)]
pub struct Cell {
    pub cost: f64,
    pub billed_as: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub day: NaiveDate,
    pub account: String,
    pub model: String,
    pub tenant: Option<String>,
}

/// The sums of one file (merged into its period only when the whole file was read).
#[derive(Debug, Default)]
pub struct Sums {
    pub cells: BTreeMap<Key, Cell>,
    pub rows_read: u64,
    pub rows_counted: u64,
    /// LLM rows in another currency: not counted.
    pub other_currency: BTreeMap<String, u64>,
    /// LLM rows without a day, account or cost: not counted.
    pub incomplete: u64,
    pub last_day: Option<NaiveDate>,
}

impl Sums {
    /// Counts one LLM row; `tenant` is read only for rows that count.
    pub fn add(
        &mut self,
        day: Option<NaiveDate>,
        account: &str,
        cost: Option<f64>,
        currency: &str,
        mapped: Mapped,
        tenant: impl FnOnce() -> Option<String>,
    ) {
        let currency = currency.trim();
        if !currency.is_empty() && !currency.eq_ignore_ascii_case("USD") {
            *self
                .other_currency
                .entry(currency.chars().take(8).collect())
                .or_default() += 1;
            return;
        }
        let (Some(day), Some(cost)) = (day, cost.filter(|c| c.is_finite())) else {
            self.incomplete += 1;
            return;
        };
        self.rows_counted += 1;
        self.last_day = self.last_day.max(Some(day));
        let cell = self
            .cells
            .entry(Key {
                day,
                account: account.to_string(),
                model: mapped.model,
                tenant: tenant(),
            })
            .or_default();
        cell.cost += cost;
        if cell.billed_as.len() < MAX_BILLED_AS {
            cell.billed_as.insert(mapped.billed_as);
        }
    }

    pub fn merge(&mut self, other: Sums) {
        for (k, c) in other.cells {
            let cell = self.cells.entry(k).or_default();
            cell.cost += c.cost;
            for b in c.billed_as {
                if cell.billed_as.len() < MAX_BILLED_AS {
                    cell.billed_as.insert(b);
                }
            }
        }
        self.rows_read += other.rows_read;
        self.rows_counted += other.rows_counted;
        for (c, n) in other.other_currency {
            *self.other_currency.entry(c).or_default() += n;
        }
        self.incomplete += other.incomplete;
        self.last_day = self.last_day.max(other.last_day);
    }
}

/// One billing period of one export, as last read.
#[derive(Debug, Default)]
pub struct Period {
    /// Identifies the version read (manifest path and modification time).
    pub version: String,
    pub sums: Sums,
    pub files_read: usize,
    /// Files that could not be read (each names the file and the reason).
    pub errors: Vec<String>,
}

/// What an answer says about one export.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ExportStatus {
    pub name: String,
    pub cloud: crate::config::Cloud,
    pub format: &'static str,
    /// The last UTC day with billed LLM rows.
    pub last_day: Option<String>,
    /// The last UTC day taken as complete: the day before `last_day` (the newest day of an
    /// export is still being filled in).
    pub complete_through: Option<String>,
    /// Unix seconds of the last read that succeeded.
    pub last_read: Option<f64>,
    pub periods: Vec<String>,
    pub errors: Vec<String>,
}
