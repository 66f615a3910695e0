//! Request/response captures, written in debug mode to `CACHE_DIR/captures/`, one JSON file per
//! chat call, and kept bounded: at most `CAPTURE_MAX_FILES` files, `CAPTURE_MAX_BYTES` bytes
//! in all and `CAPTURE_MAX_DAYS` days (the oldest go first), and at most [`MAX_BODY_BYTES`]
//! of any one body in a capture (the capture says how much was cut).
//!
//! Every capture passes through the redactor before it is written: any configured key is
//! replaced by its masked form wherever it appears. Captures are served only by a name the
//! proxy gave them, and only when the file is a regular file (never through a symlink).

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::util::clock::stats_day;
use crate::util::fs::{ensure_dir, read_regular, write_atomically};
use crate::util::secret::Redactor;
use crate::util::time_format::{day_name, file_stamp};

/// How often (in writes) old captures are pruned.
const PRUNE_EVERY: u64 = 20;
/// The most of one body (request, answer, stream text or events) a capture keeps.
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;
/// The largest capture file served.
const MAX_FILE_BYTES: u64 = 64 << 20;

pub struct Captures {
    dir: PathBuf,
    max_files: usize,
    max_days: u32,
    max_bytes: u64,
    /// Captures written since start; also makes names unique within a microsecond.
    written: AtomicU64,
    /// Bytes written since the last prune.
    unpruned: AtomicU64,
    redactor: Arc<Redactor>,
}

/// A body for a capture: parsed when it is JSON, text otherwise, and at most
/// [`MAX_BODY_BYTES`] of it (then with how much there was).
pub(crate) fn body_value(bytes: &[u8]) -> Value {
    if bytes.len() > MAX_BODY_BYTES {
        return json!({
            "truncated": true,
            "total_bytes": bytes.len(),
            "kept_bytes": MAX_BODY_BYTES,
            "text": String::from_utf8_lossy(&bytes[..MAX_BODY_BYTES]),
        });
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

impl Captures {
    pub fn new(
        dir: PathBuf,
        max_files: usize,
        max_days: u32,
        max_bytes: u64,
        redactor: Arc<Redactor>,
    ) -> Captures {
        Captures {
            dir,
            max_files,
            max_days,
            max_bytes,
            written: AtomicU64::new(0),
            unpruned: AtomicU64::new(0),
            redactor,
        }
    }

    /// Replaces every configured secret in `text` by its mask.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text).into_owned()
    }

    /// Writes one capture; returns its name for the call log.
    pub fn write(&self, doc: &Value) -> Option<String> {
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{n}.json", file_stamp());
        let text = self.redact(&serde_json::to_string_pretty(doc).unwrap_or_default());
        let written = ensure_dir(&self.dir)
            .and_then(|()| write_atomically(&self.dir.join(&name), text.as_bytes()));
        if let Err(e) = written {
            log::warn!("cannot write a capture in {}: {e}", self.dir.display());
            return None;
        }
        let unpruned = self
            .unpruned
            .fetch_add(text.len() as u64, Ordering::Relaxed)
            + text.len() as u64;
        if n.is_multiple_of(PRUNE_EVERY) || unpruned > self.max_bytes / 8 {
            self.prune();
        }
        Some(name)
    }

    /// A capture by the name the proxy gave it; `None` for anything that is not such a name,
    /// and for anything that is not a regular file.
    pub fn read(&self, name: &str) -> Option<Vec<u8>> {
        if !valid_name(name) {
            return None;
        }
        read_regular(&self.dir.join(name), MAX_FILE_BYTES)
    }

    /// Deletes the oldest captures beyond the limits (names sort by time). Anything in the
    /// folder that is not a capture is left alone.
    pub fn prune(&self) {
        self.unpruned.store(0, Ordering::Relaxed);
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(String, u64)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                let meta = e.metadata().ok()?;
                (valid_name(&name) && meta.is_file()).then_some((name, meta.len()))
            })
            .collect();
        files.sort();
        let oldest_day = stats_day()
            .checked_sub_days(chrono::Days::new(u64::from(self.max_days)))
            .map(day_name)
            .unwrap_or_default();
        let mut total: u64 = files.iter().map(|(_, size)| size).sum();
        let mut left = files.len();
        for (name, size) in &files {
            let too_old = name.get(..8).is_some_and(|day| day < oldest_day.as_str());
            if !(left > self.max_files || total > self.max_bytes || too_old) {
                continue;
            }
            if fs::remove_file(self.dir.join(name)).is_ok() {
                left -= 1;
                total -= size;
            }
        }
    }
}

/// Whether `name` is one the proxy gives captures: digits and dashes, then `.json`.
fn valid_name(name: &str) -> bool {
    name.len() < 64
        && name.strip_suffix(".json").is_some_and(|stem| {
            !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        })
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
        let redactor = Arc::new(Redactor::new([key.as_str()]));
        let captures = Captures::new(dir.clone(), 5, 7, 1 << 30, redactor);
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
        assert!(text.contains("sk-or-v1-012...def"));
        assert!(captures.read("../key_usage.json").is_none());
        assert!(captures.read("..%2Fx.json").is_none());
    }

    #[test]
    fn captures_are_bounded_by_bytes_and_bodies_by_size() {
        let dir = std::env::temp_dir().join(format!("orp-captures-bytes-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let captures = Captures::new(dir.clone(), 1000, 7, 300_000, Arc::default());
        for _ in 0..40 {
            captures.write(&json!({"pad": "x".repeat(50_000)})).unwrap();
        }
        captures.prune();
        let total: u64 = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(total <= 300_000, "{total}");
        let big = body_value(&vec![b'a'; MAX_BODY_BYTES + 10]);
        assert_eq!(big["truncated"], true);
        assert_eq!(big["total_bytes"], MAX_BODY_BYTES + 10);
        assert_eq!(big["text"].as_str().unwrap().len(), MAX_BODY_BYTES);
        assert_eq!(body_value(br#"{"a":1}"#)["a"], 1);
    }

    /// Issue 12: a symlink in the folder was served; a multibyte name panicked the prune.
    #[cfg(unix)]
    #[test]
    fn only_regular_captures_are_served_and_odd_names_are_left_alone() {
        let dir = std::env::temp_dir().join(format!("orp-captures-odd-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret.txt");
        fs::write(&secret, "not a capture").unwrap();
        std::os::unix::fs::symlink(&secret, dir.join("20260101-000000-000000-1.json")).unwrap();
        fs::write(dir.join("é漢字é.json"), "{}").unwrap();
        let captures = Captures::new(dir.clone(), 1, 7, 1 << 30, Arc::default());
        assert!(captures.read("20260101-000000-000000-1.json").is_none());
        captures.prune();
        assert!(dir.join("é漢字é.json").exists());
    }
}
