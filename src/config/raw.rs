//! The first stage of the configuration: raw strings from `.env` and the process environment.
//!
//! The real environment wins over the file. Nothing here calls `std::env::set_var`: the file is
//! parsed into a map so that it can be read again later without touching process state.

use std::collections::HashMap;
use std::path::Path;

use super::{ConfigError, SETTINGS};

/// Raw settings: the `.env` file's entries overlaid by the process environment.
#[derive(Debug, Default, Clone)]
pub struct RawSettings {
    values: HashMap<String, String>,
}

impl RawSettings {
    /// Reads `path` when it exists (a missing default `.env` is fine; a missing `--env-file`
    /// is not, see `required`), then lets the process environment override each known setting.
    pub fn load(path: &Path, required: bool) -> Result<RawSettings, ConfigError> {
        let mut values = HashMap::new();
        match dotenvy::from_path_iter(path) {
            Ok(iter) => {
                for item in iter {
                    let (k, v) = item.map_err(|e| ConfigError {
                        var: path.display().to_string(),
                        value: String::new(),
                        reason: format!("cannot parse this file: {e}"),
                    })?;
                    values.insert(k, v);
                }
            }
            Err(e) if e.not_found() && !required => {}
            Err(e) => {
                return Err(ConfigError {
                    var: path.display().to_string(),
                    value: String::new(),
                    reason: format!("cannot read this file: {e}"),
                });
            }
        }
        for name in SETTINGS {
            if let Ok(v) = std::env::var(name) {
                values.insert((*name).to_string(), v);
            }
        }
        Ok(RawSettings { values })
    }

    /// Settings from explicit pairs, for tests and the demo.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> RawSettings {
        let values = pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RawSettings { values }
    }

    /// Sets one value, replacing what was there.
    pub fn set(&mut self, name: &str, value: &str) {
        self.values.insert(name.to_string(), value.to_string());
    }

    /// A value, trimmed; an empty value counts as unset.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}
