//! Typed access to one column of an Arrow batch, whatever type the writer chose for it:
//! strings (plain, large, view, dictionary), numbers (float, decimal, integer), times
//! (timestamp of any unit, date, RFC 3339 text) and string maps (Arrow maps or JSON text).
//! Each column is resolved once per batch; rows are then read by index.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, MapArray, PrimitiveArray};
use arrow_schema::{DataType, TimeUnit};
use chrono::NaiveDate;

/// One column of a batch, typed.
pub enum Col<'a> {
    Missing,
    Str(Box<dyn Fn(usize) -> Option<&'a str> + 'a>),
    F64(Box<dyn Fn(usize) -> Option<f64> + 'a>),
    /// Unix seconds.
    Secs(Box<dyn Fn(usize) -> Option<i64> + 'a>),
    Day(&'a PrimitiveArray<Date32Type>),
    Map(&'a MapArray),
}

fn prim<T: arrow_array::ArrowPrimitiveType>(a: &ArrayRef) -> Option<&PrimitiveArray<T>> {
    a.as_primitive_opt::<T>()
}

/// Resolves `array` (column `name`): an error names the column and its type when the
/// gateway cannot read it.
pub fn resolve<'a>(name: &str, array: &'a ArrayRef) -> Result<Col<'a>, String> {
    let unsupported = || format!("column {name}: type {} is not supported", array.data_type());
    Ok(match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            Col::Str(Box::new(move |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            Col::Str(Box::new(move |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            Col::Str(Box::new(move |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            let d = array.as_dictionary::<Int32Type>();
            let keys = d.keys();
            let values = d.values().as_string::<i32>();
            Col::Str(Box::new(move |i| {
                keys.is_valid(i)
                    .then(|| values.value(keys.value(i) as usize))
            }))
        }
        DataType::Float64 => {
            let a = prim::<Float64Type>(array).ok_or_else(unsupported)?;
            Col::F64(Box::new(move |i| a.is_valid(i).then(|| a.value(i))))
        }
        DataType::Float32 => {
            let a = prim::<Float32Type>(array).ok_or_else(unsupported)?;
            Col::F64(Box::new(move |i| a.is_valid(i).then(|| a.value(i) as f64)))
        }
        DataType::Int64 => {
            let a = prim::<Int64Type>(array).ok_or_else(unsupported)?;
            Col::F64(Box::new(move |i| a.is_valid(i).then(|| a.value(i) as f64)))
        }
        DataType::Decimal128(_, scale) => {
            let a = prim::<Decimal128Type>(array).ok_or_else(unsupported)?;
            let div = 10f64.powi(*scale as i32);
            Col::F64(Box::new(move |i| {
                a.is_valid(i).then(|| a.value(i) as f64 / div)
            }))
        }
        // A timestamp's value is UTC whatever its zone annotation says.
        DataType::Timestamp(TimeUnit::Second, _) => secs::<TimestampSecondType>(array, 1),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            secs::<TimestampMillisecondType>(array, 1_000)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            secs::<TimestampMicrosecondType>(array, 1_000_000)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            secs::<TimestampNanosecondType>(array, 1_000_000_000)
        }
        DataType::Date32 => Col::Day(prim::<Date32Type>(array).ok_or_else(unsupported)?),
        DataType::Map(_, _) => Col::Map(array.as_map()),
        DataType::Null => Col::Missing,
        _ => return Err(unsupported()),
    })
}

fn secs<'a, T: arrow_array::ArrowPrimitiveType<Native = i64>>(
    array: &'a ArrayRef,
    per_sec: i64,
) -> Col<'a> {
    let a = array.as_primitive::<T>();
    Col::Secs(Box::new(move |i| {
        a.is_valid(i).then(|| a.value(i).div_euclid(per_sec))
    }))
}

impl<'a> Col<'a> {
    pub fn str(&self, i: usize) -> Option<&'a str> {
        match self {
            Col::Str(f) => f(i),
            _ => None,
        }
    }

    pub fn f64(&self, i: usize) -> Option<f64> {
        match self {
            Col::F64(f) => f(i),
            Col::Str(f) => f(i).and_then(|s| s.trim().parse().ok()),
            _ => None,
        }
    }

    /// The UTC day of a time value.
    pub fn day(&self, i: usize) -> Option<NaiveDate> {
        match self {
            Col::Secs(f) => f(i)
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .map(|d| d.date_naive()),
            Col::Day(a) => a
                .is_valid(i)
                .then(|| a.value(i))
                .and_then(|d| NaiveDate::from_num_days_from_ce_opt(d + 719_163)),
            Col::Str(f) => f(i).and_then(day_of_text),
            _ => None,
        }
    }

    /// The value of `key` in a map column (an Arrow map, or JSON object text).
    pub fn get(&self, i: usize, key: &str) -> Option<Cow<'a, str>> {
        match self {
            Col::Map(m) => {
                if m.is_null(i) {
                    return None;
                }
                let offsets = m.value_offsets();
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                let keys = m.keys().as_string_opt::<i32>()?;
                let values = m.values().as_string_opt::<i32>()?;
                (start..end)
                    .find(|&j| keys.value(j) == key)
                    .filter(|&j| values.is_valid(j))
                    .map(|j| Cow::Borrowed(values.value(j)))
            }
            Col::Str(f) => json_get(f(i)?, key).map(Cow::Owned),
            _ => None,
        }
    }

    /// Whether a map column's row mentions `needle` in any value (cheap pre-filter).
    pub fn mentions(&self, i: usize, needle: &str) -> bool {
        match self {
            Col::Map(m) => {
                if m.is_null(i) {
                    return false;
                }
                let offsets = m.value_offsets();
                let Some(values) = m.values().as_string_opt::<i32>() else {
                    return false;
                };
                (offsets[i] as usize..offsets[i + 1] as usize)
                    .any(|j| values.is_valid(j) && values.value(j).contains(needle))
            }
            Col::Str(f) => f(i).is_some_and(|s| s.contains(needle)),
            _ => false,
        }
    }
}

/// A key of a JSON object written as text (how CSV exports write map columns).
pub fn json_get(text: &str, key: &str) -> Option<String> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    match v.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The UTC day of `2026-11-01`, `2026-11-01T00:00:00Z`, `2026-11-01 00:00:00`,
/// `2026-11-01T00:00:00.000+01:00`.
pub fn day_of_text(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc).date_naive());
    }
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_of_text_are_utc() {
        let d = |s| day_of_text(s).map(|d| d.to_string());
        assert_eq!(d("2026-11-01T00:00:00Z").as_deref(), Some("2026-11-01"));
        assert_eq!(d("2026-11-01 23:00:00").as_deref(), Some("2026-11-01"));
        assert_eq!(
            d("2026-11-02T00:30:00+01:00").as_deref(),
            Some("2026-11-01")
        );
        assert_eq!(d("yesterday"), None);
    }

    #[test]
    fn json_maps_in_text() {
        assert_eq!(
            json_get(
                r#"{"product_name":"Claude (Amazon Bedrock Edition)"}"#,
                "product_name"
            )
            .as_deref(),
            Some("Claude (Amazon Bedrock Edition)")
        );
        assert_eq!(json_get("not json", "a"), None);
        assert_eq!(json_get(r#"{"a":null}"#, "a"), None);
    }
}
