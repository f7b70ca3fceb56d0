//! Config errors that name the file and the field, and what makes them: YAML parsing that
//! reports the failing field by its path, duration ranges, and paths cut short for messages.
//! [`crate::config`] re-exports all of it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::base::shorten;
use crate::error::FieldError;

/// A config error that names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file itself (the OS error follows once, as the cause).
    #[error("cannot read config file {}", shown(.path))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file a config key names (`pricing_file`, `state_file`...).
    #[error("{key} {}: cannot read it: {message}", shown(.path))]
    ReadFile {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{path}: field `{field}`: {message}")]
    Field {
        path: String,
        field: String,
        message: String,
    },
}

impl FieldError {
    /// This error as found in the config that `origin` names.
    pub fn in_file(self, origin: &str) -> ConfigError {
        ConfigError::Field {
            path: origin.to_string(),
            field: self.field,
            message: self.message,
        }
    }
}

impl ConfigError {
    /// A field error; the message is cut short (it may quote a value of any size).
    pub fn field(path: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Field {
            path: path.to_string(),
            // A field path holds the file's keys, which can be megabytes long too.
            field: shorten(&field.into(), 200),
            message: shorten(&message.into(), 300),
        }
    }
}

/// `path` as errors and logs show it: cut short like [`shorten`] (a path comes from the
/// config or the command line and can be megabytes long).
pub fn shown(path: &Path) -> String {
    shorten(&path.to_string_lossy(), 300)
}

/// Checks `value` is between `min` and `max` seconds; the error names the field.
pub fn in_range(
    origin: &str,
    field: &str,
    value: Duration,
    min_secs: u64,
    max_secs: u64,
) -> Result<(), ConfigError> {
    let secs = value.as_secs_f64();
    if secs < min_secs as f64 || secs > max_secs as f64 {
        return Err(ConfigError::field(
            origin,
            field,
            format!(
                "must be between {} and {}, got {}",
                humantime::format_duration(Duration::from_secs(min_secs)),
                humantime::format_duration(Duration::from_secs(max_secs)),
                humantime::format_duration(value)
            ),
        ));
    }
    Ok(())
}

/// [`in_range`] for an exporter section's validation.
pub fn section_range(
    field: &str,
    value: Duration,
    min_secs: u64,
    max_secs: u64,
) -> Result<(), FieldError> {
    in_range("", field, value, min_secs, max_secs).map_err(|e| match e {
        ConfigError::Field { field, message, .. } => FieldError { field, message },
        other => FieldError::new(field, other.to_string()),
    })
}

/// Parses YAML into `T`, naming the failing field by its full path (prefixed by `prefix`).
pub fn parse_yaml<T: DeserializeOwned>(
    text: &str,
    origin: &str,
    prefix: &str,
) -> Result<T, ConfigError> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| path_error(origin, prefix, e))
}

/// The error of a failed YAML parse, naming the field by its path (prefixed by `prefix`).
pub(crate) fn path_error<E: std::fmt::Display>(
    origin: &str,
    prefix: &str,
    e: serde_path_to_error::Error<E>,
) -> ConfigError {
    let inner = e.path().to_string();
    let field = match (prefix.is_empty(), inner.as_str()) {
        (true, ".") => "<top level>".to_string(),
        (true, _) => inner,
        (false, ".") => prefix.to_string(),
        (false, _) => format!("{prefix}.{inner}"),
    };
    ConfigError::field(origin, field, e.inner().to_string())
}
