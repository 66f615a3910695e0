//! The first stage of the configuration: raw strings from `.env` and the process environment.
//!
//! The real environment wins over the file. Nothing here calls `std::env::set_var`: the file is
//! parsed into a map so that it can be read again later without touching process state.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::{ConfigError, SETTINGS};

/// Settings that existed once; `.env` files may still carry them.
const RETIRED: &[(&str, &str)] = &[(
    "WORKER_THREADS",
    "the server now runs a thread per open connection; MAX_CONNECTIONS bounds them",
)];

/// Raw settings: the `.env` file's entries overlaid by the process environment.
#[derive(Default, Clone)]
pub struct RawSettings {
    values: HashMap<String, String>,
    /// Settings whose value comes from the real environment (they win over the file).
    from_env: HashSet<String>,
    /// Names the file sets that are not settings.
    unknown: Vec<String>,
    /// The `.env` file read (or looked for, when it is missing and optional).
    file: Option<PathBuf>,
}

/// Names the settings, never their values (keys and passwords are among them).
impl std::fmt::Debug for RawSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.values.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("RawSettings")
            .field("set", &names)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl RawSettings {
    /// Reads `path` when it exists (a missing default `.env` is fine; a missing `--env-file`
    /// is not, see `required`), then lets the process environment override each known setting.
    pub fn load(path: &Path, required: bool) -> Result<RawSettings, ConfigError> {
        let mut values = HashMap::new();
        let mut unknown = Vec::new();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
            Err(e) => {
                return Err(ConfigError {
                    var: path.display().to_string(),
                    value: String::new(),
                    reason: format!("cannot read this file: {e}"),
                });
            }
        };
        let entries = match &text {
            Some(text) => parse_text(text).map_err(|reason| ConfigError {
                var: path.display().to_string(),
                value: String::new(),
                reason: format!("cannot parse this file: {reason}"),
            })?,
            None => Vec::new(),
        };
        for (k, v) in entries {
            if !SETTINGS.contains(&k.as_str()) {
                unknown.push(k.clone());
            }
            values.insert(k, v);
        }
        let mut from_env = HashSet::new();
        for name in SETTINGS {
            // An empty variable counts as unset, here as in the file: it does not hide the
            // file's value.
            if let Ok(v) = std::env::var(name)
                && !v.trim().is_empty()
            {
                values.insert((*name).to_string(), v);
                from_env.insert((*name).to_string());
            }
        }
        Ok(RawSettings {
            values,
            from_env,
            unknown,
            file: Some(path.to_path_buf()),
        })
    }

    /// Settings from explicit pairs, for tests and the demo.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> RawSettings {
        let values = pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RawSettings {
            values,
            ..RawSettings::default()
        }
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

    /// Whether the real environment sets this setting (then the file's value does not count).
    pub fn set_by_environment(&self, name: &str) -> bool {
        self.from_env.contains(name)
    }

    /// The `.env` file these settings come from, when they come from one.
    pub(super) fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// A sentence for each name the file sets that is not a setting: a retired one, or a
    /// misspelling of one (with the closest setting named).
    pub fn unknown_settings(&self) -> Vec<String> {
        self.unknown
            .iter()
            .map(|name| {
                if let Some((_, why)) = RETIRED.iter().find(|(n, _)| n == name) {
                    return format!("{name} in .env is no longer used: {why}");
                }
                match closest_setting(name) {
                    Some(known) => format!(
                        "{name} in .env is not a setting and is ignored; did you mean {known}?"
                    ),
                    None => {
                        format!("{name} in .env is not a setting and is ignored (see .env.example)")
                    }
                }
            })
            .collect()
    }
}

/// The entries of a `.env` text, in order, as the loader reads them (later entries win).
pub(super) fn parse_text(text: &str) -> Result<Vec<(String, String)>, String> {
    dotenvy::from_read_iter(text.as_bytes())
        .map(|item| item.map_err(|e| parse_error(&e, text)))
        .collect()
}

/// What went wrong in a `.env` text, by line number and never by content: dotenvy's own
/// message quotes the line, and after an unclosed quote the whole rest of the file, keys
/// and passwords included.
fn parse_error(e: &dotenvy::Error, text: &str) -> String {
    let dotenvy::Error::LineParse(rest, _) = e else {
        return e.to_string();
    };
    let first = rest.lines().next().unwrap_or("").trim();
    let line = (!first.is_empty())
        .then(|| text.lines().position(|l| l.contains(first)))
        .flatten();
    let place = line.map_or("a line".to_string(), |n| format!("line {}", n + 1));
    format!(
        "{place} cannot be read (an unclosed quote, or a value with spaces or quotes that \
         needs 'single quotes'); the line is not shown because it may hold a key"
    )
}

/// The setting closest to `name` when it is close enough to be a typo.
fn closest_setting(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    SETTINGS
        .iter()
        .map(|s| (edit_distance(&upper, s), *s))
        .filter(|(d, s)| *d <= 3.max(s.len() / 5))
        .min()
        .map(|(_, s)| s)
}

/// Levenshtein distance, for short ASCII names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<u8> = b.bytes().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_in_the_file_are_named_with_the_closest_setting() {
        let dir = std::env::temp_dir().join(format!("orp-raw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(".env");
        std::fs::write(
            &file,
            "MAX_CONCURENT_REQUESTS=3\nWORKER_THREADS=8\nCOMPLETELY_ELSE=1\nPORT=5001\n",
        )
        .unwrap();
        let raw = RawSettings::load(&file, true).unwrap();
        let notes = raw.unknown_settings();
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(
            notes[0].contains("did you mean MAX_CONCURRENT_REQUESTS?"),
            "{notes:?}"
        );
        assert!(notes[1].contains("no longer used"), "{notes:?}");
        assert!(notes[2].contains("see .env.example"), "{notes:?}");
        assert_eq!(edit_distance("PORT", "PORT"), 0);
        assert_eq!(edit_distance("PROT", "PORT"), 2);
    }

    #[test]
    fn a_line_that_does_not_parse_is_named_by_number_not_quoted() {
        let key = "sk-or-v1-0123456789abcdef0123456789abcdef";
        let text = format!("PORT=5001\n\nADMIN_PASSWORD='it\nOPENROUTER_API_KEY={key}\n");
        let message = parse_text(&text).unwrap_err();
        assert!(message.starts_with("line 3 cannot be read"), "{message}");
        assert!(
            !message.contains(key) && !message.contains("'it"),
            "{message}"
        );
        let message = parse_text("A=1\nB=two words\n").unwrap_err();
        assert!(message.starts_with("line 2 cannot be read"), "{message}");
        assert!(!message.contains("two words"), "{message}");
    }
}
