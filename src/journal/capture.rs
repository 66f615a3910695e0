//! Request/response captures, written in debug mode to `CACHE_DIR/captures/`, one JSON file per
//! chat call, and kept bounded: at most `CAPTURE_MAX_FILES` files and `CAPTURE_MAX_DAYS` days.
//!
//! Every capture passes through [`Captures::redact`] before it is written: any configured key
//! is replaced by its masked form wherever it appears.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::util::clock::stats_day;
use crate::util::time_format::{day_name, file_stamp};

use crate::util::secret::mask_key;

/// How often (in writes) old captures are pruned.
const PRUNE_EVERY: u64 = 20;

pub struct Captures {
    dir: PathBuf,
    max_files: usize,
    max_days: u32,
    /// Captures written since start; also makes names unique within a microsecond.
    written: AtomicU64,
    /// Secrets that must never appear in a capture, with their masks.
    secrets: Vec<(String, String)>,
}

impl Captures {
    pub fn new(dir: PathBuf, max_files: usize, max_days: u32, secrets: &[String]) -> Captures {
        let secrets = secrets
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| (s.clone(), mask_key(s)))
            .collect();
        Captures {
            dir,
            max_files,
            max_days,
            written: AtomicU64::new(0),
            secrets,
        }
    }

    /// Replaces every configured secret in `text` by its mask.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (secret, masked) in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), masked);
            }
        }
        text
    }

    /// Writes one capture; returns its name for the call log.
    pub fn write(&self, doc: &serde_json::Value) -> Option<String> {
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{n}.json", file_stamp());
        let text = self.redact(&serde_json::to_string_pretty(doc).unwrap_or_default());
        let written = fs::create_dir_all(&self.dir).and_then(|()| {
            crate::util::fs::write_atomically(&self.dir.join(&name), text.as_bytes())
        });
        if let Err(e) = written {
            log::warn!("cannot write a capture in {}: {e}", self.dir.display());
            return None;
        }
        if n.is_multiple_of(PRUNE_EVERY) {
            self.prune();
        }
        Some(name)
    }

    /// A capture by the name the call log gave; `None` for anything that is not such a name.
    pub fn read(&self, name: &str) -> Option<Vec<u8>> {
        let valid = name.len() < 64
            && name.ends_with(".json")
            && name
                .trim_end_matches(".json")
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-');
        if !valid {
            return None;
        }
        fs::read(self.dir.join(name)).ok()
    }

    /// Deletes the oldest captures beyond the limits (names sort by time).
    pub fn prune(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        let oldest_day = stats_day()
            .checked_sub_days(chrono::Days::new(u64::from(self.max_days)))
            .map(day_name)
            .unwrap_or_default();
        let excess = names.len().saturating_sub(self.max_files);
        for (i, name) in names.iter().enumerate() {
            if i < excess || name[..8.min(name.len())] < *oldest_day {
                let _ = fs::remove_file(self.dir.join(name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn captures_are_redacted_bounded_and_read_back_by_name_only() {
        let dir = std::env::temp_dir().join(format!("orp-captures-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let key = "sk-or-v1-0123456789abcdef0123456789abcdef".to_string();
        let captures = Captures::new(dir.clone(), 5, 7, std::slice::from_ref(&key));
        let mut names = Vec::new();
        for i in 0..30 {
            names.push(
                captures
                    .write(&json!({"i": i, "auth": format!("Bearer {key}")}))
                    .unwrap(),
            );
        }
        captures.prune();
        let left = fs::read_dir(&dir).unwrap().count();
        assert_eq!(left, 5);
        let last = captures.read(names.last().unwrap()).unwrap();
        let text = String::from_utf8(last).unwrap();
        assert!(!text.contains(&key));
        assert!(text.contains("sk-or-v1-012…def"));
        assert!(captures.read("../key_usage.json").is_none());
        assert!(captures.read("..%2Fx.json").is_none());
    }
}
