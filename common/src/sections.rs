//! The exporters' sections of the shared config file, as `common/sections.yaml` lists them:
//! every section's keys are checked by every exporter, so a typo in any section is refused
//! by all of them; each exporter parses and validates its own section fully
//! ([`crate::config::section`], [`crate::exporter::Exporter::validate`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::de::{self, DeserializeOwned, Visitor};
use serde_yaml_ng::{Mapping, Value};

use crate::error::FieldError;

const LIST: &str = include_str!("../sections.yaml");

/// Every section a config file may hold, by name, with the keys it takes in the order listed.
pub fn known() -> &'static BTreeMap<String, Vec<String>> {
    static KNOWN: OnceLock<BTreeMap<String, Vec<String>>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        // Compiled in; the unit test below parses it, so this cannot fail in a build.
        serde_yaml_ng::from_str(LIST).expect("common/sections.yaml: a mapping of key lists")
    })
}

/// Checks the keys of every known section present in `sections` (a config's top-level keys
/// other than the common ones).
pub fn check(sections: &Mapping) -> Result<(), FieldError> {
    for (name, keys) in known() {
        match sections.get(name.as_str()) {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(m)) => {
                if let Some(key) = m.keys().find(|k| {
                    !k.as_str()
                        .is_some_and(|k| keys.iter().any(|known| known == k))
                }) {
                    return Err(FieldError::new(
                        format!("{name}.{}", key_text(key)),
                        format!("unknown key; expected one of {keys:?}"),
                    ));
                }
            }
            Some(_) => {
                return Err(FieldError::new(name, "must be a mapping of keys"));
            }
        }
    }
    Ok(())
}

/// A YAML key as an error names it: a string as it is, anything else as YAML.
pub fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .map(|t| t.trim_end().to_string())
            .unwrap_or_else(|_| "<not a string>".to_string()),
    }
}

/// The keys the section type `T` takes: the field names its `Deserialize` derive declares.
/// Each exporter's tests compare them with its entry in `common/sections.yaml`.
pub fn section_keys<T: DeserializeOwned>() -> Vec<&'static str> {
    let mut fields = None;
    let _ = T::deserialize(FieldNames(&mut fields));
    fields.unwrap_or_default().to_vec()
}

/// A deserializer that records the field list a struct asks for, and reads nothing.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("field names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_names_keys() {
        let known = known();
        assert!(!known.is_empty());
        assert!(known.values().all(|keys| !keys.is_empty()));
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Section {
        regions: Vec<String>,
        #[serde(rename = "timeout")]
        deadline: u32,
    }

    #[test]
    fn a_section_type_gives_its_keys() {
        assert_eq!(section_keys::<Section>(), vec!["regions", "timeout"]);
        assert!(section_keys::<u32>().is_empty());
    }
}
